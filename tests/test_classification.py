import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext import classification as clf


def data(n=96, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, 6)).astype('float32')
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype('int32')


def small():
    inp = tf.keras.Input((6,))
    return tf.keras.Model(inp, tf.keras.layers.Dense(2)(tf.keras.layers.Dense(16, activation='relu')(inp)))


LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_warmup_linear_decay_shape():
    s = clf.WarmupLinearDecay(1.0, 10, 110)
    np.testing.assert_allclose([float(s(t)) for t in (0, 4, 9, 60, 110, 200)], [0.1, 0.5, 1.0, 0.5, 0.0, 0.0],
                               atol=1e-6)


def test_fine_tune_learns_is_seeded_and_keeps_the_best_epoch():
    x, y = data()
    xv, yv = data(64, seed=1)
    runs = []
    for _ in range(2):
        tf.keras.utils.set_random_seed(7)
        model = small()
        _, keep = clf.fine_tune(model, LOSS, x, y, seed=3, validation_data=(xv, yv), epochs=6, batch_size=16,
                                learning_rate=3e-2)
        runs.append(([w.copy() for w in model.get_weights()], keep.scores, keep.best_epoch))
    (w1, scores, best), (w2, scores2, _) = runs
    assert scores == scores2 and all(np.array_equal(a, b) for a, b in zip(w1, w2))  # same seed, same run
    assert max(scores) > 0.85 and best == int(np.argmax(scores))
    assert clf.accuracy(model, xv, yv) == pytest.approx(max(scores))  # the best epoch's weights are back


def test_fine_tune_rejects_unknown_recipe_keys():
    x, y = data(16)
    with pytest.raises(TypeError, match='unknown recipe keys: lr'):
        clf.fine_tune(small(), LOSS, x, y, lr=1e-3)


