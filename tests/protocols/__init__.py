"""The protocol checks of every task run through tasks.runner, end to end on a tiny random checkpoint (seconds
each), two seeds (one test file per task, so that the suite's two workers share them):

* :func:`check_protocol` — results.json holds per-seed, per-item values from which every figure is recomputed; the
  arms compared within a seed saw the same training data and each seed drew its own, on one fixed test set; each
  claim compares the arms docs/claims.md names, in its order;
* :func:`check_selection_blind_to_test_labels` — run again with the test labels shuffled: every choice and every
  prediction stays (the run is reproducible from its seed, and no arm's choice depends on the test labels).

Article 5's pipeline has its own end-to-end test (tests/test_tasks.py)."""
import importlib
import os
import re

import numpy as np
import pytest

from tasks import runner
from tests.test_tasks import checkpoint_args

TINY_ARGS = {
    # one decoder of each kind the claims compare (greedy, beam, a standard and a consistent sampler): each
    # decoder of each model is one more traced loop, and the others are unit-tested in tests/decoding
    'nontermination': ['--prefixes', '8', '--train_steps', '2', '--max_steps', '10', '--max_chars', '20',
                       '--archs', 'lstm', '--decoders', 'greedy', 'beam-2', 'top-k 2', 'consistent top-k 2'],
    'mgs': ['--majority', '30', '--test_size', '10', '--maxlen', '16', '--lm_steps', '2', '--prefixes', '4',
            '--decode_len', '6'],
    'theseus': ['--train_size', '40', '--test_size', '30', '--maxlen', '16'],
    'logit_adjustment': ['--head', '30', '--ratio', '10', '--per_class_test', '4', '--per_class_valid', '3',
                         '--maxlen', '24'],
    'flooding': ['--train_size', '24', '--test_size', '30', '--epochs', '2', '--flood_levels', '0.3', '0.9',
                 '--maxlen', '16'],
    # the char-CNN setting only: the BERT setting's penalty and attack are unit-tested (tests/regularizers,
    # tests/test_robustness.py); here the protocol is what is checked
    'weissi': ['--settings', 'cnn', '--train_sizes', '60', '30', '--test_size', '30', '--maxlen', '16',
               '--optimizers', 'adam', 'sgdm'],
    'imbalance_losses': ['--majority', '30', '--test_size', '30', '--maxlen', '16', '--losses', 'cross_entropy',
                         'f1_weighted_ce', 'smooth_accuracy', 'focal'],
}

# (metric, better, worse) of each claim as docs/claims.md states it ("quantity and comparison"), as patterns on the
# result names the tasks give their arms
SIGNS = {
    '1b': ('r_L', r'softmax/(top-k|nucleus) ', r'softmax/consistent (top-k|nucleus) '),
    '1d': ('perplexity', r'self-terminating', r'softmax'),
    '2a': (r'macro_f1|task_loss', r'^\(a\) MGS( \+ MLE)?$|^\(b\) MLE$', r'^\(a\) MLE$|^\(b\) MGS( \+ MLE)?$'),
    '3a': ('accuracy', r'^Theseus', r'^(direct fine-tune|distillation)'),
    '3b': ('accuracy', r'^Theseus', r'^(direct fine-tune|distillation)'),
    '4a': ('balanced_acc', r'^LA loss \(τ=1\)$', r'^ERM \(plain CE\)$'),
    '4b': ('balanced_acc', r'^ERM \+ post-hoc \(τ on valid\)$', r'^ERM \(plain CE\)$'),
    '4c': ('balanced_acc', r'^LA loss \(τ=1\)$', r'^LA loss \(τ on valid\)$'),
    '6a': ('loss', r'^none/', r'^flooded/'),
    '6b': ('accuracy', r'^flooded/', r'^none/'),
    '6c': ('accuracy', r'^gradient penalty/', r'^flooded/'),
    '7a': ('acc', r' WEISSI$', r' L2$'),
    '7b': (r'fgsm ', r' WEISSI$', r' L2$'),
    '7c': ('acc', r' WEISSI$', r' AdamW$'),
    '8a': ('f1', r' f1_weighted_ce$', r' cross_entropy$'),
    '8b': ('f1', r' cross_entropy$', r' smooth_accuracy$'),
    '8c': ('f1', r' (weighted_ce|focal|ghm|logit_adjusted|soft_f1|threshold)$', r' cross_entropy$'),
}


