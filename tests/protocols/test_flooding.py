"""tasks.flooding through tasks.runner on a tiny checkpoint: the protocol checks of tests/protocols."""
from tests.protocols import check_protocol, check_selection_blind_to_test_labels


def test_protocol(tiny_dir, tmp_path, monkeypatch):
    check_protocol('flooding', tiny_dir, tmp_path, monkeypatch)


def test_selection_never_reads_the_test_labels(tiny_dir, tmp_path, monkeypatch):
    check_selection_blind_to_test_labels('flooding', tiny_dir, tmp_path, monkeypatch)
