import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from bert4keras_ext.regularizers import WEISSI, attach_weissi, homogeneous_kernels, weissi_value


def relu_mlp(seed=0):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((6,))
    x = tf.keras.layers.Dense(8, activation='relu', bias_initializer='random_normal')(inp)
    x = tf.keras.layers.Dense(7, activation='relu', bias_initializer='random_normal')(x)
    out = tf.keras.layers.Dense(3, bias_initializer='random_normal')(x)
    return tf.keras.Model(inp, out)


def relu_cnn(seed=0):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((12, 4))
    x = tf.keras.layers.Conv1D(5, 3, activation='relu', bias_initializer='random_normal')(inp)
    x = tf.keras.layers.MaxPooling1D(2)(x)
    x = tf.keras.layers.Conv1D(6, 3, activation='relu', bias_initializer='random_normal')(x)
    x = tf.keras.layers.GlobalMaxPooling1D()(x)
    out = tf.keras.layers.Dense(2, bias_initializer='random_normal')(x)
    return tf.keras.Model(inp, out)


def weighted_layers(model):
    return [l for l in model.layers if hasattr(l, 'kernel')]


def shift_scales(model, gammas):
    """W_l -> gamma_l W_l, b_l -> (prod_{i<=l} gamma_i) b_l."""
    cumulative = 1.0
    for layer, g in zip(weighted_layers(model), gammas):
        cumulative *= g
        layer.kernel.assign(layer.kernel * g)
        layer.bias.assign(layer.bias * cumulative)


def random_gammas(rng, n):
    g = np.exp(rng.uniform(-1, 1, size=n))
    g[-1] = 1.0 / np.prod(g[:-1])
    return g


@pytest.mark.parametrize('builder,shape', [(relu_mlp, (5, 6)), (relu_cnn, (5, 12, 4))])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000))
def test_scale_shift_invariance_of_outputs_and_weissi_not_l2(builder, shape, seed):
    rng = np.random.RandomState(seed)
    model = builder(seed % 7)
    x = rng.normal(size=shape).astype('float32')
    before = model(x).numpy()
    kernels = [l.kernel for l in weighted_layers(model)]
    w_before = sum(float(weissi_value(k, 1.0, 0.3)) for k in kernels)
    l2_before = sum(float(tf.reduce_sum(k ** 2)) for k in kernels)
    shift_scales(model, random_gammas(rng, len(kernels)))
    np.testing.assert_allclose(model(x).numpy(), before, rtol=1e-4, atol=1e-4)
    w_after = sum(float(weissi_value(k, 1.0, 0.3)) for k in kernels)
    l2_after = sum(float(tf.reduce_sum(k ** 2)) for k in kernels)
    assert w_after == pytest.approx(w_before, rel=1e-4, abs=1e-4)
    assert abs(l2_after - l2_before) > 1e-3 * l2_before


def test_update_direction_per_layer_invariant_for_weissi_not_l2():
    """The regularizer's gradient direction per layer is unchanged by a scale shift (its magnitude scales as
    1 / gamma_l, matching how a gradient of a rescaled weight scales); L2's direction is too but its relative
    size per layer changes: compare the regularizer's share of each layer's update."""
    model = relu_mlp(3)
    rng = np.random.RandomState(0)
    kernels = [l.kernel for l in weighted_layers(model)]

    def grads(reg):
        with tf.GradientTape() as tape:
            total = tf.add_n([reg(k) for k in kernels])
        return [g.numpy() for g in tape.gradient(total, kernels)]

    weissi = WEISSI(1.0, 0.1)
    l2 = tf.keras.regularizers.L2(1.0)
    gw0, gl0 = grads(weissi), grads(l2)
    gammas = random_gammas(rng, len(kernels))
    shift_scales(model, gammas)
    gw1, gl1 = grads(weissi), grads(l2)
    for a, b, g in zip(gw0, gw1, gammas):
        np.testing.assert_allclose(b * g, a, rtol=1e-4, atol=1e-7)   # WEISSI: gradient is exactly rescaled
    ratios = [np.linalg.norm(b * g) / np.linalg.norm(a) for a, b, g in zip(gl0, gl1, gammas)]
    assert max(abs(r - 1) for r in ratios) > 0.1                     # L2: it is not


