"""One harness for every class the package registers with Keras (keras-hub's ``run_layer_test`` /
``run_model_saving_test`` pattern): config round trip, build and call (symbolic and eager), one training step where
there is something to train, and ``.keras`` save/load with identical outputs.

A new registered class fails ``test_every_registered_class_has_a_case`` until one line is added to ``CASES``.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

import bert4keras_ext  # noqa: F401
from bert4keras_ext import classification, language_models, losses, pretraining, regularizers, training
from bert4keras_ext.layers import masks, pooling, termination, theseus
from bert4keras_ext.qa import model as qa_model, reader as qa_reader

PACKAGE = 'bert4keras_ext>'
RNG = np.random.RandomState(0)


def floats(*shape):
    return RNG.normal(size=shape).astype('float32')


def ints(high, *shape, low=0):
    return RNG.randint(low, high, size=shape).astype('int32')


class LayerCase:
    """A layer with sample inputs (a list of arrays; one array for a single-input layer)."""

    def __init__(self, layer, inputs, dtypes=None):
        self.obj, self.inputs = layer, inputs
        self.dtypes = dtypes or [a.dtype.name for a in inputs]


class LossCase:
    """A loss with labels and the width of the prediction it scores (logits/log-probs of a Dense head)."""

    def __init__(self, loss, y_true, units, log_softmax=False):
        self.obj, self.y_true, self.units, self.log_softmax = loss, y_true, units, log_softmax


class ScheduleCase:
    """A learning-rate schedule, evaluated at ``steps``."""

    def __init__(self, schedule, steps):
        self.obj, self.steps = schedule, steps


class ObjectCase:
    """An initializer or regularizer, applied to a weight of ``shape``."""

    def __init__(self, obj, shape):
        self.obj, self.shape = obj, shape


def _seq2seq_inputs():
    ids = ints(20, 2, 6, low=1)
    seg = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]], 'int32')
    probs = tf.nn.softmax(floats(2, 6, 20)).numpy()
    return [ids, seg, probs]


CASES = {
    # layers
    'LogSoftmax': lambda: LayerCase(language_models.LogSoftmax(), [floats(2, 3, 7)]),
    'Seq2SeqCrossEntropy': lambda: LayerCase(qa_model.Seq2SeqCrossEntropy(), _seq2seq_inputs()),
    'LMMask': lambda: LayerCase(masks.LMMask(), [ints(9, 2, 5)]),
    'UniLMMask': lambda: LayerCase(masks.UniLMMask(), [np.array([[0, 0, 1, 1], [0, 1, 1, 1]], 'int32')]),
    'TakeFirstToken': lambda: LayerCase(masks.TakeFirstToken(), [floats(2, 4, 3)]),
    'MaskedMeanPool': lambda: LayerCase(pooling.MaskedMeanPool(), [floats(2, 4, 3),
                                                                   np.array([[5, 6, 0, 0], [5, 6, 7, 8]], 'int32')]),
    'SelfTerminatingHead': lambda: LayerCase(termination.SelfTerminatingHead(eos_id=1, epsilon=0.01),
                                             [floats(2, 4, 6), floats(2, 4, 5)]),
    'ModuleReplacement': lambda: LayerCase(theseus.ModuleReplacement(rate=0.5, seed=1),
                                           [floats(2, 3, 4), floats(2, 3, 4)]),
    'SpanLogits': lambda: LayerCase(qa_reader.SpanLogits(), [floats(2, 5, 4), ints(9, 2, 5, low=1),
                                                             np.array([[0, 0, 1, 1, 1], [0, 1, 1, 1, 0]], 'int32')]),
    'GatherPositions': lambda: LayerCase(pretraining.GatherPositions(), [floats(2, 5, 3), ints(5, 2, 2)]),
    # losses
    'NextTokenNLL': lambda: LossCase(language_models.NextTokenNLL(), ints(4, 8), 4, log_softmax=True),
    'LogitAdjustedCrossEntropy': lambda: LossCase(losses.LogitAdjustedCrossEntropy([0.7, 0.2, 0.1], tau=1.0),
                                                  ints(3, 8), 3),
    'SparseLogitAdjustedCrossEntropy': lambda: LossCase(
        losses.logit_adjustment.SparseLogitAdjustedCrossEntropy([0.7, 0.2, 0.1], tau=0.5), ints(3, 8), 3),
    'Flooded': lambda: LossCase(losses.Flooded(tf.keras.losses.BinaryCrossentropy(from_logits=True), b=0.2),
                                ints(2, 8, 1).astype('float32'), 1),
    'SmoothAccuracy': lambda: LossCase(losses.imbalance.SmoothAccuracy(), ints(2, 8, 1), 1),
    'BinaryCrossEntropy': lambda: LossCase(losses.imbalance.BinaryCrossEntropy(), ints(2, 8, 1), 1),
    'WeightedBinaryCrossEntropy': lambda: LossCase(losses.imbalance.WeightedBinaryCrossEntropy(3.0, 0.5),
                                                   ints(2, 8, 1), 1),
    'BinaryFocal': lambda: LossCase(losses.imbalance.BinaryFocal(alpha=0.3, gamma=1.5), ints(2, 8, 1), 1),
    'BinaryGHM': lambda: LossCase(losses.imbalance.BinaryGHM(bins=5, momentum=0.5), ints(2, 8, 1), 1),
    'SoftF1': lambda: LossCase(losses.imbalance.SoftF1(), ints(2, 8, 1), 1),
    'F1WeightedCrossEntropy': lambda: LossCase(losses.imbalance.F1WeightedCrossEntropy(), ints(2, 8, 1), 1),
    'BinaryLogitAdjusted': lambda: LossCase(losses.imbalance.BinaryLogitAdjusted(0.2, tau=1.0), ints(2, 8, 1), 1),
    'SoftmaxFocal': lambda: LossCase(losses.imbalance.SoftmaxFocal(gamma=2.0, alpha=[1.0, 2.0, 0.5]), ints(3, 8), 3),
    'SoftmaxSmoothAccuracy': lambda: LossCase(losses.imbalance.SoftmaxSmoothAccuracy(), ints(3, 8), 3),
    'WeightedSoftmaxCrossEntropy': lambda: LossCase(losses.imbalance.WeightedSoftmaxCrossEntropy([0.5, 1.0, 2.0]),
                                                    ints(3, 8), 3),
    # initializers, regularizers
    'PriorBias': lambda: ObjectCase(losses.PriorBias([0.7, 0.2, 0.1], tau=1.0), (3,)),
    'WEISSI': lambda: ObjectCase(regularizers.WEISSI(1e-2, 1e-3), (4, 3)),
    # schedules
    'WarmupLinearDecay': lambda: ScheduleCase(classification.WarmupLinearDecay(1e-3, 10, 100), [0, 5, 9, 50, 100]),
    # models: covered by their own save/load tests (tests/training/test_flooding.py); here the config round trip
    'FloodingModel': None,
}


def registered():
    return sorted(k[len(PACKAGE):] for k in tf.keras.utils.get_custom_objects() if k.startswith(PACKAGE))


def test_every_registered_class_has_a_case():
    assert registered() == sorted(CASES), 'add a line to CASES for each new registered class'


def _same_config(a, b):
    assert _canonical(a) == _canonical(b)


def _canonical(config):
    """JSON text of a config; tf-keras' built-in losses write their function name ('fn') in some serialization
    contexts and not in others, which says nothing about the object: that key is left out."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != 'fn'}
        if isinstance(value, (list, tuple)):
            return [strip(v) for v in value]
        return value
    return json.dumps(strip(config), sort_keys=True, default=str)


