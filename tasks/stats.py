"""Statistics for experiment reports: mean ± std over seeds, 95% confidence intervals, paired differences.

* :func:`paired_ci` — the paired Student-t interval over seeds;
* :func:`hierarchical_bootstrap` — resample seeds, then test items within each seed (the same resample for both
  arms of a comparison): an interval that covers both the training noise and the test-set draw;
* :func:`wilson_interval` — binomial interval of a proportion (e.g. a non-termination ratio r_L), instead of a t
  interval over seeds, which leaves [0, 1] for small counts;
* :func:`holm` — Holm's step-down correction for a family of comparisons;
* :func:`more_seeds_would_decide` — docs/claims.md's sequential rule: whether a straddling 5-seed interval would
  be narrow enough at 10 seeds, if the observed difference and spread are real;
* :func:`claim_row` — one claim's verdict by the rules of docs/claims.md ("Decision rules, v2"): a difference
  with no spread across seeds is not called "holds" unless its item-level interval also excludes the threshold.

Experiment code (not part of the library): task scripts and benchmarks report with these.
"""
import numpy as np


def t_quantile(df, level=0.95):
    from scipy import stats
    return float(stats.t.ppf(0.5 + level / 2, df))


def mean_ci(values, level=0.95):
    """``(mean, std, low, high)``: Student-t interval of the mean over independent runs (seeds)."""
    v = np.asarray(values, dtype='float64')
    m = float(v.mean())
    if len(v) < 2:
        return m, 0.0, float('nan'), float('nan')
    s = float(v.std(ddof=1))
    half = t_quantile(len(v) - 1, level) * s / np.sqrt(len(v))
    return m, s, m - half, m + half


def paired_ci(a, b, level=0.95):
    """Interval of the mean of ``a - b`` over seeds shared by both arms: ``(mean, std, low, high)``."""
    a, b = np.asarray(a, dtype='float64'), np.asarray(b, dtype='float64')
    if a.shape != b.shape:
        raise ValueError('paired arms need the same seeds: %s vs %s values' % (a.shape, b.shape))
    return mean_ci(a - b, level)


def more_seeds_would_decide(a, b, threshold=0.0, then=10, level=0.95):
    """docs/claims.md's sequential rule (fixed before the v2 runs): when the paired interval of ``a - b`` over the
    seeds run so far straddles ``threshold``, would ``then`` seeds with the observed standard deviation s give a
    half-width t(level, then - 1) * s / sqrt(then) below |mean - threshold|?

    Args:
        a, b: one value per seed of the two arms (paired). threshold: the claim's threshold. then: seeds after the
            extension. level: the interval's level.

    Returns:
        ``(straddles, would_decide, half_width_then)``; ``would_decide`` is False when the interval does not
        straddle (the verdict stands) or there are fewer than 2 seeds.

    Example::

        more_seeds_would_decide([0.45, 0.0, 0.2, 0.35, 0.0], [0.0] * 5)   # (True, True, 0.145...)
    """
    m, sd, lo, hi = paired_ci(a, b, level)
    if np.isnan(lo):
        return False, False, float('nan')
    straddles = bool(lo <= threshold <= hi)
    half = t_quantile(then - 1, level) * sd / np.sqrt(then)
    return straddles, bool(straddles and half < abs(m - threshold)), float(half)


def bootstrap_ci(correct_a, correct_b=None, n=2000, seed=0, level=0.95):
    """Percentile bootstrap over test items of the accuracy (or, with ``correct_b``, of the accuracy difference
    on the same items): ``(estimate, low, high)``."""
    a = np.asarray(correct_a, dtype='float64')
    d = a if correct_b is None else a - np.asarray(correct_b, dtype='float64')
    rng = np.random.RandomState(seed)
    means = d[rng.randint(0, len(d), size=(n, len(d)))].mean(1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(d.mean()), float(lo), float(hi)


def bootstrap_metric(metric, y, pred_a, pred_b, n=2000, seed=0, level=0.95):
    """Percentile bootstrap over test items of ``metric(y, pred_a) - metric(y, pred_b)`` (items resampled jointly,
    e.g. a minority-class F1): ``(estimate, low, high)``."""
    y, pred_a, pred_b = np.asarray(y), np.asarray(pred_a), np.asarray(pred_b)
    rng = np.random.RandomState(seed)
    diffs = []
    for _ in range(n):
        idx = rng.randint(0, len(y), size=len(y))
        diffs.append(metric(y[idx], pred_a[idx]) - metric(y[idx], pred_b[idx]))
    lo, hi = np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)])
    return float(metric(y, pred_a) - metric(y, pred_b)), float(lo), float(hi)


def hierarchical_bootstrap(metric, y, pred_a, pred_b, n=2000, seed=0, level=0.95):
    """Two-level percentile bootstrap of ``mean over seeds of metric(y_s, a_s) - metric(y_s, b_s)``.

    Args:
        metric: ``metric(y, pred) -> float`` (e.g. accuracy, a minority-class F1).
        y, pred_a, pred_b: per-seed lists (``y[s]`` the test labels seed ``s`` was scored on, which may differ
            between seeds when the test set is resampled, or None for a metric of the predictions alone;
            ``pred_a[s]``, ``pred_b[s]`` the two arms' predictions on those items: arrays, or dicts of per-item
            arrays — of one length, resampled together, or of several item sets, each resampled on its own, with
            ``y[s]`` then a dict too).
        n: bootstrap replicates. seed: of the resampling. level: of the interval.

    Returns:
        ``(estimate, low, high)``: each replicate draws seeds with replacement, then, within each drawn seed, items
        with replacement (the same items for both arms, so the comparison stays paired).
    """
    if not (len(y) == len(pred_a) == len(pred_b)) or not y:
        raise ValueError('need one label array and one prediction array per arm for every seed')
    estimate = float(np.mean([metric(t, a) - metric(t, b) for t, a, b in zip(y, pred_a, pred_b)]))
    rng = np.random.RandomState(seed)
    k = len(y)
    diffs = np.empty(n)
    for r in range(n):
        total = 0.0
        for s in rng.randint(0, k, size=k):
            idx = _draw(pred_a[s], rng)
            labels = _resample(y[s], idx)
            total += metric(labels, _resample(pred_a[s], idx)) - metric(labels, _resample(pred_b[s], idx))
        diffs[r] = total / k
    lo, hi = np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)])
    return estimate, float(lo), float(hi)