def test_minimum_l2_under_shift_is_geometric_mean():
    """The library's L2 penalty (attach_regularizer, model.losses) of a ReLU MLP, minimised over the shifts
    prod(gamma) = 1 that leave the function unchanged, is L (prod ||W_l||^2)^(1/L) (AM-GM), reached at equal norms;
    its WEISSI penalty is the same at every shift."""
    from bert4keras_ext.regularizers import attach_regularizer
    rng = np.random.RandomState(0)
    x = rng.normal(size=(5, 6)).astype('float32')

    def penalised(gammas, regularizer):
        model = relu_mlp(seed=3)
        shift_scales(model, gammas)
        attach_regularizer(model, regularizer, layers=weighted_layers(model))
        return model, float(tf.add_n(model.losses))

    base, l2 = penalised(np.ones(3), tf.keras.regularizers.L2(1.0))
    norms2 = np.array([float(tf.reduce_sum(tf.square(l.kernel))) for l in weighted_layers(base)])
    assert l2 == pytest.approx(norms2.sum(), rel=1e-5)
    geo = np.prod(norms2) ** (1 / 3)
    best, best_l2 = penalised(np.sqrt(geo / norms2), tf.keras.regularizers.L2(1.0))
    assert best_l2 == pytest.approx(3 * geo, rel=1e-4)
    np.testing.assert_allclose(best(x).numpy(), base(x).numpy(), rtol=1e-4, atol=1e-5)  # the same function
    _, weissi_base = penalised(np.ones(3), WEISSI(1.0, 0.0))
    for _ in range(5):  # no random feasible shift does better in L2; WEISSI does not move
        g = random_gammas(rng, 3)
        assert penalised(g, tf.keras.regularizers.L2(1.0))[1] >= best_l2 * (1 - 1e-5)
        assert penalised(g, WEISSI(1.0, 0.0))[1] == pytest.approx(weissi_base, abs=1e-4)


def test_weissi_model_writes_a_saved_model(tiny_dir, tmp_path):
    """With WEISSI attached, tf.saved_model.save and model.save(save_format='tf') failed (NotEncodableError)."""
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.layers import TakeFirstToken
    encoder, _ = load_model(tiny_dir)
    model = tf.keras.Model(encoder.inputs, tf.keras.layers.Dense(2)(TakeFirstToken()(encoder.output)))
    attach_weissi(model, 1e-2, 1e-3)
    ids = np.array([[2, 5, 6, 3]], 'float32')  # bert4keras' inputs are float32 placeholders
    x = [ids, np.zeros_like(ids)]
    expected = model(x).numpy()
    tf.saved_model.save(model, str(tmp_path / 'sm'))
    model.save(str(tmp_path / 'tf'), save_format='tf')
    restored = tf.saved_model.load(str(tmp_path / 'sm'))
    np.testing.assert_allclose(restored([tf.constant(a) for a in x]).numpy(), expected, atol=1e-5)


def test_penalty_on_inner_dense_layers_survives_save_and_load(tiny_dir, tmp_path):
    """tasks/weissi.py attached to FeedForward inner Dense layers; after a .keras round trip 2 penalties became 0.
    An inner Dense now stands for its FeedForward, which writes the regularizer in its config."""
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.layers import TakeFirstToken
    encoder, _ = load_model(tiny_dir)
    model = tf.keras.Model(encoder.inputs, tf.keras.layers.Dense(2)(TakeFirstToken()(encoder.output)))
    inner = [l.i0_dense for l in encoder.layers if type(l).__name__ == 'FeedForward']
    before = len(model.losses)
    attach_weissi(model, 1e-2, 1e-3, layers=inner)
    values = sorted(float(v) for v in model.losses[before:])
    assert len(values) == 2 and all(abs(v) > 0 for v in values)
    path = str(tmp_path / 'inner.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(sorted(float(v) for v in loaded.losses[before:]), values, rtol=1e-6)


def test_finite_at_zero_and_config_round_trip():
    w = tf.Variable(tf.zeros((3, 3)))
    reg = WEISSI(1e-2, 1e-3)
    with tf.GradientTape() as tape:
        value = reg(w)
    grad = tape.gradient(value, w)
    assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad.numpy()))
    clone = WEISSI.from_config(reg.get_config())
    assert clone.log_weight == 1e-2 and clone.l1_weight == 1e-3


