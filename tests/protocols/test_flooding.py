"""tasks.flooding through tasks.runner on a tiny checkpoint: the protocol checks of tests/protocols."""
from tests.protocols import check_protocol, check_selection_blind_to_test_labels


def test_protocol(tiny_dir, tmp_path, monkeypatch):
    check_protocol('flooding', tiny_dir, tmp_path, monkeypatch)


def test_selection_never_reads_the_test_labels(tiny_dir, tmp_path, monkeypatch):
    check_selection_blind_to_test_labels('flooding', tiny_dir, tmp_path, monkeypatch)


def test_weight_decay_flag_reaches_the_w_arms(tiny_dir, tmp_path, monkeypatch):
    """--weight_decay sets the decay of both W arms (and only theirs) and is recorded in the config."""
    from tasks import flooding, runner
    from tests.test_tasks import checkpoint_args
    made, seen = [], {}
    real = flooding.flooding_arm
    monkeypatch.setattr(flooding, 'flooding_arm', lambda *a, **kw: made.append(kw.get('weight_decay', 0.0))
                        or real(*a, **kw))
    monkeypatch.setattr(runner, 'run', lambda ctx, title, data, arms, *a, **kw: seen.update(
        arms=[arm.name for arm in arms], config=kw['config']))
    flooding.main(['--weight_decay_arm', '--weight_decay', '0.3', '--maxlen', '16', '--output_dir', str(tmp_path)] +
                  checkpoint_args(tiny_dir))
    assert seen['arms'][-2:] == ['AdamW', 'AdamW flooded'] and made == [0.0, 0.0, 0.0, 0.3, 0.3]
    assert seen['config']['weight_decay'] == 0.3
