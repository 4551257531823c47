import numpy as np
import pytest

from tasks import stats


def test_mean_ci_matches_the_t_interval():
    m, s, lo, hi = stats.mean_ci([1.0, 2.0, 3.0])
    assert (m, s) == (2.0, 1.0)
    assert hi - m == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)  # t(0.975, df=2)
    assert np.isnan(stats.mean_ci([5.0])[2])


def test_paired_ci_and_verdicts():
    a, b = [0.80, 0.82, 0.81], [0.70, 0.71, 0.72]
    m, _, lo, hi = stats.paired_ci(a, b)
    assert m == pytest.approx(0.1) and stats.verdict(lo, hi) == 'holds'
    assert stats.verdict(-0.2, -0.1) == 'does not hold' and stats.verdict(-0.1, 0.1) == 'inconclusive at this scale'
    with pytest.raises(ValueError, match='same seeds'):
        stats.paired_ci([1, 2], [1, 2, 3])


def test_bootstrap_ci_covers_the_estimate():
    rng = np.random.RandomState(0)
    correct = rng.random_sample(2000) < 0.8
    est, lo, hi = stats.bootstrap_ci(correct)
    assert lo < est < hi and hi - lo < 0.05 and abs(est - 0.8) < 0.03
    est, lo, hi = stats.bootstrap_ci(correct, correct)
    assert est == lo == hi == 0.0


def test_claim_rows():
    row = stats.claim_row('6b', 'acc', [0.80, 0.81, 0.82], [0.80, 0.81, 0.821], threshold=-0.01)
    assert row[0] == '6b' and row[3] == 'holds' and row[2].startswith('-0.03 [')
    assert stats.claim_row('x', 'acc', [0.5], [0.4])[3] == 'inconclusive at this scale'
    assert stats.claim_row('x', 'acc', [0.5, 0.6], [0.4, 0.4], judge=False)[3] == 'reported'


def test_bootstrap_of_a_metric_difference_over_items():
    rng = np.random.RandomState(1)
    y = rng.randint(0, 2, 1000)
    good = np.where(rng.random_sample(1000) < 0.9, y, 1 - y)  # 90% right
    bad = np.where(rng.random_sample(1000) < 0.7, y, 1 - y)   # 70% right

    def accuracy(t, p):
        return float(np.mean(t == p))

    est, lo, hi = stats.bootstrap_metric(accuracy, y, good, bad, n=500)
    assert lo < est < hi and 0.15 < est < 0.25 and lo > 0.1
    est, lo, hi = stats.bootstrap_metric(accuracy, y, good, good, n=50)
    assert est == lo == hi == 0.0
    row = stats.claim_row('3a', 'acc', [0.9, 0.91, 0.92], [0.7, 0.72, 0.71], items=(accuracy, y, good, bad))
    assert row[3] == 'holds' and '; first seed, bootstrap over 1000 items [+' in row[2]