def test_attach_to_bert4keras_feedforward(tiny_dir):
    from bert4keras_ext.checkpoints import load_model
    model, _ = load_model(tiny_dir)
    found = homogeneous_kernels(model)
    names = sorted(layer.name for layer, _ in found)
    assert names == ['Transformer-0-FeedForward', 'Transformer-1-FeedForward']
    assert all(k.shape[-1] == 32 for _, k in found)  # the inner (intermediate_size) kernels
    n_before = len(model.losses)
    attach_weissi(model, 1e-3, 1e-4)
    assert len(model.losses) == n_before + 2
    expected = sum(float(weissi_value(k, 1e-3, 1e-4)) for _, k in found)
    assert float(tf.add_n(model.losses[n_before:])) == pytest.approx(expected, rel=1e-5)


def test_attach_default_excludes_softmax_and_requires_a_kernel():
    inp = tf.keras.Input((4,))
    out = tf.keras.layers.Dense(2, activation='softmax')(inp)
    model = tf.keras.Model(inp, out)
    with pytest.raises(ValueError, match='no kernel selected'):
        attach_weissi(model)
    assert len(attach_weissi(model, layers=[model.layers[-1].name])) == 1


@pytest.mark.parametrize('method', ['weissi', 'l2'])
def test_attached_penalties_survive_keras_save_and_load(tiny_dir, tmp_path, method):
    """They vanished: model.losses went from 6 to 1 after a .keras round trip and training went on without them."""
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.regularizers import attach_regularizer
    encoder, _ = load_model(tiny_dir)
    x = tf.keras.layers.Lambda(lambda t: t[:, 0], name='first')(encoder.output)
    out = tf.keras.layers.Dense(2, name='head')(x)
    model = tf.keras.Model(encoder.inputs, out)
    reg = WEISSI(1e-2, 1e-3) if method == 'weissi' else tf.keras.regularizers.L2(1e-3)
    before = len(model.losses)
    attach_regularizer(model, reg, layers=None if method == 'weissi' else ['Transformer-0-FeedForward', 'head'])
    n = len(model.losses)
    assert n > before
    values = sorted(float(v) for v in model.losses)
    path = str(tmp_path / 'model.keras')
    model.save(path)
    loaded = tf.keras.models.load_model(path, safe_mode=False)
    assert len(loaded.losses) == n
    np.testing.assert_allclose(sorted(float(v) for v in loaded.losses), values, rtol=1e-6)
    with pytest.raises(ValueError, match='already has a kernel_regularizer'):
        attach_regularizer(loaded, reg, layers=['Transformer-0-FeedForward'])


def test_selective_adamw_decays_only_the_chosen_kernels():
    from bert4keras_ext.regularizers import selective_adamw
    inp = tf.keras.Input((3,))
    hidden = tf.keras.layers.Dense(4, activation='relu', name='hidden')
    out = tf.keras.layers.Dense(1, name='out')
    model = tf.keras.Model(inp, out(hidden(inp)))
    before = [v.numpy().copy() for v in model.trainable_variables]
    opt = selective_adamw(model, [hidden.kernel], learning_rate=0.1, weight_decay=0.5)
    zeros = [tf.zeros_like(v) for v in model.trainable_variables]
    opt.apply_gradients(zip(zeros, model.trainable_variables))  # no gradient: only decay moves weights
    moved = [not np.allclose(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert moved == [True, False, False, False]  # hidden kernel decays; its bias, out kernel and bias do not
    with pytest.raises(ValueError, match='not trainable variables'):
        selective_adamw(model, [tf.Variable(1.0, name='stranger')], 0.1, 0.5)
