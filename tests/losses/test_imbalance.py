import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from bert4keras_ext.losses import (BINARY_LOSSES, BinaryCrossEntropy, BinaryFocal, BinaryGHM, BinaryLogitAdjusted,
                                   F1WeightedCrossEntropy, SmoothAccuracy, SoftF1, SoftmaxFocal,
                                   SoftmaxSmoothAccuracy, WeightedBinaryCrossEntropy, WeightedSoftmaxCrossEntropy,
                                   gradient_weights)


def make(name):
    cls = BINARY_LOSSES[name]
    if name == 'logit_adjusted':
        return cls(positive_rate=0.1)
    if name == 'weighted_ce':
        return cls.from_prior(0.1)
    return cls()


@pytest.mark.parametrize('name', sorted(BINARY_LOSSES))
@pytest.mark.parametrize('labels', [[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]])
def test_extreme_logits_and_one_class_batches_are_finite(name, labels):
    loss = make(name)
    z = tf.Variable([1e4, -1e4, 0.0, 30.0])
    with tf.GradientTape() as tape:
        value = loss(tf.constant(labels, tf.float32), z)
    grad = tape.gradient(value, z)
    assert np.isfinite(value.numpy())
    assert grad is None or np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize('name', sorted(BINARY_LOSSES))
def test_config_round_trip(name):
    loss = make(name)
    clone = type(loss).from_config(loss.get_config())
    y = tf.constant([1.0, 0.0, 1.0, 0.0])
    z = tf.constant([0.3, -1.2, 2.0, 0.5])
    if name != 'ghm':  # GHM keeps a moving average, so a second call differs by design
        assert clone(y, z).numpy() == pytest.approx(loss(y, z).numpy(), rel=1e-6)


def test_focal_matches_tf_keras_binary_focal():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, size=32).astype('float32')
    z = rng.normal(size=32).astype('float32') * 3
    for alpha, gamma in [(0.25, 2.0), (0.5, 1.0), (0.75, 0.0)]:
        ours = BinaryFocal(alpha=alpha, gamma=gamma)(y, z).numpy()
        ref = tf.keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha, gamma=gamma,
                                                      from_logits=True)(y[:, None], z[:, None]).numpy()
        assert ours == pytest.approx(ref, rel=1e-5)
    ours = BinaryFocal(alpha=None, gamma=2.0)(y, z).numpy()
    ref = tf.keras.losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)(y[:, None], z[:, None]).numpy()
    assert ours == pytest.approx(ref, rel=1e-5)


def test_gradient_weight_identities():
    ce = gradient_weights(BinaryCrossEntropy())
    for label in (0, 1):
        np.testing.assert_allclose(ce[label][1], 1.0, rtol=1e-4)
    acc = gradient_weights(SmoothAccuracy())
    p, w1 = acc[1]
    np.testing.assert_allclose(w1, p, rtol=1e-3)          # positives: smooth-acc grad = p * CE grad
    p, w0 = acc[0]
    np.testing.assert_allclose(w0, 1 - p, rtol=1e-3)      # negatives: (1 - p) * CE grad
    focal = gradient_weights(BinaryFocal(alpha=None, gamma=2.0))
    p, wf = focal[1]
    # d FL / dz = (1 - p)^g [g p log p - (1 - p)] for y = 1 (Lin et al.), CE: -(1 - p)
    np.testing.assert_allclose(wf, (1 - p) ** 2 * (1 - 2 * p * np.log(p) / (1 - p)), rtol=1e-3)
    assert wf[-1] < 0.01 * wf[0]                            # easy positives (p -> 1) are down-weighted


def test_f1_weighted_ce_weights_follow_batch_f1():
    """Eq. (9): positive weight 1 - F1/2, negative weight F1/2, F1 = batch smooth F1 (not differentiated)."""
    y = np.array([1, 0, 0, 0, 1, 0], 'float32')
    z = np.array([2.0, -1.0, 0.5, -3.0, -0.5, 1.0], 'float32')
    p = 1 / (1 + np.exp(-z))
    f1 = 2 * (y * p).sum() / (y + p).sum()
    zv = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = F1WeightedCrossEntropy()(y, zv) * len(y)
    grad = tape.gradient(value, zv).numpy()
    expected = np.where(y == 1, (1 - f1 / 2) * (p - 1), (f1 / 2) * p)
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


def test_soft_f1_value():
    y = tf.constant([1.0, 0.0, 1.0])
    z = tf.constant([0.0, 0.0, 0.0])
    assert SoftF1()(y, z).numpy() == pytest.approx(1 - 2 * 1.0 / 3.5, rel=1e-6)


