"""Named, serializable replacements for the ``Lambda`` closures that bert4keras builds.

bert4keras 0.11.5 computes the LM / UniLM attention masks and the BERT pooler input with ``Lambda`` layers around
Python closures; a ``.keras`` file holding such a layer only loads with ``safe_mode=False``. These three layers do
the same computations as registered classes, and :mod:`bert4keras_ext.compat` makes ``Transformer.apply`` build
them in place of the ``Lambda`` layers (same layer names, so weight mapping and layer re-use are unchanged).
"""
import tensorflow as tf
from tensorflow import keras

PACKAGE = 'bert4keras_ext'


class _NoMaskLayer(keras.layers.Layer):
    """Base: the output carries no Keras mask (as the Lambda layers it replaces)."""

    def compute_mask(self, inputs, mask=None):
        return None


@keras.utils.register_keras_serializable(package=PACKAGE)
class LMMask(_NoMaskLayer):
    """Causal (lower-triangular) attention mask ``[q, k]`` from token ids ``[b, n]``: ``mask[i, j] = j <= i``."""

    def call(self, token_ids):
        n = tf.shape(token_ids)[1]
        idxs = tf.range(n)
        return idxs[None, :] <= idxs[:, None]


@keras.utils.register_keras_serializable(package=PACKAGE)
class UniLMMask(_NoMaskLayer):
    """UniLM attention mask ``[b, q, k]`` from segment ids ``[b, n]`` (0 = source, 1 = target).

    Source positions see the whole source; each target position sees the source and the targets up to itself.
    """

    def call(self, segment_ids):
        idxs = tf.cumsum(segment_ids, axis=1)
        return idxs[:, None, :] <= idxs[:, :, None]


@keras.utils.register_keras_serializable(package=PACKAGE)
class TakeFirstToken(_NoMaskLayer):
    """``x[:, 0]``: the [CLS] vector that the BERT pooler reads."""

    def call(self, x):
        return x[:, 0]
