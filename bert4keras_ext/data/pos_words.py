"""A long-tailed word classification task from People's Daily: given a word and its sentence, predict its POS tag.

Tags with too few examples for a balanced test set are dropped; the training set keeps the corpus' natural long
tail, scaled so the most frequent tag has ``head`` examples and floored at ``head / ratio`` (imbalance ratio
``ratio``, as CIFAR-LT uses 100). Valid and test sets are class-balanced.
"""
import collections

import numpy as np

from bert4keras_ext.data import corpora


def word_examples(window=20):
    """Every ``(word, context, tag)`` of the corpus; ``context`` = up to ``window`` chars either side."""
    out = []
    for sent in corpora.peoples_daily_pos():
        text = ''.join(w for w, _ in sent)
        pos = 0
        for word, tag in sent:
            out.append((word, text[max(0, pos - window):pos + len(word) + window], tag))
            pos += len(word)
    return out


def long_tail_task(head=2000, ratio=100, per_class_test=50, per_class_valid=20, seed=0, window=20,
                   sample_seed=None, min_valid=None):
    """``(train, valid, test, tags, train_counts)``: examples are ``(word, context, label_index)``.

    ``seed`` draws the test set; ``sample_seed`` (default: ``seed``) draws the validation and training sets from the
    remaining examples, so that several training draws can share one test set. ``min_valid`` (default
    ``per_class_valid``): a tag is kept when it has ``per_class_test + min_valid`` + the tail's training floor
    examples; each kept tag then gets up to ``per_class_valid`` validation examples (fewer for a tag with fewer to
    spare), so that a larger validation split leaves the tag set and the test set as they are.

    Example::

        train, valid, test, tags, counts = long_tail_task(head=1000, per_class_valid=40, min_valid=10, seed=0)
    """
    rng = np.random.RandomState(seed)
    srng = rng if sample_seed is None else np.random.RandomState(sample_seed)
    by_tag = collections.defaultdict(list)
    for word, context, tag in word_examples(window):
        by_tag[tag].append((word, context))
    natural = {t: len(v) for t, v in by_tag.items()}
    floor = max(1, int(round(head / ratio)))
    need = per_class_test + (per_class_valid if min_valid is None else min(min_valid, per_class_valid)) + floor
    tags = sorted((t for t in by_tag if natural[t] >= need), key=lambda t: (-natural[t], t))
    top = natural[tags[0]]
    train, valid, test, counts = [], [], [], []
    for label, tag in enumerate(tags):
        items = by_tag[tag]
        idx = rng.permutation(len(items))
        if sample_seed is not None:  # the test items stay; the rest is re-drawn
            idx = np.concatenate([idx[:per_class_test], srng.permutation(idx[per_class_test:])])
        n_valid = min(per_class_valid, len(items) - per_class_test - floor)
        n_train = max(floor, int(round(head * natural[tag] / top)))
        n_train = min(n_train, len(items) - per_class_test - n_valid)
        test += [items[i] + (label,) for i in idx[:per_class_test]]
        valid += [items[i] + (label,) for i in idx[per_class_test:per_class_test + n_valid]]
        start = per_class_test + n_valid
        train += [items[i] + (label,) for i in idx[start:start + n_train]]
        counts.append(n_train)
    order = srng.permutation(len(train))
    train = [train[i] for i in order]
    return train, valid, test, tags, np.array(counts)
