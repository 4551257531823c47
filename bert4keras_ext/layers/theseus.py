"""BERT-of-Theseus (article 3, kexue.fm/archives/7575; Xu et al., EMNLP 2020): compress an N-layer model into n
layers by training a model in which each successor module randomly replaces the N/n predecessor layers it stands
for, while the predecessor (and the task head) stay frozen.

* :class:`ModuleReplacement` — mixes ``[predecessor_output, successor_output]``: in training, the successor with
  probability ``rate`` (one Bernoulli draw per batch, as the article, or per sample); at inference always the
  successor. ``rate`` lives in a non-trainable variable, so schedulers change it without recompiling.
* :func:`build_theseus` — wires predecessor/successor bert4keras builders and a shared head into the predecessor,
  successor and Theseus Keras models.
* the callbacks that set ``rate`` (p = 0.5, the article; p_t = min(1, k t + b), the paper's curriculum) are in
  :mod:`bert4keras_ext.training.callbacks`: ``ConstantReplacementRate``, ``LinearReplacementRate``.
"""
import zlib

import tensorflow as tf

PACKAGE = 'bert4keras_ext'


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class ModuleReplacement(tf.keras.layers.Layer):
    """Mixes ``[predecessor_output, successor_output]``: while training the successor's output with probability
    ``rate`` (else the predecessor's), at inference always the successor's.

    Args:
        rate: initial replacement probability (a non-trainable variable ``self.rate``: callbacks such as
            ``bert4keras_ext.training.ConstantReplacementRate`` / ``LinearReplacementRate`` change it without
            recompiling).
        per_sample: one draw per sample instead of one per batch (the article draws per batch).
        seed: makes the draws reproducible. Layers sharing a seed still draw independently: the op seed mixes
            ``seed`` with the layer's name.

    Example::

        mixed = ModuleReplacement(rate=0.5, seed=0, name='replace-0')([predecessor_block, successor_block])
    """

    def __init__(self, rate=0.5, per_sample=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.initial_rate, self.per_sample, self.seed = float(rate), bool(per_sample), seed
        self.supports_masking = True

    def build(self, input_shape):
        self.rate = self.add_weight(name='replacement_rate', shape=(), trainable=False,
                                    initializer=tf.keras.initializers.Constant(self.initial_rate))
        super().build(input_shape)

    def call(self, inputs, training=None):
        predecessor, successor = inputs
        if not training:
            return successor
        shape = [tf.shape(successor)[0]] + [1] * (len(successor.shape) - 1) if self.per_sample else [1] * len(
            successor.shape)
        draw = tf.cast(tf.random.uniform(shape, seed=self._op_seed()) < self.rate, successor.dtype)
        return draw * successor + (1 - draw) * predecessor

    def _op_seed(self):
        if self.seed is None:
            return None
        return (int(self.seed) * 1000003 + zlib.crc32(self.name.encode('utf-8'))) % (2 ** 31 - 1)

    def compute_mask(self, inputs, mask=None):
        return mask[1] if isinstance(mask, (list, tuple)) else mask

    def get_config(self):
        config = super().get_config()
        config.update(rate=float(self.rate.numpy()) if self.built else self.initial_rate,
                      per_sample=self.per_sample, seed=self.seed)
        return config


def check_compatible(predecessor, successor):
    big, small = predecessor.num_hidden_layers, successor.num_hidden_layers
    if small > big:
        raise ValueError('the successor (%d layers) is deeper than the predecessor (%d layers)' % (small, big))
    if big % small:
        raise ValueError('predecessor depth %d is not divisible by successor depth %d: each successor layer must '
                         'replace the same number of predecessor layers' % (big, small))
    if predecessor.hidden_size != successor.hidden_size:
        raise ValueError('hidden sizes differ: predecessor %d, successor %d (the modules must be interchangeable)'
                         % (predecessor.hidden_size, successor.hidden_size))
    return big // small


def copy_first_layers(predecessor, successor):
    """Initialise the successor's embeddings and its layer i from the predecessor's embeddings and layer i."""
    pairs = []
    for name, layer in successor.layers.items():
        short = name[len(successor.prefix):]
        source = predecessor.layers.get(predecessor.prefixed(short))
        if isinstance(source, tf.keras.layers.Layer) and isinstance(layer, tf.keras.layers.Layer) \
                and source.weights and layer.weights:
            pairs += list(zip(layer.weights, source.get_weights()))
    tf.keras.backend.batch_set_value(pairs)
    return len(pairs)


def build_theseus(predecessor, successor, head, rate=0.5, per_sample=False, seed=None):
    """``(predecessor_model, successor_model, theseus_model)`` sharing ``head`` (a Keras model on the encoder's
    sequence output). In the Theseus model the predecessor's layers and the head are frozen: only successor
    weights train. Builders must be built with different prefixes (e.g. 'Predecessor-', 'Successor-').
    A head with two inputs (a mean-pooling head, ``classification.head_model(pooling='mean')``) is called as
    ``head([sequence, token_ids])``."""
    per_module = check_compatible(predecessor, successor)

    def apply_head(sequence, inputs):
        return head([sequence, inputs[0]]) if len(head.inputs) == 2 else head(sequence)

    predecessor_model = tf.keras.Model(predecessor.model.inputs,
                                       apply_head(predecessor.model.output, predecessor.model.inputs))
    successor_model = tf.keras.Model(successor.model.inputs,
                                     apply_head(successor.model.output, successor.model.inputs))
    inputs = predecessor.model.inputs
    x_p = predecessor.apply_embeddings(inputs)
    x_s = successor.apply_embeddings(inputs)
    x = ModuleReplacement(rate, per_sample, seed, name='Theseus-Replace-0')([x_p, x_s])
    for i in range(successor.num_hidden_layers):
        p = x
        for j in range(per_module):
            p = predecessor.apply_main_layers(p, i * per_module + j)
        s = successor.apply_main_layers(x, i)
        x = ModuleReplacement(rate, per_sample, seed, name='Theseus-Replace-%d' % (i + 1))([p, s])
    theseus_model = tf.keras.Model(inputs, apply_head(x, inputs))
    return predecessor_model, successor_model, theseus_model


def freeze_for_theseus(predecessor, head):
    """Freeze the predecessor's layers and the head (call before compiling the Theseus model)."""
    for layer in _layers(predecessor):
        layer.trainable = False
    head.trainable = False


def unfreeze(predecessor, head):
    for layer in _layers(predecessor):
        layer.trainable = True
    head.trainable = True


def _layers(builder):
    return [x for x in builder.layers.values() if isinstance(x, tf.keras.layers.Layer)]


def export_successor(successor, directory, vocab=None):
    """The successor as a Google-format checkpoint directory (bert_config.json with its own depth,
    bert_model.ckpt.*, and ``vocab`` if given), readable by :func:`bert4keras_ext.checkpoints.load_model`."""
    from bert4keras_ext.checkpoints import save_checkpoint_dir
    return save_checkpoint_dir(successor, directory, vocab=vocab)