def _cases(kind):
    return [n for n, f in CASES.items() if f is not None and isinstance(f(), kind)]


@pytest.mark.parametrize('name', sorted(n for n, f in CASES.items() if f is not None))
def test_config_round_trip(name):
    obj = CASES[name]().obj
    config = obj.get_config()
    clone = type(obj).from_config(config)
    _same_config(clone.get_config(), config)
    revived = tf.keras.utils.deserialize_keras_object(tf.keras.utils.serialize_keras_object(obj))
    assert type(revived) is type(obj)
    _same_config(revived.get_config(), config)


def _functional(case):
    inputs = [tf.keras.Input(a.shape[1:], dtype=d) for a, d in zip(case.inputs, case.dtypes)]
    out = case.obj(inputs if len(inputs) > 1 else inputs[0])
    return tf.keras.Model(inputs, out)


@pytest.mark.parametrize('name', _cases(LayerCase))
def test_layer_call_train_and_save(name, tmp_path):
    case = CASES[name]()
    x = case.inputs if len(case.inputs) > 1 else case.inputs[0]
    model = _functional(case)  # symbolic call
    eager = case.obj(x)  # eager call
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(predicted, 'float64'), np.asarray(eager, 'float64'), rtol=1e-5,
                               atol=1e-6)
    if case.obj.trainable_weights:
        model.compile(tf.keras.optimizers.SGD(0.1), 'mse')
        before = [w.numpy().copy() for w in case.obj.trainable_weights]
        model.fit(x, np.ones_like(predicted), epochs=1, verbose=0)
        assert any(np.abs(b - w.numpy()).max() > 0 for b, w in zip(before, case.obj.trainable_weights))
        predicted = model.predict(x, verbose=0)
    path = str(tmp_path / 'model.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert type(loaded.layers[-1]) is type(case.obj)
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0), 'float64'),
                               np.asarray(predicted, 'float64'), rtol=1e-6, atol=1e-6)
    assert len(loaded.losses) == len(model.losses)  # add_loss terms (Seq2SeqCrossEntropy) are rebuilt


