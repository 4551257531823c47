import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext.losses import Flooded
from bert4keras_ext.training import FloodingModel, FloodingMonitor, penalty_from_learning_rates



def test_wrapper_floods_the_batch_mean_not_each_sample():
    y = tf.constant([[0.0], [0.0]])
    pred = tf.constant([[np.sqrt(0.1)], [np.sqrt(0.9)]], tf.float32)  # per-sample MSE 0.1 and 0.9, mean 0.5
    assert Flooded('mse', b=0.4)(y, pred).numpy() == pytest.approx(0.5)          # above b: unchanged
    assert Flooded('mse', b=0.7)(y, pred).numpy() == pytest.approx(2 * 0.7 - 0.5)  # below b: reflected
    per_sample = np.mean(np.abs(np.array([0.1, 0.9]) - 0.4) + 0.4)
    assert per_sample == pytest.approx(0.8) and Flooded('mse', b=0.4)(y, pred).numpy() != pytest.approx(0.8)


def test_wrapper_b0_is_exact_and_config_round_trips():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, size=(8, 1)).astype('float32')
    p = rng.uniform(0.05, 0.95, size=(8, 1)).astype('float32')
    plain = tf.keras.losses.BinaryCrossentropy()(y, p).numpy()
    assert Flooded(tf.keras.losses.BinaryCrossentropy(), b=0.0)(y, p).numpy() == plain
    clone = Flooded.from_config(Flooded('binary_crossentropy', b=0.3).get_config())
    assert clone.b == 0.3 and clone(y, p).numpy() == pytest.approx(abs(plain - 0.3) + 0.3)


def data():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 5)).astype('float32')
    y = (x[:, :1] > 0).astype('float32')
    return x, y


def build(flood_level=None, gradient_penalty=0.0, cls=FloodingModel, l2=0.0):
    tf.keras.utils.set_random_seed(1)
    inp = tf.keras.Input((5,))
    h = tf.keras.layers.Dense(8, activation='relu', kernel_regularizer=tf.keras.regularizers.l2(l2) if l2 else None)(inp)
    out = tf.keras.layers.Dense(1, activation='sigmoid')(h)
    if cls is tf.keras.Model:
        return tf.keras.Model(inp, out)
    return cls(inp, out, flood_level=flood_level, gradient_penalty=gradient_penalty)


def test_flood_level_zero_equals_plain_training_exactly():
    x, y = data()
    plain, flooded = build(cls=tf.keras.Model), build(flood_level=0.0)
    for m in (plain, flooded):
        m.compile(tf.keras.optimizers.SGD(0.1), 'binary_crossentropy')
        m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), flooded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_below_flood_level_the_step_ascends_including_regularization():
    x, y = data()
    model = build(flood_level=100.0, l2=0.01)  # far above any loss: every step is an ascent
    model.compile(tf.keras.optimizers.SGD(0.05), 'binary_crossentropy')
    before = model.evaluate(x, y, verbose=0)
    monitor = FloodingMonitor()
    model.fit(x, y, batch_size=64, epochs=3, verbose=0, callbacks=[monitor])
    after = model.evaluate(x, y, verbose=0)
    assert after > before
    assert [r['ascent_share'] for r in monitor.history] == [1.0, 1.0, 1.0]
    assert monitor.history[0]['distance_to_b'] < 0


def test_add_loss_models_are_flooded():
    """bert4keras-style models carry their loss through add_loss and compile without a loss."""
    x, y = data()
    inp = tf.keras.Input((5,))
    target = tf.keras.Input((1,))
    out = tf.keras.layers.Dense(1, activation='sigmoid')(inp)
    model = FloodingModel([inp, target], out, flood_level=100.0)
    model.add_loss(tf.reduce_mean(tf.keras.losses.binary_crossentropy(target, out)))
    model.compile(tf.keras.optimizers.SGD(0.1))
    first = model.train_on_batch([x, y], return_dict=True)
    second = model.train_on_batch([x, y], return_dict=True)
    assert first['ascent'] == 1.0 and second['raw_loss'] > first['raw_loss']


def test_gradient_penalty_matches_closed_form():
    """L = w^2 (x = 1, y = 0, MSE, no bias): grad = 2w, ||grad||^2 = 4w^2, so one SGD step with penalty lam is
    w <- w - lr (2 + 8 lam) w."""
    inp = tf.keras.Input((1,))
    out = tf.keras.layers.Dense(1, use_bias=False, kernel_initializer=tf.keras.initializers.Constant(0.7))(inp)
    lam, lr = 0.3, 0.05
    model = FloodingModel(inp, out, gradient_penalty=lam)
    model.compile(tf.keras.optimizers.SGD(lr), 'mse')
    model.train_on_batch(np.ones((1, 1), 'float32'), np.zeros((1, 1), 'float32'))
    assert model.get_weights()[0][0, 0] == pytest.approx(0.7 - lr * (2 + 8 * lam) * 0.7, rel=1e-5)


