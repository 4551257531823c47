import os

import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.checkpoints.google import read_config
from bert4keras_ext.models import build_model
from bert4keras_ext.layers import ModuleReplacement, TakeFirstToken, build_theseus, export_successor
from bert4keras_ext.training import ConstantReplacementRate, LinearReplacementRate
from bert4keras_ext.layers import TheseusModel, copy_first_layers
from tests.helpers import token_batch


def builders(tiny_dir, successor_layers=1, **overrides):
    config = read_config(os.path.join(tiny_dir, 'bert_config.json'))
    predecessor = build_model(config, prefix='Predecessor-')
    succ_config = dict(config, num_hidden_layers=successor_layers, **overrides)
    successor = build_model(succ_config, prefix='Successor-')
    return predecessor, successor


def head_model(hidden):
    inp = tf.keras.Input((None, hidden))
    out = tf.keras.layers.Dense(2, name='cls_logits')(TakeFirstToken()(inp))
    return tf.keras.Model(inp, out, name='head')


@pytest.fixture(params=['cls', 'mean'])
def wired(tiny_dir, request):
    """Both head kinds: a one-input [CLS] head, and the library's mean-pooling head that also reads the token ids."""
    from bert4keras_ext.classification import head_model as library_head
    predecessor, successor = builders(tiny_dir)
    copy_first_layers(predecessor, successor)
    head = head_model(16) if request.param == 'cls' else library_head(16, 2, dropout=0.0, pooling='mean')
    return (predecessor, successor, head) + build_theseus(predecessor, successor, head, rate=0.5)


def test_inference_equals_successor_and_rate0_equals_predecessor(wired):
    predecessor, successor, head, p_model, s_model, t_model = wired
    x = list(token_batch(np.random.RandomState(0), target=0))
    np.testing.assert_allclose(t_model(x, training=False).numpy(), s_model(x, training=False).numpy(), atol=1e-6)
    for layer in t_model.layers:
        if isinstance(layer, ModuleReplacement):
            layer.rate.assign(0.0)
    np.testing.assert_allclose(t_model(x, training=True).numpy(), p_model(x, training=True).numpy(), atol=1e-6)
    for layer in t_model.layers:
        if isinstance(layer, ModuleReplacement):
            layer.rate.assign(1.0)
    np.testing.assert_allclose(t_model(x, training=True).numpy(), s_model(x, training=True).numpy(), atol=1e-6)


def test_build_theseus_freezes_the_predecessor_and_the_head(wired):
    """The docstring's promise: in the Theseus model only successor weights train (no freezing call, and AdamW's
    weight decay, which moves every variable it is given, is used); the predecessor and successor models sharing
    those layers still train them afterwards."""
    predecessor, successor, head, p_model, s_model, t_model = wired
    assert isinstance(t_model, TheseusModel)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    t_model.compile(tf.keras.optimizers.AdamW(1e-2, weight_decay=0.1), loss)
    x = list(token_batch(np.random.RandomState(1), batch=8, target=0))
    y = np.arange(8) % 2
    frozen = [w.numpy().copy() for w in predecessor.model.weights + head.weights]
    succ = [w.numpy().copy() for w in successor.model.weights]
    t_model.fit(x, y, epochs=3, verbose=0, callbacks=[ConstantReplacementRate(0.5)])
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(frozen, predecessor.model.weights + head.weights))
    changed = [not np.array_equal(a, w.numpy()) for a, w in zip(succ, successor.model.weights)]
    assert sum(changed) >= len(changed) - 2  # every successor weight moves (the pooler/NSP may be unused)
    head_before = [w.numpy().copy() for w in head.weights]
    s_model.compile(tf.keras.optimizers.Adam(1e-2), loss)
    s_model.fit(x, y, epochs=1, verbose=0)  # the head is frozen only inside the Theseus model
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(head_before, head.weights))


def test_theseus_model_refuses_unknown_frozen_layers():
    inp = tf.keras.Input((3,))
    with pytest.raises(ValueError, match='not layers of this model'):
        TheseusModel(inp, tf.keras.layers.Dense(1)(inp), frozen=['nope'])


def test_builder_errors(tiny_dir):
    head = head_model(16)
    p, s = builders(tiny_dir, successor_layers=3)
    with pytest.raises(ValueError, match='deeper than the predecessor'):
        build_theseus(p, s, head)
    config = read_config(os.path.join(tiny_dir, 'bert_config.json'))
    p3 = build_model(dict(config, num_hidden_layers=3), prefix='P3-')
    s2 = build_model(dict(config, num_hidden_layers=2), prefix='S2-')
    with pytest.raises(ValueError, match='not divisible'):
        build_theseus(p3, s2, head)
    p, s = builders(tiny_dir, hidden_size=8, num_attention_heads=2, intermediate_size=16)
    with pytest.raises(ValueError, match='hidden sizes differ: predecessor 16, successor 8'):
        build_theseus(p, s, head)


def test_schedulers_and_per_sample_draws_and_config():
    layer = ModuleReplacement(rate=0.5, per_sample=True, seed=3)
    a, b = tf.zeros((200, 3, 2)), tf.ones((200, 3, 2))
    out = layer([a, b], training=True).numpy()
    picks = out[:, 0, 0]
    assert set(np.unique(picks)) == {0.0, 1.0} and 60 < picks.sum() < 140
    assert np.all(out == out[:, :1, :1])          # one draw per sample
    batch = ModuleReplacement(rate=0.5)([a, b], training=True).numpy()
    assert len(np.unique(batch)) == 1              # one draw per batch
    clone = ModuleReplacement.from_config(layer.get_config())
    assert clone.per_sample and clone.initial_rate == 0.5
    inp = tf.keras.Input((3, 2))
    model = tf.keras.Model(inp, ModuleReplacement(name='m')([inp, inp]))
    sched = LinearReplacementRate(k=0.25, b=0.3)
    model.compile('sgd', 'mse')
    model.fit(np.zeros((16, 3, 2)), np.zeros((16, 3, 2)), batch_size=4, epochs=1, verbose=0, callbacks=[sched])
    assert sched.history == pytest.approx([0.3, 0.55, 0.8, 1.0])
    assert model.get_layer('m').rate.numpy() == pytest.approx(1.0)


def test_export_successor_loads_with_empty_report(wired, tiny_dir, tmp_path):
    predecessor, successor, head, p_model, s_model, t_model = wired
    d = export_successor(successor, str(tmp_path / 'succ'), vocab=os.path.join(tiny_dir, 'vocab.txt'))
    model, report = load_model(d)
    assert report.ok and not report.unexpected and not report.missing
    x = list(token_batch(np.random.RandomState(2), target=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), successor.model.predict(x, verbose=0), atol=1e-6)


def test_layers_with_one_seed_draw_independently():
    """Two replacement layers built with the same seed must not make the same choice at every step (they did:
    the same op seed gives the same stream), or all modules would be replaced together."""
    a = ModuleReplacement(rate=0.5, seed=7, name='replace_a')
    b = ModuleReplacement(rate=0.5, seed=7, name='replace_b')
    zeros, ones = tf.zeros((2, 3)), tf.ones((2, 3))
    a([zeros, ones]), b([zeros, ones])

    @tf.function
    def step():
        return a([zeros, ones], training=True)[0, 0], b([zeros, ones], training=True)[0, 0]

    draws = np.array([[float(v) for v in step()] for _ in range(40)])
    assert 5 < draws[:, 0].sum() < 35 and 5 < draws[:, 1].sum() < 35  # each draws about half the time
    assert (draws[:, 0] != draws[:, 1]).sum() >= 8  # independent: they disagree about half the time
