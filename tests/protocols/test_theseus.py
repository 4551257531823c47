"""tasks.theseus through tasks.runner on a tiny checkpoint: the protocol checks of tests/protocols."""
from tests.protocols import check_protocol


def test_protocol(tiny_dir, tmp_path, monkeypatch):
    check_protocol('theseus', tiny_dir, tmp_path, monkeypatch)
