"""Sentence vectors from a BERT sequence output for classification heads."""
import tensorflow as tf
from tensorflow import keras

PACKAGE = 'bert4keras_ext'


@keras.utils.register_keras_serializable(package=PACKAGE)
class MaskedMeanPool(keras.layers.Layer):
    """Mean of the sequence vectors ``[b, n, d]`` over the real tokens (token id > 0, [CLS] and [SEP] included):
    ``[b, d]``. Inputs: ``[sequence, token_ids]``.

    An MLM-only pretrained BERT (no next-sentence task, as the package's default model) never trains its [CLS]
    output; the mean of the token vectors is a sentence vector it did train. ``benchmarks/finetune_recipe.py``
    chooses between them on validation data.
    """

    def call(self, inputs):
        x, ids = inputs
        w = tf.cast(ids > 0, x.dtype)[..., None]
        return tf.reduce_sum(x * w, axis=1) / tf.maximum(tf.reduce_sum(w, axis=1), tf.cast(1, x.dtype))

    def compute_mask(self, inputs, mask=None):
        return None
