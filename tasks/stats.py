"""Statistics for experiment reports: mean ± std over seeds, 95% confidence intervals, paired differences.

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
    the verdict, which stays the seeds' rule)."""
    m, s, lo, hi = paired_ci(better, worse)
    if np.isnan(lo):
        ci, decision = '%+.2f (1 seed: no interval)' % (m * scale), 'inconclusive at this scale'
    else:
        ci, decision = '%+.2f [%+.2f, %+.2f]' % (m * scale, lo * scale, hi * scale), verdict(lo, hi, threshold)
    if not judge:
        decision = 'reported'
    text_ci = '%s %s' % (ci, unit)
    if items is not None:
        _, b_lo, b_hi = bootstrap_metric(*items)
        text_ci += '; first seed, bootstrap over %d items [%+.2f, %+.2f]' % (len(items[1]), b_lo * scale,
                                                                           b_hi * scale)
    return [claim_id, text, text_ci, decision]


CLAIM_COLUMNS = ['claim', 'comparison', 'paired difference over seeds [95% CI]', 'verdict']
