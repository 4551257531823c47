"""Self-terminating output head (article 1, kexue.fm/archives/7500; Welleck et al., "Consistency of a Recurrent
Language Model With Respect to Incomplete Decoding", EMNLP 2020).

    p(eos | y<t) = 1 - prod_{i<=t} s_i,   s_i = (1 - eps) * sigmoid(w_eos . h_i + b_eos)
    p(v   | y<t) = prod_{i<=t} s_i * softmax_{V \\ eos}(logits_t)_v        (v != eos)

so p(eos) at step t is at least 1 - (1 - eps)^(t+1) and never decreases: greedy decoding must stop within
ceil(-ln 2 / ln(1 - eps)) steps. Everything is in log space: ``log P_t`` is a cumulative sum of
``log(1 - eps) + log_sigmoid(u_i)`` over *decoding-step* positions (``step_mask``; for a UniLM the positions that
predict target tokens), computed in parallel under teacher forcing; :meth:`SelfTerminatingHead.step` does one
step from the running ``log P`` (the decoder state).
"""
import numpy as np
import tensorflow as tf

PACKAGE = 'bert4keras_ext'


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SelfTerminatingHead(tf.keras.layers.Layer):
    """Inputs ``[logits [b, n, V], hidden [b, n, d]]`` or ``[logits, hidden, step_mask [b, n]]``; output: log-probs
    ``[b, n, V]`` (rows sum to 1 in probability). ``eos_id``: the end token; ``epsilon`` in (0, 1).

    ``gate_bias_init``: the gate's initial bias; by default ``log((1 - eps) / eps)``, so that an untrained head
    starts open (``s = (1 - eps)^2`` per step) and the model learns where to close it. A zero bias
    (``s = (1 - eps) / 2``) would make an untrained head end every sequence at its first steps, and one epoch of
    Adam at 1e-3 (a bias step of at most ~1e-3 per update) does not open it: in the first full run of article 1 the
    self-terminating LMs kept 8.4x (Transformer) and 2.5x (LSTM) the held-out perplexity of their softmax twins and
    their greedy continuations ended at the first step after every prefix."""

    def __init__(self, eos_id, epsilon=1e-3, gate_bias_init=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 < epsilon < 1:
            raise ValueError('epsilon must be in (0, 1), got %r' % (epsilon,))
        self.eos_id, self.epsilon = int(eos_id), float(epsilon)
        self.gate_bias_init = float(np.log((1 - self.epsilon) / self.epsilon) if gate_bias_init is None
                                    else gate_bias_init)

    def build(self, input_shape):
        d = int(input_shape[1][-1])
        self.gate = self.add_weight(name='eos_kernel', shape=(d,), initializer='zeros')
        self.gate_bias = self.add_weight(name='eos_bias', shape=(),
                                         initializer=tf.keras.initializers.Constant(self.gate_bias_init))
        super().build(input_shape)

    def log_s(self, hidden):
        u = tf.tensordot(hidden, self.gate, axes=[[-1], [0]]) + self.gate_bias
        return np.log1p(-self.epsilon) + tf.math.log_sigmoid(u)

    def combine(self, logits, log_product):
        """Log-probs from logits and ``log P`` (broadcast over the vocabulary)."""
        vocab = tf.shape(logits)[-1]
        is_eos = tf.equal(tf.range(vocab), self.eos_id)
        others = tf.nn.log_softmax(tf.where(is_eos, tf.cast(-np.inf, logits.dtype), logits), -1)
        log_eos = tf.math.log(-tf.math.expm1(log_product))
        return tf.where(is_eos, log_eos[..., None], others + log_product[..., None])

    def call(self, inputs):
        logits, hidden = inputs[0], inputs[1]
        log_s = self.log_s(hidden)
        if len(inputs) > 2:
            log_s = log_s * tf.cast(inputs[2], log_s.dtype)
        return self.combine(logits, tf.cumsum(log_s, axis=1))

    def step(self, logits, hidden, log_product):
        """One decoding step: ``logits [b, V]``, ``hidden [b, d]``, previous ``log_product [b]`` (0 at the start)
        -> ``(log_probs [b, V], new log_product)``."""
        log_product = log_product + self.log_s(hidden)
        return self.combine(logits, log_product), log_product

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(eos_id=self.eos_id, epsilon=self.epsilon, gate_bias_init=self.gate_bias_init)
        return config


def greedy_stop_bound(epsilon):
    """Steps within which greedy decoding with the head must emit eos: ceil(-ln 2 / ln(1 - eps))."""
    return int(np.ceil(-np.log(2) / np.log1p(-epsilon)))


def target_step_mask(segment_ids):
    """UniLM: positions whose output predicts a target (segment-1) token, i.e. ``segment[i + 1] == 1``."""
    seg = tf.convert_to_tensor(segment_ids)
    nxt = tf.concat([seg[:, 1:], tf.zeros_like(seg[:, :1])], axis=1)
    return tf.cast(nxt > 0, tf.float32)
