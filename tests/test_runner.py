"""tasks.runner: the protocol every task runs through, on a fake task (numpy arms, no model): per-seed data draws
shared by the arms of a seed, selection on validation only, figures recomputable from results.json, claim signs,
Holm families and mechanism checks."""
import json
import os

import numpy as np
import pytest

from tasks import experiment, runner, stats

N_TEST = 200
ACC = {'accuracy': lambda y, p: float(np.mean(np.asarray(y) == np.asarray(p)))}


def make_ctx(tmp_path, seeds=3, quick=True):
    args = experiment.parser('x', 'x').parse_args(['--output_dir', str(tmp_path), '--seeds', str(seeds)] +
                                                   (['--quick'] if quick else []))
    return experiment.start(args)


def fake_data(shuffle_test_labels=False):
    rng = np.random.RandomState(123)
    y_test = rng.randint(0, 2, N_TEST)  # fixed across seeds
    if shuffle_test_labels:
        y_test = np.random.RandomState(7).permutation(y_test)

    def data(seed):
        r = np.random.RandomState(seed)
        x_train, x_valid = r.randn(50), r.randn(40)
        return runner.Split((x_train, (x_train > 0).astype(int)), (x_valid, (x_valid > 0).astype(int)),
                            np.arange(N_TEST), y_test, info={'train': 50})
    return data, y_test


def skill_arm(skill, seen=None, salt=0):
    """Predicts the test label right with probability ``skill`` (from the task's fixed labels: a fake model);
    its validation score prefers ``knob`` = 2 whatever the test labels are."""
    _, y_test = fake_data()

    def run(data, seed, knob=0):
        if seen is not None:
            seen.append((seed, runner.fingerprint(data.train)))
        assert not hasattr(data, 'test_labels')
        r = np.random.RandomState(1000 * seed + knob + 100000 * salt)
        right = r.rand(N_TEST) < skill
        return {'predictions': np.where(right, y_test, 1 - y_test), 'valid': {'score': -abs(knob - 2) + 0.0}}
    return run


def test_arms_of_a_seed_see_the_same_data_and_seeds_redraw_it(tmp_path):
    seen = []
    data, _ = fake_data()
    results = runner.run(make_ctx(tmp_path), 'fake', data,
                         [runner.Arm('a', skill_arm(0.6, seen)), runner.Arm('b', skill_arm(0.7, seen))], ACC)
    by_seed = {}
    for seed, fp in seen:
        by_seed.setdefault(seed, set()).add(fp)
    assert all(len(fps) == 1 for fps in by_seed.values())      # one training set per seed, for every arm
    assert len({fp for fps in by_seed.values() for fp in fps}) == 3  # redrawn per seed
    tests = {r['seen']['test'] for s in results['seeds'] for r in s['results'].values()}
    assert len(tests) == 1                                     # the test set is fixed
    assert 'train and valid redrawn per seed; test fixed' in open(os.path.join(str(tmp_path), 'summary.md')).read()


def test_selection_reads_validation_only(tmp_path):
    chosen = []
    for shuffle in (False, True):
        data, _ = fake_data(shuffle_test_labels=shuffle)
        arm = runner.Arm('tuned', skill_arm(0.8), grid=[{'knob': k} for k in range(4)], select=('score', 'max'))
        results = runner.run(make_ctx(tmp_path / str(shuffle)), 'fake', data, [arm], ACC)
        chosen.append([s['results']['tuned']['chosen'] for s in results['seeds']])
        grid = results['seeds'][0]['results']['tuned']['grid']
        assert [g['params']['knob'] for g in grid] == [0, 1, 2, 3] and all('accuracy' in g['metrics'] for g in grid)
    assert chosen[0] == chosen[1] == [{'knob': 2}] * 3


def test_a_grid_needs_a_selection_rule():
    with pytest.raises(ValueError, match='select'):
        runner.Arm('x', lambda data, seed, k: None, grid=[{'k': 1}, {'k': 2}])


