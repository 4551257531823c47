"""BERT-of-Theseus (article 3, kexue.fm/archives/7575; Xu et al., EMNLP 2020): compress an N-layer model into n
layers by training a model in which each successor module randomly replaces the N/n predecessor layers it stands
for, while the predecessor (and the task head) stay frozen.

* :class:`ModuleReplacement` — mixes ``[predecessor_output, successor_output]``: in training, the successor with
  probability ``rate`` (one Bernoulli draw per batch, as the article, or per sample); at inference always the
  successor. ``rate`` lives in a non-trainable variable, so schedulers change it without recompiling.
* :func:`build_theseus` — wires predecessor/successor bert4keras builders and a shared head into the predecessor,
  successor and Theseus Keras models; :class:`TheseusModel` keeps the predecessor and the head out of its
  trainable weights (frozen there, trainable elsewhere).
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
    """Initialise the successor's embeddings and its layer i from the predecessor's embeddings and layer i (the
    paper's initialisation of the successor; the task script loads the successor from the same checkpoint instead).

    Args:
        predecessor, successor: bert4keras ``Transformer`` builders (different prefixes, same hidden size).

    Returns:
        The number of weights copied.

    Example::

        copy_first_layers(predecessor, successor)
    """
    pairs = []
    for name, layer in successor.layers.items():
        short = name[len(successor.prefix):]
        source = predecessor.layers.get(predecessor.prefixed(short))
        if isinstance(source, tf.keras.layers.Layer) and isinstance(layer, tf.keras.layers.Layer) \
                and source.weights and layer.weights:
            pairs += list(zip(layer.weights, source.get_weights()))
    tf.keras.backend.batch_set_value(pairs)
    return len(pairs)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class TheseusModel(tf.keras.Model):
    """A functional model in which the layers named in ``frozen`` never train: they are left out of
    ``trainable_weights``, so no optimizer (weight decay included) touches them, whatever their own ``trainable``
    flag says. The layers stay trainable in every other model that shares them (the predecessor and successor
    models of :func:`build_theseus`), and the frozen set is part of the config (it survives ``.keras`` save/load).

    Args:
        inputs, outputs: as ``tf.keras.Model``.
        frozen: names of layers of this model (a nested model such as the head counts as one layer).

    Example::

        inp = tf.keras.Input((4,))
        old = tf.keras.layers.Dense(4, name='old')(inp)
        model = TheseusModel(inp, tf.keras.layers.Dense(1, name='new')(old), frozen=['old'])
        assert [w.name for w in model.trainable_weights] == ['new/kernel:0', 'new/bias:0']
    """

    def __init__(self, *args, frozen=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.frozen = [f if isinstance(f, str) else f.name for f in frozen]
        unknown = [name for name in self.frozen if name not in {layer.name for layer in self.layers}]
        if unknown:
            raise ValueError('frozen layers %s are not layers of this model' % unknown[:5])

    def _frozen_ids(self):
        return {id(w) for name in self.frozen for w in self.get_layer(name).weights}

    @property
    def trainable_weights(self):
        frozen = self._frozen_ids()
        return [w for w in super().trainable_weights if id(w) not in frozen]

    @property
    def non_trainable_weights(self):
        frozen = self._frozen_ids()
        moved = [w for w in super().trainable_weights if id(w) in frozen]
        return moved + super().non_trainable_weights

    def get_config(self):
        from bert4keras_ext.functional import network_config
        config = network_config(self)
        config['frozen'] = list(self.frozen)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from bert4keras_ext.functional import from_network_config
        config = dict(config)
        frozen = config.pop('frozen', [])
        return from_network_config(cls, config, custom_objects, frozen=frozen)


def build_theseus(predecessor, successor, head, rate=0.5, per_sample=False, seed=None):
    """Wire the predecessor, the successor and the Theseus model of BERT-of-Theseus around one shared head.

    Fine-tune ``predecessor_model`` first (it and ``successor_model`` train as usual); then train
    ``theseus_model``, a :class:`TheseusModel` in which the predecessor's layers and the head are frozen (only the
    successor's weights train, whatever optimizer or weight decay is used); then fine-tune ``successor_model`` alone.

    Args:
        predecessor, successor: bert4keras ``Transformer`` builders, built with different prefixes (e.g.
            'Predecessor-', 'Successor-'); the predecessor's depth a multiple of the successor's.
        head: a Keras model on the encoder's sequence output; one with two inputs (a mean-pooling head,
            ``classification.head_model(pooling='mean')``) is called as ``head([sequence, token_ids])``.
        rate, per_sample, seed: of the :class:`ModuleReplacement` layers.

    Returns:
        ``(predecessor_model, successor_model, theseus_model)``.

    Example::

        p_model, s_model, t_model = build_theseus(predecessor, successor, head, rate=0.5)
    """
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
    output = apply_head(x, inputs)
    probe = tf.keras.Model(inputs, output)  # to list the layers the Theseus graph uses
    theirs = {id(w) for w in predecessor.model.weights} | {id(w) for w in head.weights}
    frozen = [layer.name for layer in probe.layers
              if layer.weights and all(id(w) in theirs for w in layer.weights)]
    theseus_model = TheseusModel(inputs, output, frozen=frozen)
    return predecessor_model, successor_model, theseus_model


def export_successor(successor, directory, vocab=None):
    """The successor as a Google-format checkpoint directory (bert_config.json with its own depth,
    bert_model.ckpt.*, and ``vocab`` if given), readable by :func:`bert4keras_ext.checkpoints.load_model`."""
    from bert4keras_ext.checkpoints import save_checkpoint_dir
    return save_checkpoint_dir(successor, directory, vocab=vocab)