def test_length_batches_cover_every_row_once_and_cut_padding():
    rng = np.random.RandomState(0)
    lengths = rng.randint(2, 30, size=100)
    ids = np.zeros((100, 30), 'int32')
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.randint(5, 40, size=n)
    y = np.arange(100)
    data = clf.LengthBatches([ids, np.zeros_like(ids)], y, batch_size=8, seed=1, window=4)
    seen = []
    for i in range(len(data)):
        (xi, si), yi = data[i]
        assert xi.shape[1] == min(30, -(-max(lengths[yi]) // 8) * 8) and si.shape == xi.shape  # cut, rounded to 8
        np.testing.assert_array_equal(xi, ids[yi, :xi.shape[1]])
        seen += list(yi)
    assert sorted(seen) == list(range(100))
    padded = sum(xi.shape[1] * len(yi) for (xi, _), yi in (data[i] for i in range(len(data))))
    assert padded < 0.8 * 30 * 100  # far fewer positions than padding every row to 30
    first = [list(b) for b in data.batches]
    data.on_epoch_end()
    assert [list(b) for b in data.batches] != first  # reshuffled each epoch
    again = clf.LengthBatches([ids, np.zeros_like(ids)], y, batch_size=8, seed=1, window=4)
    assert [list(b) for b in again.batches] == first  # and reproducible from the seed


def test_bucketed_prediction_equals_padded_prediction(tiny_dir):
    from bert4keras_ext.checkpoints import load_model
    encoder, _ = load_model(tiny_dir)
    model = tf.keras.Model(encoder.inputs, tf.keras.layers.Dense(2)(clf.TakeFirstToken()(encoder.output)))
    rng = np.random.RandomState(2)
    ids = np.zeros((20, 16), 'int32')
    for i, n in enumerate(rng.randint(3, 16, size=20)):
        ids[i, :n] = rng.randint(5, 40, size=n)
        ids[i, 0] = 2
    x = [ids, np.zeros_like(ids)]
    np.testing.assert_allclose(clf.predict_logits(model, x, batch_size=4), model.predict(x, verbose=0), atol=1e-5)


def test_masked_mean_pool_averages_real_tokens_only():
    from bert4keras_ext.layers import MaskedMeanPool
    x = np.arange(2 * 3 * 2, dtype='float32').reshape(2, 3, 2)
    ids = np.array([[4, 5, 0], [0, 0, 0]], 'int32')
    out = MaskedMeanPool()([x, ids]).numpy()
    np.testing.assert_allclose(out[0], x[0, :2].mean(0))
    np.testing.assert_allclose(out[1], 0)  # no real token: zeros, not NaN


def test_char_cnn_layers_do_not_share_one_value_stream():
    model = clf.build_char_cnn(30, 2, embedding_dim=8, filters=16, hidden=8, seed=0)
    # Glorot-uniform limits sqrt(6 / (fan_in + fan_out)); divided out, a shared seed would give equal prefixes
    conv = model.get_layer('conv').kernel.numpy().ravel() / np.sqrt(6 / (3 * 8 + 3 * 16))
    hidden = model.get_layer('hidden').kernel.numpy().ravel() / np.sqrt(6 / (16 + 8))
    logits = model.get_layer('logits').kernel.numpy().ravel() / np.sqrt(6 / (8 + 2))
    assert not np.allclose(conv[:16], hidden[:16], atol=1e-4)
    assert not np.allclose(hidden[:16], logits[:16], atol=1e-4)
    again = clf.build_char_cnn(30, 2, embedding_dim=8, filters=16, hidden=8, seed=0)
    np.testing.assert_array_equal(again.get_layer('conv').kernel.numpy().ravel() / np.sqrt(6 / (3 * 8 + 3 * 16)),
                                  conv)


def test_build_classifier_checks_the_vocabulary(tiny_dir, tmp_path):
    """build_classifier loaded the checkpoint without its vocabulary: the vocab/config check never ran on the task
    path. A vocab.txt beside the config is now checked, and dict_path= names another."""
    import os
    import shutil
    from bert4keras_ext.checkpoints import CheckpointError
    d = tmp_path / 'ckpt'
    shutil.copytree(tiny_dir, d)
    with open(d / 'vocab.txt', 'a') as f:
        f.write('extra1\n')
    with pytest.raises(CheckpointError, match='vocab.txt has 41 tokens'):
        clf.build_classifier(str(d / 'bert_config.json'), str(d / 'bert_model.ckpt'), 2)
    with pytest.raises(CheckpointError, match='vocab.txt has 41 tokens'):
        clf.build_classifier(os.path.join(tiny_dir, 'bert_config.json'), os.path.join(tiny_dir, 'bert_model.ckpt'),
                             2, dict_path=str(d / 'vocab.txt'))
    model, _ = clf.build_classifier(os.path.join(tiny_dir, 'bert_config.json'),
                                    os.path.join(tiny_dir, 'bert_model.ckpt'), 2)
    assert model.output.shape[-1] == 2


@pytest.mark.parametrize('metrics', [None, ['accuracy']])
def test_fine_tune_traces_its_train_step_once_and_trains_as_an_unbuilt_optimizer_would(monkeypatch, metrics):
    x, y = data()
    weights, traces = [], []
    for prebuild in (True, False):
        if not prebuild:  # the slow path: fit builds the optimizer (and metrics) inside its first trace
            monkeypatch.setattr(clf, 'build_before_fit', lambda model, y: model)
        tf.keras.utils.set_random_seed(7)
        model = small()
        history, _ = clf.fine_tune(model, LOSS, x, y, seed=3, epochs=2, batch_size=16, learning_rate=3e-2,
                                   restore_best=False, metrics=metrics)
        weights.append(model.get_weights())
        traces.append(model.train_function.experimental_get_tracing_count())
        if metrics:
            assert len(history.history['accuracy']) == 2
    assert traces == [1, 2]
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fine_tune_trains_a_subclassed_model_that_was_never_called():
    class Net(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = tf.keras.layers.Dense(16, activation='relu'), tf.keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.hidden(x))

    x, y = data()
    tf.keras.utils.set_random_seed(7)
    model = Net()
    history, _ = clf.fine_tune(model, LOSS, x, y, epochs=3, batch_size=16, learning_rate=3e-2, restore_best=False,
                               metrics=['accuracy'])
    assert history.history['loss'][-1] < history.history['loss'][0]