def test_an_arm_that_changes_the_training_data_is_refused(tmp_path):
    data, _ = fake_data()

    def vandal(data, seed):
        data.train[1][:] = 0
        return {'predictions': np.zeros(N_TEST)}
    with pytest.raises(RuntimeError, match='changed the training data'):
        runner.run(make_ctx(tmp_path), 'fake', data, [runner.Arm('vandal', vandal)], ACC)


def test_every_figure_is_recomputed_from_results_json(tmp_path):
    data, _ = fake_data()
    runner.run(make_ctx(tmp_path), 'fake', data, [runner.Arm('a', skill_arm(0.6)), runner.Arm('b', skill_arm(0.9))],
               ACC, [runner.Claim('x', 'b - a', 'accuracy', 'b', 'a')])
    stored = runner.load(os.path.join(str(tmp_path), 'results.json'))
    assert stored['format'] == 2 and len(stored['seeds']) == 3
    for s in stored['seeds']:
        for r in s['results'].values():
            assert ACC['accuracy'](stored['test_labels'], r['predictions']) == pytest.approx(r['metrics']['accuracy'])
    diffs = [s['results']['b']['metrics']['accuracy'] - s['results']['a']['metrics']['accuracy']
             for s in stored['seeds']]
    assert stored['claims'][0][2].startswith('%+.2f' % (100 * np.mean(diffs)))


def test_claim_sign_and_verdicts(tmp_path):
    data, _ = fake_data()
    arms = [runner.Arm('weak', skill_arm(0.55)), runner.Arm('strong', skill_arm(0.9)),
            runner.Arm('twin', skill_arm(0.55))]
    claims = [runner.Claim('up', 'strong - weak', 'accuracy', 'strong', 'weak'),
              runner.Claim('down', 'weak - strong', 'accuracy', 'weak', 'strong'),
              runner.Claim('same', 'weak - weak', 'accuracy', 'weak', 'weak'),
              runner.Claim('margin', 'weak - strong above -50 points', 'accuracy', 'weak', 'strong', threshold=-0.5),
              runner.Claim('free', 'strong - weak, no direction', 'accuracy', 'strong', 'weak', judge=False),
              runner.Claim('missing', 'x - weak', 'accuracy', 'x', 'weak')]
    rows = {r[0]: r for r in runner.run(make_ctx(tmp_path), 'fake', data, arms, ACC, claims)['claims']}
    assert rows['up'][3] == 'holds' and rows['up'][2].startswith('+')
    assert rows['down'][3] == 'does not hold' and rows['down'][2].startswith('-')
    assert rows['same'][3] == 'inconclusive at this scale'      # zero difference, zero spread: never "holds"
    assert rows['margin'][3] == 'holds'
    assert rows['free'][3] == 'reported'
    assert rows['missing'][3].startswith('not tested')


def test_holm_family_is_stricter_than_each_comparison_alone(tmp_path):
    """Eleven arms as good as the baseline (other random draws) and one much better, as one family of twelve: every
    Holm-adjusted p-value is at least the raw paired t p-value, the better arm holds, no equal arm is called a
    win."""
    data, _ = fake_data()
    arms = [runner.Arm('base', skill_arm(0.6))] + [runner.Arm('same%d' % i, skill_arm(0.6, salt=i + 1))
                                                   for i in range(11)]
    arms.append(runner.Arm('better', skill_arm(0.95)))
    claims = [runner.Claim('f', '%s - base' % a.name, 'accuracy', a.name, 'base', family='f') for a in arms[1:]]
    results = runner.run(make_ctx(tmp_path, seeds=4), 'fake', data, arms, ACC, claims)
    rows = results['claims']
    assert all('family f, 12 comparisons' in r[2] for r in rows)
    for arm, row in zip(arms[1:], rows):
        raw = stats.paired_t_p_value(runner.metric_values(results, arm.name, 'accuracy'),
                                     runner.metric_values(results, 'base', 'accuracy'))
        adjusted = float(row[2].split('Holm-adjusted p ')[1].split()[0])
        assert adjusted >= min(1.0, raw) * 0.999
    assert rows[-1][3] == 'holds'
    assert all(r[3] != 'holds' for r in rows[:-1])


