import numpy as np
import tensorflow as tf

from bert4keras_ext.classification import build_char_cnn
from bert4keras_ext.robustness import fgsm_embedding_accuracy, fgsm_embedding_predictions
from bert4keras_ext.training import WeightNormHistory


def test_fgsm_lowers_accuracy_and_restores_embeddings():
    rng = np.random.RandomState(0)
    x = rng.randint(1, 30, size=(64, 10)).astype('int32')
    y = (x[:, 0] > 15).astype('int32')
    model = build_char_cnn(30, 2, embedding_dim=8, filters=16, hidden=8)
    model.compile(tf.keras.optimizers.Adam(1e-2),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    norms = WeightNormHistory([model.get_layer('conv').kernel])
    model.fit(x, y, epochs=30, verbose=0, callbacks=[norms])
    emb = model.get_layer('char_embedding').embeddings
    before = emb.numpy().copy()
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    acc = fgsm_embedding_accuracy(model, emb, x, y, [0.0, 0.5], loss)
    np.testing.assert_array_equal(emb.numpy(), before)
    clean = np.mean(model.predict(x, verbose=0).argmax(1) == y)
    assert acc[0.0] == clean and clean > 0.9
    assert acc[0.5] < acc[0.0]
    assert len(norms.history['conv/kernel:0']) == 31
    preds = fgsm_embedding_predictions(model, emb, x, y, [0.0, 0.5], loss)   # per item, same attack
    np.testing.assert_array_equal(preds[0.0], model.predict(x, verbose=0).argmax(1))
    assert [float(np.mean(preds[e] == y)) for e in (0.0, 0.5)] == [acc[0.0], acc[0.5]]
    np.testing.assert_array_equal(emb.numpy(), before)
