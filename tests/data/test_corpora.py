import collections
import numpy as np

import pytest

from bert4keras_ext.data import corpora, imbalanced_subset, train_valid_test_split


def test_sentiment_corpus():
    items = corpora.sentiment()
    counts = collections.Counter(y for _, y in items)
    assert counts[0] > 15000 and counts[1] > 15000
    assert all(isinstance(t, str) and t for t, _ in items[:100])


def test_peoples_daily_pos_has_44_long_tailed_tags():
    sents = corpora.peoples_daily_pos()
    tags = collections.Counter(t for s in sents for _, t in s)
    assert len(tags) == 44
    common = tags.most_common()
    assert common[0][0] == 'n' and common[0][1] > 100 * common[30][1]
    text = corpora.peoples_daily_text()
    assert len(text) == len(sents) and sum(map(len, text)) > 1_500_000


def test_split_sentences():
    assert corpora.split_sentences('你好。再见！abc', max_len=2) == ['你好', '。', '再见', '！', 'ab', 'c']


def test_splits_are_deterministic_and_disjoint():
    items = list(range(1000))
    a = train_valid_test_split(items, seed=3)
    b = train_valid_test_split(items, seed=3)
    c = train_valid_test_split(items, seed=4)
    assert a == b and a != c
    train, valid, test = a
    assert (len(train), len(valid), len(test)) == (800, 100, 100)
    assert sorted(train + valid + test) == items


def test_stratified_split_keeps_proportions():
    items = [(i, i % 10 == 0) for i in range(1000)]
    train, valid, test = train_valid_test_split(items, seed=0, stratify=lambda x: x[1])
    assert sum(x[1] for x in test) == 10 and sum(x[1] for x in valid) == 10
    train, valid, test = train_valid_test_split(items, seed=0, valid=50, test=200, stratify=lambda x: x[1])
    assert len(test) == 200 and sum(x[1] for x in test) == 20 and len(valid) == 50


def test_imbalanced_subset_ratio():
    items = list(range(300))
    labels = [0] * 200 + [1] * 100
    xs, ys = imbalanced_subset(items, labels, ratio=10, minority=1, seed=0)
    assert ys.count(0) == 200 and ys.count(1) == 20
    assert imbalanced_subset(items, labels, ratio=10, seed=0) == (xs, ys)
    with pytest.raises(ValueError, match='needs 200 minority items'):
        imbalanced_subset(items, labels, ratio=1, seed=0)


def test_training_sets_from_the_benchmark_pool_hold_both_classes():
    """The pool keeps corpus order (all negatives first): its first 1,000 reviews are one class, which is what the
    task scripts trained on until they drew with stratified_sample."""
    import numpy as np
    from bert4keras_ext.data import corpora, stratified_sample
    pool, _, _ = corpora.sentiment_benchmark_split(n_valid=100, n_test=300, seed=0)
    assert len({y for _, y in pool[:1000]}) == 1
    share = np.mean([y for _, y in pool])
    for size in (48, 1000):
        train = stratified_sample(pool, size, seed=0)
        assert len(train) == size and len(set(train)) == size
        assert abs(np.mean([y for _, y in train]) - share) < 0.05
    assert stratified_sample(pool, 300, seed=1) == stratified_sample(pool, 300, seed=1)
    assert stratified_sample(pool, 300, seed=1) != stratified_sample(pool, 300, seed=2)
    with pytest.raises(ValueError, match='size must be in 1..'):
        stratified_sample(pool[:10], 11)


def test_long_tail_task_sample_seed_redraws_training_on_one_test_set():
    """``sample_seed`` redraws the validation and training words; ``seed`` alone fixes the test words; without
    ``sample_seed`` the task is what it was (``seed`` draws everything)."""
    from bert4keras_ext.data.pos_words import long_tail_task
    kwargs = dict(head=60, ratio=10, per_class_test=4, per_class_valid=3, seed=0)
    plain = long_tail_task(**kwargs)
    a, b = long_tail_task(sample_seed=1, **kwargs), long_tail_task(sample_seed=2, **kwargs)
    assert a[2] == b[2] == plain[2]                        # one test set
    assert a[0] != b[0] and a[1] != b[1]                   # training and validation redrawn
    assert list(a[4]) == list(b[4]) and a[3] == b[3]       # same tags and counts


def test_long_tail_task_larger_validation_keeps_the_tags_and_the_test_set():
    """min_valid fixes the tag set: up to 40 validation words per tag (v2) leave v1's tags (10 validation words)
    and its test words as they are; a tag with fewer words to spare gets fewer validation words, never training
    words below the tail's floor."""
    from bert4keras_ext.data.pos_words import long_tail_task
    v1 = long_tail_task(head=1000, per_class_test=50, per_class_valid=10, seed=0, sample_seed=3)
    v2 = long_tail_task(head=1000, per_class_test=50, per_class_valid=40, seed=0, sample_seed=3, min_valid=10)
    assert v1[3] == v2[3] and v1[2] == v2[2]                     # the same tags, the same test words
    per_tag = np.bincount([y for _, _, y in v2[1]], minlength=len(v2[3]))
    assert per_tag.max() == 40 and 10 <= per_tag.min() < 40        # the rarest tag gets what it can spare
    assert v2[4].min() >= 10 and len(v2[1]) > 3 * len(v1[1])