def test_ghm_downweights_the_dense_gradient_bin():
    loss = BinaryGHM(bins=10, momentum=0.0)
    y = np.array([1] * 9 + [1], 'float32')
    z = np.array([5.0] * 9 + [-5.0], 'float32')   # nine easy positives share a bin, one hard
    w = loss.weights(tf.constant(y), tf.constant(z)).numpy()
    assert w[-1] == pytest.approx(9 * w[0])
    assert w.sum() == pytest.approx(len(y))               # each non-empty bin carries N / (non-empty bins)


def _training_call(loss, y, z):
    z = tf.Variable(z)
    with tf.GradientTape():
        return loss(y, z)


def test_ghm_momentum_accumulates():
    loss = BinaryGHM(bins=4, momentum=0.5)
    y = tf.constant([1.0, 1.0, 0.0, 0.0])
    _training_call(loss, y, [3.0, 3.0, -3.0, -3.0])
    first = loss._acc.numpy().copy()
    _training_call(loss, y, [-3.0, -3.0, 3.0, 3.0])
    acc = loss._acc.numpy()
    assert first[0] == 4 and acc[0] == 4        # an empty bin keeps its average
    assert acc[3] == 0.5 * 0 + 0.5 * 4          # EMA: momentum * old + (1 - momentum) * new count


def test_ghm_state_moves_in_training_only_and_is_saved(tmp_path):
    """evaluate() and validation batches used to move the bin counts ([0,3,15,11,3] -> [3.75,4.25,12,9,3] after
    evaluating other data), and the counts were lost by save/load."""
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 3)).astype('float32')
    y = (x[:, 0] > 0.5).astype('float32')
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((3,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(1)(inp))
    loss = BinaryGHM(bins=5, momentum=0.75)
    model.compile(tf.keras.optimizers.SGD(0.1), loss)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x[::-1] * 3, 1 - y))
    trained = loss.counts
    assert sum(trained) > 0
    model.evaluate(x * 5, 1 - y, verbose=0)
    model.predict(x, verbose=0)
    assert loss.counts == trained               # evaluation reads the average, never moves it
    path = str(tmp_path / 'ghm.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(loaded.loss.counts, trained, rtol=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(loaded.evaluate(x, y, verbose=0), rel=1e-5)
    with pytest.raises(ValueError, match='3 values for 5 bins'):
        BinaryGHM(bins=5, counts=[1, 2, 3])


def test_binary_logit_adjustment_margin():
    loss = BinaryLogitAdjusted(positive_rate=0.1, tau=1.0)
    # a positive at z = 0 is penalised as if it had z = log(0.1/0.9) < 0: more loss than plain CE
    assert loss(tf.constant([1.0]), tf.constant([0.0])).numpy() > BinaryCrossEntropy()(
        tf.constant([1.0]), tf.constant([0.0])).numpy()
    with pytest.raises(ValueError, match='positive_rate must be in'):
        BinaryLogitAdjusted(positive_rate=0.0)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_softmax_variants(seed):
    rng = np.random.RandomState(seed)
    z = rng.normal(size=(5, 4)).astype('float32') * 2
    y = rng.randint(0, 4, size=5)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    py = p[np.arange(5), y]
    assert SoftmaxFocal(gamma=0.0)(y, z).numpy() == pytest.approx(np.mean(-np.log(py)), rel=1e-4)
    assert SoftmaxFocal(gamma=2.0)(y, z).numpy() == pytest.approx(np.mean(-(1 - py) ** 2 * np.log(py)), rel=1e-4)
    assert SoftmaxSmoothAccuracy()(y, z).numpy() == pytest.approx(-py.mean(), rel=1e-4)
    w = WeightedSoftmaxCrossEntropy([1, 2, 3, 4])(y, z).numpy()
    assert w == pytest.approx(np.mean(-np.log(py) * (y + 1)), rel=1e-4)
    prior = [0.7, 0.1, 0.1, 0.1]
    ws = WeightedSoftmaxCrossEntropy.from_prior(prior).class_weights
    assert np.dot(prior, ws) == pytest.approx(1.0)


def test_weighted_ce_from_prior():
    loss = WeightedBinaryCrossEntropy.from_prior(0.1)
    assert loss.positive_weight / loss.negative_weight == pytest.approx(9.0)
    assert 0.1 * loss.positive_weight + 0.9 * loss.negative_weight == pytest.approx(1.0)