def _draw(obj, rng):
    """Item indices for one bootstrap draw of predictions ``obj``: one index array (a dict of per-item arrays of
    one length shares it), or, for a dict whose arrays have different lengths (different item sets), one per key."""
    if isinstance(obj, dict):
        lengths = {len(v) for v in obj.values()}
        if len(lengths) != 1:
            return {k: _draw(v, rng) for k, v in obj.items()}
        size = lengths.pop()
    else:
        size = len(obj)
    return rng.randint(0, size, size=size)


def _resample(obj, idx):
    if obj is None:
        return None
    if isinstance(obj, dict):
        return {k: _resample(v, idx[k] if isinstance(idx, dict) else idx) for k, v in obj.items()}
    if isinstance(idx, dict):
        raise ValueError('predictions with several item sets need labels given per item set (a dict)')
    return np.asarray(obj)[idx]


def wilson_interval(successes, trials, level=0.95):
    """Wilson score interval of a binomial proportion: ``(estimate, low, high)``, inside [0, 1] for any count
    (``trials = 0`` gives ``(nan, 0, 1)``)."""
    from scipy import stats
    k, n = float(successes), float(trials)
    if n <= 0:
        return float('nan'), 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError('successes must be in [0, trials], got %r of %r' % (successes, trials))
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, float(max(0.0, centre - half)), float(min(1.0, centre + half))


def paired_t_p_value(a, b, threshold=0.0):
    """Two-sided p-value of the paired t test of ``mean(a - b) = threshold`` over seeds (nan with < 2 seeds;
    0 or 1 when the differences have no spread)."""
    from scipy import stats
    d = np.asarray(a, dtype='float64') - np.asarray(b, dtype='float64') - threshold
    if len(d) < 2:
        return float('nan')
    s = d.std(ddof=1)
    if s == 0:
        return 0.0 if d.mean() != 0 else 1.0
    t = d.mean() / (s / np.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def holm(p_values, alpha=0.05):
    """Holm's step-down procedure: ``[(adjusted p, rejected)]`` in the input order. The family-wise error rate of
    the rejections is at most ``alpha``."""
    p = np.asarray(p_values, dtype='float64')
    m = len(p)
    order = np.argsort(p, kind='stable')
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [(float(a), bool(a <= alpha)) for a in adjusted]


def fmt_ci(values, scale=100.0, digits=1):
    """``'mean ± std [low, high]'`` (scaled, e.g. to percent)."""
    m, s, lo, hi = mean_ci(values)
    if np.isnan(lo):
        return '%.*f' % (digits, m * scale)
    return '%.*f ± %.*f [%.*f, %.*f]' % (digits, m * scale, digits, s * scale, digits, lo * scale, digits, hi * scale)


def verdict(low, high, threshold=0.0):
    """'holds' when the whole interval is above ``threshold``, 'does not hold' when it is below, else
    'inconclusive at this scale'."""
    if low > threshold:
        return 'holds'
    if high < threshold:
        return 'does not hold'
    return 'inconclusive at this scale'


def claim_row(claim_id, text, better, worse, threshold=0.0, scale=100.0, unit='points', judge=True, items=None):
    """A row of a claims table: the paired difference ``better - worse`` over seeds (mean [95% CI]) and the verdict
    of docs/claims.md's rule (holds when the interval is above ``threshold``; ``judge=False``: 'reported', for a
    comparison without a claimed direction). Values are scaled (to points). ``items``: ``(metric, y, pred_better,
    pred_worse)`` of the first seed's test items: adds that seed's bootstrap interval over items (reported beside
    the verdict, which stays the seeds' rule).

    A difference with zero spread across seeds (e.g. the same value at every seed) has a degenerate t interval;
    it is called 'holds' / 'does not hold' only when the item-level interval also excludes the threshold (without
    one, 'inconclusive at this scale')."""
    m, s, lo, hi = paired_ci(better, worse)
    item_interval = None
    if items is not None:
        _, b_lo, b_hi = bootstrap_metric(*items)
        item_interval = (b_lo, b_hi)
    if np.isnan(lo):
        ci, decision = '%+.2f (1 seed: no interval)' % (m * scale), 'inconclusive at this scale'
    else:
        ci, decision = '%+.2f [%+.2f, %+.2f]' % (m * scale, lo * scale, hi * scale), verdict(lo, hi, threshold)
        if s == 0:
            decision = ('inconclusive at this scale' if item_interval is None
                        else _agree(decision, verdict(item_interval[0], item_interval[1], threshold)))
            ci += ' (no spread across seeds)'
    if not judge:
        decision = 'reported'
    text_ci = '%s %s' % (ci, unit)
    if item_interval is not None:
        text_ci += '; first seed, bootstrap over %d items [%+.2f, %+.2f]' % (len(items[1]), item_interval[0] * scale,
                                                                           item_interval[1] * scale)
    return [claim_id, text, text_ci, decision]


def _agree(a, b):
    return a if a == b else 'inconclusive at this scale'


CLAIM_COLUMNS = ['claim', 'comparison', 'paired difference over seeds [95% CI]', 'verdict']