# tasks whose tiny models predict one class / one token sequence whatever the seed: their seeds differ in the data
# they drew (checked by fingerprint), not in their predictions
CONSTANT_ON_TINY = {'mgs'}
RUNS = {}  # name -> (results, runner arguments) of the protocol run, re-used by the shuffled-label comparison


def run_task(name, tiny_dir, out, monkeypatch, wrap_data=None):
    """Run the task's main on its tiny configuration; returns (results, the arguments it gave runner.run)."""
    seen = {}
    real = runner.run

    def spy(ctx, title, data, arms, metrics, claims=(), **kwargs):
        if wrap_data is not None:
            data = wrap_data(data)
        seen.update(arms=arms, metrics=metrics, claims=list(claims))
        return real(ctx, title, data, arms, metrics, claims, **kwargs)
    monkeypatch.setattr(runner, 'run', spy)
    module = importlib.import_module('tasks.' + name)
    results = module.main(['--quick', '--seeds', '2', '--output_dir', str(out)] + TINY_ARGS[name] +
                          checkpoint_args(tiny_dir))
    return results, seen


def check_protocol(name, tiny_dir, tmp_path, monkeypatch):
    """Run task ``name`` on its tiny configuration and check the protocol (module docstring)."""
    results, seen = RUNS[name] = run_task(name, tiny_dir, tmp_path / name, monkeypatch)
    assert results['format'] == 2 and [s['seed'] for s in results['seeds']] == [0, 1]
    assert os.path.isfile(str(tmp_path / name / 'summary.md'))
    stored = runner.load(str(tmp_path / name / 'results.json'))
    arms = {a.name: a for a in seen['arms']}
    # every figure from the file alone: metrics recomputed from the stored predictions and test labels
    for s in stored['seeds']:
        for result, r in s['results'].items():
            arm = arms[result.split('/')[0]]
            labels = stored['test_labels'] if arm.part is None else stored['test_labels'][arm.part]
            for metric, fn in (arm.metrics or seen['metrics']).items():
                value = fn(labels, r['predictions'])
                assert value == pytest.approx(r['metrics'][metric], abs=1e-4, nan_ok=True), (result, metric)
    # the arms of a seed saw one training set; the seeds drew different ones
    per_seed = [{r['seen']['train'] for r in s['results'].values()} for s in stored['seeds']]
    assert all(len(fps) == 1 for fps in per_seed)
    assert per_seed[0] != per_seed[1]
    if name not in CONSTANT_ON_TINY:
        first = stored['seeds'][0]['results']
        assert any(first[n]['predictions'] != r['predictions'] for n, r in stored['seeds'][1]['results'].items())
    assert len({r['seen']['test'] for s in stored['seeds'] for r in s['results'].values()}) == 1
    # each claim compares what docs/claims.md says, in its order
    for claim in seen['claims']:
        if isinstance(claim, runner.CustomClaim):
            continue
        metric, better, worse = SIGNS[claim.id]
        assert re.search(metric, claim.metric), (claim.id, claim.metric)
        assert re.search(better, claim.better) and re.search(worse, claim.worse), (claim.id, claim.better,
                                                                                   claim.worse)
    assert {row[0] for row in stored['claims']} >= {c.id for c in seen['claims']}


def shuffle_test_labels(data):
    def shuffled(seed):
        split = data(seed)
        split.test_labels = np.random.RandomState(99).permutation(np.asarray(split.test_labels))
        return split
    return shuffled


def check_selection_blind_to_test_labels(name, tiny_dir, tmp_path, monkeypatch):
    """For a task whose arms choose a hyper-parameter on validation: run again from the same seeds with the test
    labels shuffled; every choice of every seed and every per-item prediction must be the same."""
    if name not in RUNS:
        RUNS[name] = run_task(name, tiny_dir, tmp_path / 'plain', monkeypatch)
    plain = RUNS[name][0]
    shuffled, _ = run_task(name, tiny_dir, tmp_path / 'shuffled', monkeypatch, wrap_data=shuffle_test_labels)

    def choices(results):
        return [{n: (r['chosen'], r['predictions']) for n, r in s['results'].items()} for s in results['seeds']]
    assert choices(plain) == choices(shuffled)
    assert any(r['chosen'] for s in plain['seeds'] for r in s['results'].values())  # something was chosen
    assert plain['test_labels'] != shuffled['test_labels']
    if name == 'flooding':
        assert os.path.getsize(str(tmp_path / 'shuffled' / 'loss_curves.png')) > 1000
