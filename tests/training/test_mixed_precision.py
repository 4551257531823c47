"""Mixed precision: FloodingModel with WEISSI and the imbalance losses trains without NaN under 'mixed_bfloat16'
and under 'mixed_float16' (where compile wraps the optimizer in a LossScaleOptimizer, whose minimize scales the
flooded objective)."""
import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext import losses
from bert4keras_ext.regularizers import attach_weissi
from bert4keras_ext.training import FloodingModel


@pytest.fixture
def policy(request):
    tf.keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    tf.keras.mixed_precision.set_global_policy('float32')


LOSSES = {
    'focal': lambda: losses.BinaryFocal(alpha=0.75, gamma=2.0),
    'ghm': lambda: losses.BinaryGHM(bins=5, momentum=0.5),
    'f1_weighted': lambda: losses.F1WeightedCrossEntropy(),
    'logit_adjusted': lambda: losses.BinaryLogitAdjusted(0.2, tau=1.0),
    'flooded_ce': lambda: losses.Flooded(losses.BinaryCrossEntropy(), b=0.05),
}


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'], indirect=True)
@pytest.mark.parametrize('loss', sorted(LOSSES))
def test_flooding_weissi_and_imbalance_losses_train_in_mixed_precision(policy, loss):
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 6)).astype('float32')
    y = (x[:, 0] + 0.5 * x[:, 1] > 0.8).astype('float32')
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((6,))
    h = tf.keras.layers.Dense(16, activation='relu')(inp)
    out = tf.keras.layers.Dense(1, dtype='float32')(h)   # logits in float32, as the mixed-precision guide says
    model = FloodingModel(inp, out, flood_level=0.02)
    attach_weissi(model, 1e-3, 1e-4)
    model.compile(tf.keras.optimizers.Adam(1e-2), LOSSES[loss]())
    assert model.layers[1].compute_dtype == policy.split('_')[1]
    if policy == 'mixed_float16':
        assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    before = model.evaluate(x, y, verbose=0, return_dict=True)['loss']
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history['loss']))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.evaluate(x, y, verbose=0, return_dict=True)['loss'] < before
