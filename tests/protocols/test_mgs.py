"""tasks.mgs through tasks.runner on a tiny checkpoint: the protocol checks of tests/protocols."""
from tests.protocols import check_protocol


def test_protocol(tiny_dir, tmp_path, monkeypatch):
    check_protocol('mgs', tiny_dir, tmp_path, monkeypatch)