def test_a_failing_mechanism_check_leaves_the_claim_untested(tmp_path):
    data, _ = fake_data()

    def inert(data, seed):
        out = skill_arm(0.9)(data, seed)
        out['check'] = {'moves': {'value': 0.0, 'passed': seed != 1, 'rule': 'norm change > 1%'}}
        return out
    rows = runner.run(make_ctx(tmp_path), 'fake', data, [runner.Arm('base', skill_arm(0.5)),
                                                          runner.Arm('regularised', inert)], ACC,
                      [runner.Claim('r', 'regularised - base', 'accuracy', 'regularised', 'base')])['claims']
    assert rows[0][3].startswith('not tested: regularised: moves failed in 1 of 3 seed(s)')
    summary = open(os.path.join(str(tmp_path), 'summary.md')).read()
    assert '| regularised | moves | norm change > 1% |' in summary


def test_views_are_selected_on_their_own_validation_metric(tmp_path):
    data, _ = fake_data()

    def two_views(data, seed, knob):
        out = skill_arm(0.7)(data, seed, knob)
        return {'views': {'late': dict(out, valid={'loss': knob}), 'early': dict(out, valid={'loss': -knob})}}
    arm = runner.Arm('m', two_views, grid=[{'knob': 1}, {'knob': 3}], select=('loss', 'min'))
    results = runner.run(make_ctx(tmp_path, seeds=1), 'fake', data, [arm], ACC)
    first = results['seeds'][0]['results']
    assert first['m/late']['chosen'] == {'knob': 1} and first['m/early']['chosen'] == {'knob': 3}


def test_hierarchical_bootstrap_with_several_item_sets():
    """Predictions holding two item sets of different sizes (e.g. prefixes and held-out sentences) are resampled
    per set; the interval covers the estimate."""
    rng = np.random.RandomState(0)
    a = [{'x': rng.rand(30), 'y': rng.rand(50) + 0.2} for _ in range(3)]
    b = [{'x': rng.rand(30), 'y': rng.rand(50)} for _ in range(3)]
    est, lo, hi = stats.hierarchical_bootstrap(lambda _, p: float(np.mean(p['y'])), [None] * 3, a, b, n=300)
    assert lo < est < hi and lo > 0


def test_results_json_is_plain_json(tmp_path):
    data, _ = fake_data()
    runner.run(make_ctx(tmp_path, seeds=1), 'fake', data, [runner.Arm('a', skill_arm(0.6))], ACC)
    with open(os.path.join(str(tmp_path), 'results.json')) as f:
        loaded = json.load(f)
    assert isinstance(loaded['seeds'][0]['results']['a']['predictions'], list)


