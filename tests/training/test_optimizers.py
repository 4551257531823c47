"""FusedAdamW promises AdamW's update (within float rounding) with one fused kernel per variable."""
import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext.classification import WarmupLinearDecay
from bert4keras_ext.training import FusedAdamW


def _model():
    ids = tf.keras.Input((6,), dtype='int32')
    h = tf.keras.layers.Embedding(30, 8, name='Embedding-Token')(ids)       # sparse (IndexedSlices) gradients
    h = tf.keras.layers.LayerNormalization(name='Norm')(h)
    h = tf.keras.layers.GlobalAveragePooling1D()(tf.keras.layers.Dense(12, activation='relu', name='ff')(h))
    return tf.keras.Model(ids, tf.keras.layers.Dense(3, name='out')(h))


def _train(optimizer_class, run_eagerly, **kwargs):
    tf.keras.utils.set_random_seed(1)
    model = _model()
    optimizer = optimizer_class(WarmupLinearDecay(3e-2, 2, 12), weight_decay=0.1, **kwargs)
    optimizer.exclude_from_weight_decay(var_names=['Norm', 'bias'])
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=run_eagerly)
    rng = np.random.RandomState(0)
    x, y = rng.randint(0, 30, (48, 6)), rng.randint(0, 3, 48)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    slots = [v.numpy() for v in optimizer.variables]
    return model.get_weights(), slots


@pytest.mark.parametrize('run_eagerly', [False, True])
@pytest.mark.parametrize('kwargs', [{}, {'amsgrad': True}, {'global_clipnorm': 0.05, 'epsilon': 1e-6}])
def test_fused_adamw_updates_as_adamw(run_eagerly, kwargs):
    fused, fused_slots = _train(FusedAdamW, run_eagerly, **kwargs)
    plain, plain_slots = _train(tf.keras.optimizers.AdamW, run_eagerly, **kwargs)
    assert len(fused_slots) == len(plain_slots)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    for a, b in zip(fused_slots, plain_slots):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # gradients at weights equal to ~1e-7


def test_weight_decay_reaches_only_the_variables_it_should():
    """With a zero gradient Adam's step is 0: what moves is the decay alone, on the non-excluded kernels."""
    tf.keras.utils.set_random_seed(0)
    model = _model()
    optimizer = FusedAdamW(0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=['Norm', 'bias'])
    before = {v.name: v.numpy() for v in model.trainable_variables}
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    for v in model.trainable_variables:
        expected = before[v.name] if ('Norm' in v.name or 'bias' in v.name) else before[v.name] * (1 - 0.1 * 0.5)
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6, err_msg=v.name)


@pytest.mark.parametrize('scheduled', [False, True])
def test_decay_shrinkage_is_how_much_the_decay_alone_shrank_the_weights(scheduled):
    """With zero gradients Adam's step is zero, so the weights shrink by the decay alone: their ratio to the start
    is 1 - decay_shrinkage, for a constant rate and for the recipe's schedule."""
    from bert4keras_ext.training import decay_shrinkage
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((4,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(3, use_bias=False)(inp))
    rate = WarmupLinearDecay(0.05, 3, 40) if scheduled else 0.05
    optimizer = FusedAdamW(rate, weight_decay=0.5)
    model.compile(optimizer, lambda y, p: 0.0 * tf.reduce_sum(p))   # zero gradients: only the decay acts
    start = model.get_weights()[0]
    assert decay_shrinkage(optimizer) == 0.0
    model.fit(np.ones((40, 4), 'float32'), np.zeros((40, 3), 'float32'), batch_size=4, epochs=3, verbose=0)
    ratio = model.get_weights()[0] / start
    assert np.allclose(ratio, 1 - decay_shrinkage(optimizer), rtol=1e-4)
    assert decay_shrinkage(optimizer) > 0.1                        # the decay did act here
    assert decay_shrinkage(FusedAdamW(0.05)) == 0.0                 # no decay: nothing
