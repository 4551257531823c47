"""Under MirroredStrategy (2 logical CPUs), one training step equals one device on the same global batch: for
``Flooded`` (a loss function and a ``tf.keras.losses.Loss`` object; at b = 0, above the loss, and between the two
replicas' means, where only the global mean gives the right sign), ``FloodingModel``, the Theseus model and MGS.
All checks run in one fresh process (tests/strategy_checks.py): the logical devices must be set before TensorFlow
touches a device."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def checks():
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'strategy_checks.py')], capture_output=True,
                       text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
    return {row['check']: row for row in rows}


@pytest.mark.parametrize('name', ['flooded_fn_b0', 'flooded_object_b0', 'flooded_object_ascent',
                                  'flooded_object_b_between', 'flooding_model', 'flooding_fit',
                                  'gradient_penalty_fit', 'theseus', 'mgs', 'task_fine_tune'])
def test_one_step_under_mirrored_equals_one_device(checks, name):
    row = checks[name]
    assert row['replicas'] == 2
    assert row['moved'] > 1e-3                       # the step did something
    assert row['max_weight_diff'] < 1e-5 * max(1.0, row['moved'] * 10)
    assert row['loss'][0] == pytest.approx(row['loss'][1], rel=1e-5, abs=1e-6)


def test_the_between_case_is_between(checks):
    """The flood level of 'flooded_object_b_between' lies between the replicas' means and below the global mean:
    a per-replica flood would ascend on one replica."""
    row = checks['flood_level_between']
    low, high = sorted(row['halves'])
    assert low < row['b'] < (low + high) / 2


def test_flooding_fit_ascends_on_both_and_the_penalty_acts(checks):
    flood = checks['flooding_fit_ascent']['ascent']
    assert flood[0] == flood[1] and max(flood[1]) > 0          # the same ascent steps, and some happen
    plain = np.array(checks['no_penalty_fit_ascent']['kernel'])
    penalised = np.array(checks['gradient_penalty_fit_ascent']['kernel'])
    assert np.abs(plain - penalised).max() > 1e-3              # the penalty does change the weights


def test_strategy_flag_puts_a_task_inside_the_scope(checks):
    """`--strategy mirrored` built a strategy no task entered (plain ResourceVariables, has_strategy() False)."""
    row = checks['task_scope']
    assert row['variable_types'][0] == 'MirroredVariable' and row['variable_types'][1] != 'MirroredVariable'
    assert row['strategy'] == {'name': 'mirrored', 'replicas': 2, 'in_scope': True}
    assert row['in_scope_after'] is False              # the run left the scope when it wrote its report
