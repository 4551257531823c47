"""Deterministic splits and imbalanced subsets (the same seed always gives the same result)."""
import numpy as np


def train_valid_test_split(items, seed=0, valid=0.1, test=0.1, stratify=None):
    """Shuffle with ``seed`` and cut into ``(train, valid, test)`` lists.

    ``valid`` / ``test``: fractions (< 1) or total counts (>= 1). With ``stratify`` (a label per item, or a
    function of an item) each label is split in the same proportions (a total count is shared out by label size).
    """
    items = list(items)
    rng = np.random.RandomState(seed)
    if stratify is None:
        groups = {None: list(range(len(items)))}
    else:
        labels = [stratify(x) for x in items] if callable(stratify) else list(stratify)
        if len(labels) != len(items):
            raise ValueError('stratify has %d labels for %d items' % (len(labels), len(items)))
        groups = {}
        for i, y in enumerate(labels):
            groups.setdefault(y, []).append(i)
    train, dev, tst = [], [], []
    for key in sorted(groups, key=repr):
        idx = np.array(groups[key])
        rng.shuffle(idx)
        n = len(idx)
        share = n / len(items)
        n_test = _count(test, n, share)
        n_valid = _count(valid, n, share)
        if n_test + n_valid > n:
            raise ValueError('valid (%s) + test (%s) exceed the %d items%s'
                             % (valid, test, n, '' if key is None else ' of label %r' % (key,)))
        tst.extend(idx[:n_test])
        dev.extend(idx[n_test:n_test + n_valid])
        train.extend(idx[n_test + n_valid:])
    order = rng.permutation  # re-shuffle so labels interleave
    return tuple([items[i] for i in np.array(part)[order(len(part))]] if part else []
                 for part in (train, dev, tst))


def _count(spec, n, share=1.0):
    """Items of a group of size ``n`` (a ``share`` of all items) for a fraction or a total count."""
    if spec is None:
        return 0
    if spec < 1:
        return int(round(spec * n))
    if spec != int(spec):
        raise ValueError('a split size must be a fraction < 1 or a whole count, got %r' % spec)
    return int(round(spec * share))


def imbalanced_subset(items, labels, ratio, minority=1, seed=0, max_majority=None):
    """Keep every majority item (up to ``max_majority``) and ``n_majority / ratio`` minority items.

    ``ratio``: majority : minority, e.g. 10 for 1:10. Binary or multi-class: each non-minority class is kept
    whole, the ``minority`` class is sub-sampled. Returns ``(items, labels)`` shuffled with ``seed``.
    """
    if ratio < 1:
        raise ValueError('ratio must be >= 1 (majority : minority), got %r' % ratio)
    items, labels = list(items), list(labels)
    if len(items) != len(labels):
        raise ValueError('%d items but %d labels' % (len(items), len(labels)))
    rng = np.random.RandomState(seed)
    minority_idx = [i for i, y in enumerate(labels) if y == minority]
    majority_idx = [i for i, y in enumerate(labels) if y != minority]
    if not minority_idx:
        raise ValueError('no item has the minority label %r' % (minority,))
    rng.shuffle(majority_idx)
    if max_majority is not None:
        majority_idx = majority_idx[:max_majority]
    n_min = max(1, int(round(len(majority_idx) / ratio)))
    if n_min > len(minority_idx):
        raise ValueError('ratio %s needs %d minority items, only %d exist: lower max_majority'
                         % (ratio, n_min, len(minority_idx)))
    rng.shuffle(minority_idx)
    keep = np.array(majority_idx + minority_idx[:n_min])
    rng.shuffle(keep)
    return [items[i] for i in keep], [labels[i] for i in keep]


def stratified_sample(items, size, seed=0, labels=None):
    """``size`` items drawn with ``seed``, stratified by label (``labels``; default the second element of each
    item, e.g. ``(text, label)`` pairs). Use it to draw a training set from an ordered pool: taking the first
    ``size`` items of a corpus in file order (e.g. the sentiment reviews, all negatives first) gives one class."""
    items = list(items)
    labels = [item[1] for item in items] if labels is None else list(labels)
    if not 0 < size <= len(items):
        raise ValueError('size must be in 1..%d (the items given), got %r' % (len(items), size))
    if size == len(items):
        order = np.random.RandomState(seed).permutation(len(items))
        return [items[i] for i in order]
    _, _, sample = train_valid_test_split(items, seed=seed, valid=0, test=size, stratify=labels)
    return sample