def test_a_choice_at_the_edge_of_its_grid_is_marked(tmp_path):
    data, _ = fake_data()
    edge = runner.Arm('edge', skill_arm(0.7), grid=[{'knob': k} for k in (0, 1, 2)], select=('score', 'max'))
    inside = runner.Arm('inside', skill_arm(0.7), grid=[{'knob': k} for k in (1, 2, 3)], select=('score', 'max'))
    results = runner.run(make_ctx(tmp_path, seeds=1), 'fake', data, [edge, inside], ACC)
    first = results['seeds'][0]['results']
    assert first['edge']['chosen_at_edge'] and not first['inside']['chosen_at_edge']
    assert 'knob=2 (grid edge)' in open(os.path.join(str(tmp_path), 'summary.md')).read()


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    """--resume keeps the seeds an earlier session finished (they are not run again) and gives the same results as
    one uninterrupted run; a checkpoint written with other options is refused."""
    data, _ = fake_data()
    calls = []

    def arms(fail_at=None):
        def run(data_, seed, knob=0):
            if seed == fail_at:
                raise KeyboardInterrupt  # the session ended during this seed
            calls.append(seed)
            return skill_arm(0.7)(data_, seed, knob)
        return [runner.Arm('a', run, grid=[{'knob': k} for k in range(3)], select=('score', 'max')),
                runner.Arm('b', skill_arm(0.6))]

    claims = [runner.Claim('x', 'a beats b', 'accuracy', 'a', 'b')]
    whole = runner.run(make_ctx(tmp_path / 'whole'), 'fake', data, arms(), ACC, claims)
    with pytest.raises(KeyboardInterrupt):
        runner.run(make_ctx(tmp_path / 'cut'), 'fake', data, arms(fail_at=2), ACC, claims)
    assert os.path.exists(tmp_path / 'cut' / 'checkpoint.json')
    del calls[:]
    args = experiment.parser('x', 'x').parse_args(['--output_dir', str(tmp_path / 'cut'), '--seeds', '3',
                                                   '--quick', '--resume'])
    resumed = runner.run(experiment.start(args), 'fake', data, arms(), ACC, claims)
    assert sorted(set(calls)) == [2]                      # seeds 0 and 1 were not run again
    strip = lambda r: [{n: {k: v for k, v in rec.items() if k != 'seconds'} for n, rec in s['results'].items()}
                       for s in r['seeds']]
    assert json.loads(json.dumps(strip(resumed), default=float)) == json.loads(json.dumps(strip(whole), default=float))
    assert resumed['claims'] == whole['claims']
    assert len(resumed['sessions']) == 2 and resumed['sessions'][0]['seeds'] == [0, 1]
    other = experiment.parser('x', 'x').parse_args(['--output_dir', str(tmp_path / 'cut'), '--seeds', '3',
                                                    '--quick', '--resume', '--dropout', '0.3'])
    with pytest.raises(SystemExit, match='another args'):
        runner.run(experiment.start(other), 'fake', data, arms(), ACC, claims)


def test_a_seed_interrupted_between_grid_points_resumes_from_its_last_grid_point(tmp_path):
    """Within a seed, every finished grid point is kept: a session that ends during arm b of seed 1 leaves arm a's
    three grid points of that seed stored; --resume runs only what was left (b of seed 1, then seed 2) and gives
    the results of one uninterrupted run."""
    data, _ = fake_data()
    calls = []

    def arms(fail=None):
        def run_a(data_, seed, knob=0):
            calls.append(('a', seed, knob))
            return skill_arm(0.7)(data_, seed, knob)

        def run_b(data_, seed):
            if (seed, 'b') == fail:
                raise KeyboardInterrupt  # the session ended here
            calls.append(('b', seed, 0))
            return skill_arm(0.6)(data_, seed)
        return [runner.Arm('a', run_a, grid=[{'knob': k} for k in range(3)], select=('score', 'max')),
                runner.Arm('b', run_b)]

    claims = [runner.Claim('x', 'a beats b', 'accuracy', 'a', 'b')]
    whole = runner.run(make_ctx(tmp_path / 'whole'), 'fake', data, arms(), ACC, claims)
    with pytest.raises(KeyboardInterrupt):
        runner.run(make_ctx(tmp_path / 'cut'), 'fake', data, arms(fail=(1, 'b')), ACC, claims)
    with open(tmp_path / 'cut' / 'checkpoint.json') as f:
        saved = json.load(f)
    assert sorted(saved['seeds']) == ['0'] and len(saved['partial']['1']['points']) == 3
    del calls[:]
    args = experiment.parser('x', 'x').parse_args(['--output_dir', str(tmp_path / 'cut'), '--seeds', '3',
                                                   '--quick', '--resume'])
    resumed = runner.run(experiment.start(args), 'fake', data, arms(), ACC, claims)
    assert calls == [('b', 1, 0)] + [('a', 2, k) for k in range(3)] + [('b', 2, 0)]
    strip = lambda r: [{n: {k: v for k, v in rec.items() if k != 'seconds'} for n, rec in s['results'].items()}
                       for s in r['seeds']]
    assert json.loads(json.dumps(strip(resumed), default=float)) == json.loads(json.dumps(strip(whole), default=float))
    assert resumed['claims'] == whole['claims']
    with open(tmp_path / 'cut' / 'checkpoint.json') as f:
        assert json.load(f)['partial'] == {}  # a finished seed keeps its records, not its grid points


