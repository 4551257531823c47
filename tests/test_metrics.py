import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bert4keras_ext import metrics


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_auc_equals_pairwise_definition(seed):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, size=30)
    y[:2] = [0, 1]
    s = rng.randint(0, 5, size=30).astype(float)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert metrics.roc_auc(y, s) == pytest.approx(brute)


def test_f1_balanced_accuracy_threshold():
    y = np.array([1, 1, 0, 0, 0, 0])
    pred = np.array([1, 0, 1, 0, 0, 0])
    assert metrics.binary_f1(y, pred) == pytest.approx(0.5)
    assert metrics.balanced_accuracy(y, pred) == pytest.approx((0.5 + 0.75) / 2)
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
    assert metrics.best_threshold(y, scores) == pytest.approx(0.7)
    assert metrics.macro_f1(y, pred) == pytest.approx((0.5 + 0.75) / 2)
    with pytest.raises(ValueError, match='both classes'):
        metrics.roc_auc([1, 1], [0.1, 0.2])