def test_raw_loss_of_the_penalty_step_is_the_loss_without_penalty():
    """raw_loss is what tasks plot as the training loss: L = w^2 = 0.49, not L + lam ||g||^2 = 0.49 + 0.3 * 1.96."""
    inp = tf.keras.Input((1,))
    out = tf.keras.layers.Dense(1, use_bias=False, kernel_initializer=tf.keras.initializers.Constant(0.7))(inp)
    model = FloodingModel(inp, out, gradient_penalty=0.3)
    model.compile(tf.keras.optimizers.SGD(0.05), 'mse')
    logs = model.train_on_batch(np.ones((1, 1), 'float32'), np.zeros((1, 1), 'float32'), return_dict=True)
    assert logs['raw_loss'] == pytest.approx(0.49, rel=1e-5)


def test_penalty_from_learning_rates():
    assert penalty_from_learning_rates(0.2, 0.1) == pytest.approx(0.2 * 0.1 / 0.2)
    with pytest.raises(ValueError, match='must exceed'):
        penalty_from_learning_rates(0.1, 0.1)


def test_schedule_flood_level():
    x, y = data()
    model = build(flood_level=tf.keras.optimizers.schedules.PiecewiseConstantDecay([1], [100.0, 0.0]))
    model.compile(tf.keras.optimizers.SGD(0.05), 'binary_crossentropy')
    ascents = [model.train_on_batch(x, y, return_dict=True, reset_metrics=True)['ascent'] for _ in range(3)]
    assert ascents == [1.0, 1.0, 0.0]   # steps 0 and 1: b = 100; from step 2 on: b = 0


def test_compiled_metrics_are_updated_during_fit():
    x, y = data()
    for kwargs in ({'flood_level': 0.3}, {'gradient_penalty': 0.1}):
        model = build(**kwargs)
        model.compile(tf.keras.optimizers.SGD(0.1), 'binary_crossentropy', metrics=['accuracy'])
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
        assert 'accuracy' in history and len(set(history['accuracy'])) > 1, history
        assert 0 < history['accuracy'][-1] <= 1


@pytest.mark.parametrize('level', [0.45, 'schedule'])
def test_keras_save_and_load_keeps_the_flooded_training_step(tmp_path, level):
    x, y = data()
    b = tf.keras.optimizers.schedules.PiecewiseConstantDecay([2], [100.0, 0.45]) if level == 'schedule' else level
    model = build(flood_level=b, gradient_penalty=0.05)
    model.compile(tf.keras.optimizers.SGD(0.1), 'binary_crossentropy', metrics=['accuracy'])
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)  # 4 steps: past the schedule's boundary
    path = str(tmp_path / 'flood.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert type(loaded) is FloodingModel and loaded.gradient_penalty == 0.05
    if level == 'schedule':
        assert loaded.flood_level.get_config() == b.get_config()
    else:
        assert loaded.flood_level == 0.45
    a = model.train_on_batch(x[:16], y[:16], return_dict=True)
    c = loaded.train_on_batch(x[:16], y[:16], return_dict=True)
    assert a['ascent'] == c['ascent']
    for w1, w2 in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-6, atol=1e-7)


def test_unsaveable_flood_level_is_a_clear_error(tmp_path):
    model = build(flood_level=lambda step: 0.3)
    model.compile(tf.keras.optimizers.SGD(0.1), 'binary_crossentropy')
    with pytest.raises(ValueError, match='LearningRateSchedule'):
        model.save(str(tmp_path / 'm.keras'))


def test_evaluate_each_epoch_records_curves():
    from bert4keras_ext.training import EvaluateEachEpoch
    x, y = data()
    model = build(flood_level=None)
    model.compile(tf.keras.optimizers.SGD(0.5), 'binary_crossentropy')
    monitor = EvaluateEachEpoch({'train': (x, y)})
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[monitor])
    losses = [row['loss'] for row in monitor.history['train']]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert monitor.best_epoch('train') == int(np.argmin(losses))


def test_flooding_with_bert4keras_gradient_accumulation():
    """FloodingModel drives bert4keras' accumulating optimizer: with b = 0 it trains exactly as a plain model,
    and with b above the loss its accumulated updates ascend."""
    from bert4keras.optimizers import Adam, extend_with_gradient_accumulation
    AdamGA = extend_with_gradient_accumulation(Adam, 'AdamGA')
    x, y = data()
    plain, flooded, ascending = build(cls=tf.keras.Model), build(flood_level=0.0), build(flood_level=100.0)
    for m in (plain, flooded, ascending):
        m.compile(AdamGA(learning_rate=1e-2, grad_accum_steps=2), 'binary_crossentropy')
    before = ascending.evaluate(x, y, verbose=0)
    for m in (plain, flooded, ascending):
        m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), flooded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ascending.evaluate(x, y, verbose=0) > before


def test_wrapper_floods_the_mean_of_an_unreduced_loss():
    y = tf.constant([[0.0], [0.0]])
    pred = tf.constant([[np.sqrt(0.1)], [np.sqrt(0.9)]], tf.float32)
    none = tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE)
    value = Flooded(none, b=0.7)(y, pred).numpy()
    assert np.ndim(value) == 0 and value == pytest.approx(2 * 0.7 - 0.5)  # per sample it would be [1.3, 0.9]