def test_seeds_run_in_parallel_processes_merge_into_one_run(tmp_path):
    """A full run split by seed over output directories (--seed_offset k --seeds n) merges into the first one's checkpoint;
    --resume there then runs nothing and gives the results of one uninterrupted run; a checkpoint written with
    other options, or one whose seeds are partly there already, is refused; merging the same one again changes
    nothing."""
    data, _ = fake_data()
    calls = []

    def arms():
        def run(data_, seed, knob=0):
            calls.append(seed)
            return skill_arm(0.7)(data_, seed, knob)
        return [runner.Arm('a', run, grid=[{'knob': k} for k in range(2)], select=('score', 'max')),
                runner.Arm('b', skill_arm(0.6))]

    def ctx(directory, *extra):
        return experiment.start(experiment.parser('x', 'x').parse_args(
            ['--output_dir', str(tmp_path / directory), '--quick'] + list(extra)))

    claims = [runner.Claim('x', 'a beats b', 'accuracy', 'a', 'b')]
    whole = runner.run(make_ctx(tmp_path / 'whole'), 'fake', data, arms(), ACC, claims)
    runner.run(ctx('first', '--seeds', '1'), 'fake', data, arms(), ACC, claims)
    runner.run(ctx('rest', '--seed_offset', '1', '--seeds', '2'), 'fake', data, arms(), ACC, claims)
    runner.run(ctx('other', '--seed_offset', '2', '--seeds', '1', '--dropout', '0.3'), 'fake', data, arms(), ACC,
               claims)
    runner.run(ctx('base', '--seed', '2', '--seeds', '1'), 'fake', data, arms(), ACC, claims)
    with pytest.raises(SystemExit, match='another args'):  # another base seed: the shared data may differ
        runner.merge_checkpoints(str(tmp_path / 'first'), [str(tmp_path / 'base')], log=lambda _: None)
    runner.run(ctx('solo', '--seeds', '1'), 'fake', data, arms(), ACC, claims)
    assert runner.merge_checkpoints(str(tmp_path / 'solo'), [str(tmp_path / 'base')], ignore=('seed',),
                                    log=lambda _: None) == [2]  # allowed when asked for
    with pytest.raises(SystemExit, match='another args'):
        runner.merge_checkpoints(str(tmp_path / 'first'), [str(tmp_path / 'other')], log=lambda _: None)
    assert runner.merge_checkpoints(str(tmp_path / 'first'), [str(tmp_path / 'rest')], log=lambda _: None) == [1, 2]
    assert runner.merge_checkpoints(str(tmp_path / 'first'), [str(tmp_path / 'rest')], log=lambda _: None) == []
    runner.run(ctx('overlap', '--seed_offset', '2', '--seeds', '2'), 'fake', data, arms(), ACC, claims)
    with pytest.raises(SystemExit, match='seed 2 is in both'):
        runner.merge_checkpoints(str(tmp_path / 'first'), [str(tmp_path / 'overlap')], log=lambda _: None)
    del calls[:]
    merged = runner.run(ctx('first', '--seeds', '3', '--resume'), 'fake', data, arms(), ACC, claims)
    assert calls == []                                    # every seed came from a checkpoint
    strip = lambda r: [{n: {k: v for k, v in rec.items() if k != 'seconds'} for n, rec in s['results'].items()}
                       for s in r['seeds']]
    assert json.loads(json.dumps(strip(merged), default=float)) == json.loads(json.dumps(strip(whole), default=float))
    assert merged['claims'] == whole['claims']
    assert [s.get('merged_from') for s in merged['sessions']] == [None, 'rest', None]


def test_merge_command_line_names_a_missing_checkpoint(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-m', 'tasks.runner', 'merge', str(tmp_path), str(tmp_path / 'nowhere')],
                         capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode != 0 and 'has no checkpoint.json' in out.stderr