@pytest.mark.parametrize('name', _cases(LossCase))
def test_loss_trains_and_survives_save(name, tmp_path):
    case = CASES[name]()
    tf.keras.utils.set_random_seed(0)
    x = floats(len(case.y_true), 5)
    inp = tf.keras.Input((5,))
    out = tf.keras.layers.Dense(case.units)(inp)
    if case.log_softmax:
        out = language_models.LogSoftmax()(out)
    model = tf.keras.Model(inp, out)
    model.compile(tf.keras.optimizers.SGD(0.1), loss=case.obj)
    value = float(case.obj(case.y_true, model.predict(x, verbose=0)))
    assert np.isfinite(value)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(x, case.y_true, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    assert any(np.abs(b - w.numpy()).max() > 0 for b, w in zip(before, model.trainable_weights))
    path = str(tmp_path / 'model.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert type(loaded.loss) is type(case.obj)
    _same_config(loaded.loss.get_config(), case.obj.get_config())
    a = model.evaluate(x, case.y_true, batch_size=len(x), verbose=0)
    b = loaded.evaluate(x, case.y_true, batch_size=len(x), verbose=0)
    assert a == pytest.approx(b, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('name', _cases(ObjectCase))
def test_initializer_or_regularizer_in_a_saved_model(name, tmp_path):
    case = CASES[name]()
    obj = case.obj
    kwargs = ({'bias_initializer': obj} if isinstance(obj, tf.keras.initializers.Initializer)
              else {'kernel_regularizer': obj})
    units = case.shape[-1]
    inp = tf.keras.Input((case.shape[0] if len(case.shape) > 1 else 4,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(units, **kwargs)(inp))
    if isinstance(obj, tf.keras.initializers.Initializer):
        np.testing.assert_allclose(model.layers[-1].bias.numpy(), obj(case.shape).numpy(), rtol=1e-6)
    else:
        assert len(model.losses) == 1
        np.testing.assert_allclose(float(model.losses[0]), float(obj(model.layers[-1].kernel)), rtol=1e-6)
    path = str(tmp_path / 'model.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(loaded.losses) == len(model.losses)
    if model.losses:
        np.testing.assert_allclose(float(loaded.losses[0]), float(model.losses[0]), rtol=1e-6)


@pytest.mark.parametrize('name', _cases(ScheduleCase))
def test_schedule_in_a_saved_optimizer(name, tmp_path):
    case = CASES[name]()
    values = [float(case.obj(s)) for s in case.steps]
    clone = type(case.obj).from_config(case.obj.get_config())
    assert [float(clone(s)) for s in case.steps] == values
    inp = tf.keras.Input((2,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(1)(inp))
    model.compile(tf.keras.optimizers.Adam(case.obj), 'mse')
    model.fit(floats(4, 2), floats(4, 1), verbose=0)
    path = str(tmp_path / 'model.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    schedule = tf.keras.optimizers.schedules.deserialize(loaded.optimizer.get_config()['learning_rate'])
    assert type(schedule) is type(case.obj) and [float(schedule(s)) for s in case.steps] == values


def test_flooding_model_config_round_trip():
    inp = tf.keras.Input((3,))
    model = training.FloodingModel(inp, tf.keras.layers.Dense(1)(inp), flood_level=0.2, gradient_penalty=0.1)
    clone = training.FloodingModel.from_config(model.get_config())
    assert clone.flood_level == 0.2 and clone.gradient_penalty == 0.1
    _same_config(clone.get_config(), model.get_config())
