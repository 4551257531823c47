import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from bert4keras_ext.losses import (LogitAdjustedCrossEntropy, PriorBias, SparseLogitAdjustedCrossEntropy,
                                   check_prior, estimate_prior, logit_adjusted_crossentropy, posthoc_adjust)


def test_uniform_prior_equals_plain_crossentropy(rng):
    logits = rng.normal(size=(8, 5)).astype('float32') * 3
    y = rng.randint(0, 5, size=8)
    ours = logit_adjusted_crossentropy(y, logits, np.full(5, 0.2), tau=1.0).numpy()
    plain = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy()
    np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.floats(0.0, 2.0), st.integers(0, 10_000))
def test_equals_article_eq4(k, tau, seed):
    rng = np.random.RandomState(seed)
    prior = rng.dirichlet(np.ones(k)) * 0.98 + 0.02 / k
    logits = rng.normal(size=(4, k)) * 2
    y = rng.randint(0, k, size=4)
    ours = logit_adjusted_crossentropy(y, logits.astype('float64'), prior, tau=tau).numpy()
    for i in range(4):
        f, t = logits[i], y[i]
        expected = np.log1p(sum((prior[j] / prior[t]) ** tau * np.exp(f[j] - f[t]) for j in range(k) if j != t))
        assert ours[i] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_sparse_and_onehot_agree_and_class_roundtrip(rng):
    prior = [0.7, 0.2, 0.1]
    logits = rng.normal(size=(6, 3)).astype('float32')
    y = rng.randint(0, 3, size=6)
    sparse = SparseLogitAdjustedCrossEntropy(prior)(y, logits).numpy()
    dense = LogitAdjustedCrossEntropy(prior, sparse=False)(tf.one_hot(y, 3), logits).numpy()
    assert sparse == pytest.approx(dense, rel=1e-6)
    clone = LogitAdjustedCrossEntropy.from_config(LogitAdjustedCrossEntropy(prior, tau=0.5).get_config())
    assert clone.tau == 0.5 and clone.prior == pytest.approx(prior)


def test_extreme_logits_finite_values_and_gradients():
    prior = [0.98, 0.01, 0.01]
    logits = tf.Variable([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(logit_adjusted_crossentropy([1, 0], logits, prior))
    grad = tape.gradient(loss, logits)
    assert np.isfinite(loss.numpy()) and np.all(np.isfinite(grad.numpy()))
    assert loss.numpy() > 1e3


def test_posthoc_rule_agrees_with_loss_trained_rule(rng):
    """Logits that already equal log p(y|x) - log p(y) (what LA training targets) give the same argmax as the
    post-hoc adjustment of an ERM model whose logits are log p(y|x)."""
    prior = np.array([0.6, 0.3, 0.1])
    log_cond = np.log(rng.dirichlet(np.ones(3), size=50))
    la_logits = log_cond - np.log(prior)
    erm_adjusted = posthoc_adjust(log_cond, prior, tau=1.0).numpy()
    np.testing.assert_allclose(erm_adjusted, la_logits, rtol=1e-5)
    assert (erm_adjusted.argmax(1) == la_logits.argmax(1)).all()


def test_estimate_prior_and_errors():
    np.testing.assert_allclose(estimate_prior([0, 0, 1, 2]), [0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match=r'classes \[1\] have no examples'):
        estimate_prior([0, 2, 2])
    np.testing.assert_allclose(estimate_prior([0, 2, 2], smoothing=1), [2 / 6, 1 / 6, 3 / 6])
    with pytest.raises(ValueError, match='prior has 3 entries but the model has 4 classes'):
        check_prior([0.2, 0.3, 0.5], 4)
    with pytest.raises(ValueError, match='must sum to 1'):
        check_prior([0.2, 0.3])
    with pytest.raises(ValueError, match='prior has 2 entries but the model has 3 classes'):
        logit_adjusted_crossentropy([0], [[1.0, 2.0, 3.0]], [0.5, 0.5])


def test_prior_bias_initializer_in_a_saved_model(tmp_path):
    prior = [0.5, 0.3, 0.2]
    inp = tf.keras.Input((4,))
    out = tf.keras.layers.Dense(3, bias_initializer=PriorBias(prior, tau=1.0))(inp)
    model = tf.keras.Model(inp, out)
    np.testing.assert_allclose(model.layers[-1].bias.numpy(), np.log(prior), rtol=1e-6)
    model.compile('sgd', LogitAdjustedCrossEntropy(prior))
    model.save(str(tmp_path / 'm.keras'))
    restored = tf.keras.models.load_model(str(tmp_path / 'm.keras'))
    assert isinstance(restored.loss, LogitAdjustedCrossEntropy)
    with pytest.raises(ValueError, match='PriorBias has 3 classes but the bias has shape'):
        tf.keras.layers.Dense(4, bias_initializer=PriorBias(prior)).build((None, 2))
