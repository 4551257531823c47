"""Each fix in bert4keras_ext.compat, with a test that fails without it."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import bert4keras_ext
from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.models import build_model
from tests.helpers import token_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env['PYTHONPATH'] = ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=300)


def test_environment_is_tf_keras():
    assert os.environ['TF_KERAS'] == '1' and os.environ['TF_USE_LEGACY_KERAS'] == '1'
    assert bert4keras_ext.compat.keras_version().startswith('2.')
    assert tf.keras.layers.Dense.__module__.startswith('tf_keras')
    # the optimizer name was only borrowed while bert4keras.optimizers was imported
    assert tf.keras.optimizers.Optimizer.__module__.startswith('tf_keras.src.optimizers.optimizer')


FRESH_ENV = {'TF_USE_LEGACY_KERAS': '', 'TF_KERAS': ''}  # as in a new shell (this process has set them)


def test_tf_keras_resolved_to_keras3_fails_fast():
    result = run_python('import tensorflow as tf\ntf.keras.layers.Dense\nimport bert4keras_ext\n', env=FRESH_ENV)
    assert result.returncode != 0
    assert 'tf.keras already resolved to Keras 3' in result.stderr
    assert 'Import bert4keras_ext' in result.stderr


def test_importing_tensorflow_first_works():
    """The most common first line of a script: TF 2.21 puts Keras 3 in sys.modules, but tf.keras is still lazy."""
    result = run_python('''
        import tensorflow as tf
        import bert4keras_ext
        from bert4keras.models import build_transformer_model
        model = build_transformer_model(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=16, hidden_act='gelu')
        print(tf.keras.layers.Dense.__module__, len(model.weights))
    ''', env=FRESH_ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0].startswith('tf_keras')


def test_missing_tf_keras_says_what_to_install():
    result = run_python("import sys\nsys.modules['tf_keras'] = None\nimport bert4keras_ext\n")
    assert result.returncode != 0
    assert 'pip install "tf-keras==2.21.*"' in result.stderr


def test_missing_bert4keras_says_no_deps():
    result = run_python("import sys\nsys.modules['bert4keras'] = None\nimport bert4keras_ext\n")
    assert result.returncode != 0
    assert 'pip install --no-deps bert4keras==0.11.5' in result.stderr


# ------------------------------------------------------------------ optimizers

def small_model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((4,))
    out = tf.keras.layers.Dense(1)(tf.keras.layers.Dense(8, activation='relu')(inp))
    return tf.keras.Model(inp, out)


def data(n=32):
    rng = np.random.RandomState(0)
    x = rng.normal(size=(n, 4)).astype('float32')
    return x, x.sum(1, keepdims=True)


def train_losses(optimizer, steps=30):
    model = small_model()
    model.compile(optimizer=optimizer, loss='mse')
    x, y = data()
    return [float(model.train_on_batch(x, y)) for _ in range(steps)], model


def test_bert4keras_adam_trains():
    from bert4keras.optimizers import Adam
    losses, _ = train_losses(Adam(learning_rate=1e-2))
    assert losses[-1] < 0.5 * losses[0]


def test_weight_decay_shrinks_weights_without_gradient():
    from bert4keras.optimizers import Adam, extend_with_weight_decay
    AdamW = extend_with_weight_decay(Adam, 'AdamW')
    model = small_model()
    model.compile(optimizer=AdamW(learning_rate=0.1, weight_decay_rate=0.5), loss=lambda y, p: 0.0 * p)
    x, y = data()
    kernel = model.layers[1].kernel
    before = kernel.numpy().copy()
    model.train_on_batch(x, y)
    np.testing.assert_allclose(kernel.numpy(), before * (1 - 0.1 * 0.5), rtol=1e-5)


def test_piecewise_linear_lr_starts_at_zero():
    from bert4keras.optimizers import Adam, extend_with_piecewise_linear_lr
    AdamLR = extend_with_piecewise_linear_lr(Adam, 'AdamLR')
    model = small_model()
    model.compile(optimizer=AdamLR(learning_rate=1e-2, lr_schedule={5: 1.0}), loss='mse')
    x, y = data()
    before = model.get_weights()
    model.train_on_batch(x, y)  # step 0: multiplier 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.train_on_batch(x, y)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_gradient_accumulation_updates_every_k_steps():
    """bert4keras applies, at iterations 0, k, 2k, ..., the mean of the gradients accumulated since the last
    update (the update at iteration 0 has nothing accumulated and changes nothing)."""
    from bert4keras.optimizers import Adam, extend_with_gradient_accumulation
    AdamGA = extend_with_gradient_accumulation(Adam, 'AdamGA')
    model = small_model()
    model.compile(optimizer=AdamGA(learning_rate=1e-2, grad_accum_steps=2), loss='mse')
    x, y = data()
    snapshots = [model.get_weights()]
    for _ in range(5):
        model.train_on_batch(x, y)
        snapshots.append(model.get_weights())
    changed = [not all(np.array_equal(a, b) for a, b in zip(u, v)) for u, v in zip(snapshots, snapshots[1:])]
    assert changed == [False, False, True, False, True]


def test_exponential_moving_average_apply_and_reset():
    from bert4keras.optimizers import Adam, extend_with_exponential_moving_average
    AdamEMA = extend_with_exponential_moving_average(Adam, 'AdamEMA')
    opt = AdamEMA(learning_rate=1e-2, ema_momentum=0.9)
    losses, model = train_losses(opt, steps=10)
    assert losses[-1] < losses[0]
    raw = model.get_weights()
    opt.apply_ema_weights()
    ema = model.get_weights()
    assert not all(np.allclose(a, b) for a, b in zip(raw, ema))
    opt.reset_old_weights()
    assert all(np.array_equal(a, b) for a, b in zip(raw, model.get_weights()))


def test_adafactor_with_float_learning_rate():
    from bert4keras.optimizers import AdaFactor
    losses, _ = train_losses(AdaFactor(learning_rate=1e-2), steps=20)
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------ RECOMPUTE=1

RECOMPUTE_SCRIPT = '''
import json, sys
import numpy as np
import bert4keras_ext
import tensorflow as tf
from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.models import build_model
model, _ = load_model(sys.argv[1])
ids = np.array([[2, 7, 8, 9, 3, 11, 12]]); seg = np.zeros_like(ids)
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model([ids, seg], training=True) ** 2)
grads = tape.gradient(loss, model.trainable_weights)
print(json.dumps({"none": sum(g is None for g in grads), "n": len(grads),
                  "norms": [float(tf.norm(tf.convert_to_tensor(g))) for g in grads if g is not None]}))
'''


def test_recompute_gives_complete_and_equal_gradients(tiny_dir, tmp_path):
    script = tmp_path / 'grads.py'
    script.write_text(RECOMPUTE_SCRIPT)

    def grads(flag):
        full_env = dict(os.environ, RECOMPUTE=flag, PYTHONPATH=ROOT)
        result = subprocess.run([sys.executable, str(script), tiny_dir], capture_output=True, text=True,
                                env=full_env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    plain, recomputed = grads('0'), grads('1')
    assert recomputed['none'] == 0 and recomputed['n'] == plain['n']
    np.testing.assert_allclose(recomputed['norms'], plain['norms'], rtol=1e-4, atol=1e-9)


# ------------------------------------------------------------------ saving

@pytest.mark.parametrize('application,kwargs', [('encoder', {'with_pool': True}), ('lm', {}), ('unilm', {})])
@pytest.mark.parametrize('fmt', ['keras', 'savedmodel'])
def test_model_save_and_load_identical(tiny_dir, tmp_path, application, kwargs, fmt):
    model, _ = load_model(tiny_dir, application=application, **kwargs)
    assert not any(isinstance(layer, tf.keras.layers.Lambda) for layer in model.layers)
    ids, seg = token_batch(np.random.RandomState(0))
    expected = model.predict([ids, seg], verbose=0)
    if fmt == 'keras':
        path = str(tmp_path / 'model.keras')
        model.save(path)
    else:
        path = str(tmp_path / 'saved_model')
        model.save(path, save_format='tf')
    restored = tf.keras.models.load_model(path)  # default safe_mode=True
    np.testing.assert_array_equal(restored.predict([ids, seg], verbose=0), expected)


def test_unilm_mask_layer_matches_definition():
    from bert4keras_ext.layers import UniLMMask
    seg = np.array([[0] * 5 + [1] * 4])
    mask = UniLMMask()(seg).numpy()[0]
    assert mask[4].tolist() == [True] * 5 + [False] * 4
    assert mask[5].tolist() == [True] * 6 + [False] * 3
    assert mask[8].all()


def test_strq2b_full_width():
    from bert4keras.snippets import strQ2B
    assert strQ2B('ＡＢＣ　１２３') == 'ABC 123'


def test_feedforward_takes_a_kernel_regularizer_and_keeps_it_in_its_config():
    from bert4keras.layers import FeedForward
    layer = FeedForward(8, activation='relu', kernel_regularizer=tf.keras.regularizers.L2(0.5), name='ff')
    out = layer(tf.ones((2, 3, 4)))
    assert out.shape == (2, 3, 4)
    assert len(layer.losses) == 1  # the inner (activated) kernel only, not the output kernel
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * np.sum(layer.i0_dense.kernel.numpy() ** 2), rtol=1e-5)
    clone = FeedForward.from_config(layer.get_config())
    assert clone.kernel_regularizer.get_config() == {'l2': 0.5}
    assert 'kernel_regularizer' not in FeedForward(8).get_config()  # unchanged config without one


def test_unseeded_initializer_draws_new_values_on_every_call():
    init = tf.keras.initializers.TruncatedNormal(stddev=0.02)
    a, b = init((4, 4)).numpy(), init((4, 4)).numpy()
    assert not np.allclose(a, b)
    seeded = tf.keras.initializers.GlorotUniform(seed=3)  # a seed still fixes the values
    np.testing.assert_array_equal(seeded((4, 4)).numpy(), seeded((4, 4)).numpy())


def test_from_scratch_attention_kernels_differ_and_reproduce_from_the_seed():
    config = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  hidden_act='gelu', max_position_embeddings=32)

    def kernels(seed):
        tf.keras.utils.set_random_seed(seed)
        model = build_model(config, application='lm').model
        return [w.numpy() for w in model.weights if 'MultiHeadSelfAttention' in w.name and 'kernel' in w.name]

    first = kernels(0)
    assert len(first) == 4  # q, k, v, o
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(first[i], first[j]), (i, j)
    for a, b in zip(first, kernels(0)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], kernels(1)[0])
