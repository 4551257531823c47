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


def test_zero_spread_difference_is_not_called_holds_without_an_item_interval():
    """claim_row(..., [0.801]*3, [0.800]*3) gave '+0.10 [+0.10, +0.10], holds'."""
    row = stats.claim_row('x', 'a - b', [0.801] * 3, [0.800] * 3)
    assert row[3] == 'inconclusive at this scale' and 'no spread across seeds' in row[2]
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 400)
    same = y.copy()
    near = y.copy()
    near[:2] = 1 - near[:2]                        # 2 of 400 items differ: the item interval spans 0
    row = stats.claim_row('x', 'a - b', [0.801] * 3, [0.800] * 3, items=(stats_accuracy, y, same, near))
    assert row[3] == 'inconclusive at this scale'
    worse = y.copy()
    worse[:100] = 1 - worse[:100]                  # a clear item-level difference: both intervals agree
    row = stats.claim_row('x', 'a - b', [1.0] * 3, [0.75] * 3, items=(stats_accuracy, y, same, worse))
    assert row[3] == 'holds'


def stats_accuracy(y, pred):
    return float(np.mean(np.asarray(y) == np.asarray(pred)))


def test_wilson_interval_known_values_and_bounds():
    p, lo, hi = stats.wilson_interval(0, 10)
    assert p == 0 and lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    p, lo, hi = stats.wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    for k in range(0, 21):
        _, lo, hi = stats.wilson_interval(k, 20)
        assert 0 <= lo <= k / 20 <= hi <= 1
    with pytest.raises(ValueError, match='successes must be in'):
        stats.wilson_interval(3, 2)


def test_holm_step_down():
    out = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert [a for a, _ in out] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [r for _, r in out] == [True, False, False, True]
    assert stats.paired_t_p_value([1, 2, 3], [1, 2, 3]) == 1.0
    assert stats.paired_t_p_value([0.5, 0.7, 0.6], [0.1, 0.2, 0.15]) < 0.05


def test_hierarchical_bootstrap_covers_seeds_and_items():
    rng = np.random.RandomState(1)
    ys = [rng.randint(0, 2, 300) for _ in range(3)]
    a = [y.copy() for y in ys]
    est, lo, hi = stats.hierarchical_bootstrap(stats_accuracy, ys, a, a, n=200)
    assert est == lo == hi == 0.0                  # identical arms: no difference in any replicate
    b = []
    for y, s in zip(ys, (30, 90, 150)):            # seeds disagree a lot: the interval must be wider than items
        p = y.copy()
        p[:s] = 1 - p[:s]
        b.append(p)
    est, lo, hi = stats.hierarchical_bootstrap(stats_accuracy, ys, a, b, n=400)
    assert est == pytest.approx(np.mean([0.1, 0.3, 0.5]))
    assert lo < est < hi and hi - lo > 0.2
    _, ilo, ihi = stats.bootstrap_metric(stats_accuracy, ys[1], a[1], b[1], n=400)
    assert (hi - lo) > 2 * (ihi - ilo)             # one seed's item interval alone is far narrower


def test_sequential_rule_extends_only_a_straddling_interval_that_ten_seeds_would_narrow_enough():
    """docs/claims.md's rule: mean 0.2, s 0.203 over 5 seeds straddles 0 ([-0.05, +0.45]) and a 10-seed half-width
    t(0.975, 9) s / sqrt(10) = 0.145 < 0.2 would decide it; a mean of 0.07 with s 0.32 would not (0.227); an
    interval that already excludes the threshold is not extended; nor is one seed."""
    from tasks.stats import more_seeds_would_decide, t_quantile
    straddles, decide, half = more_seeds_would_decide([0.45, 0.0, 0.2, 0.35, 0.0], [0.0] * 5)
    assert straddles and decide
    assert half == pytest.approx(t_quantile(9) * np.std([0.45, 0.0, 0.2, 0.35, 0.0], ddof=1) / np.sqrt(10))
    assert more_seeds_would_decide([0.30, -0.10, 0.45, -0.35, 0.05], [0.0] * 5)[:2] == (True, False)
    assert more_seeds_would_decide([0.30, 0.10, 0.45, 0.05, 0.25], [0.0] * 5)[:2] == (False, False)
    assert more_seeds_would_decide([0.1, 0.12, 0.11], [0.0] * 3, threshold=0.5)[:2] == (False, False)  # below it
    assert more_seeds_would_decide([0.3], [0.0])[:2] == (False, False)
