"""Small language models for the non-termination study (article 1): a bert4keras 'lm' Transformer and an LSTM,
each with the standard softmax or the self-terminating head, all outputting next-token log-probs ``[b, n, V]``,
decoded through :class:`bert4keras_ext.decoding.RecurrentLM` (the LSTM) or :class:`~bert4keras_ext.decoding.CachedLM`.

Train any of them with ``loss=NextTokenNLL()`` on ``(ids[:, :-1], ids[:, 1:])``-style data (padding id 0 is
masked by the sample weights you pass)."""
import numpy as np
import tensorflow as tf

from bert4keras_ext.layers.termination import SelfTerminatingHead


@tf.keras.utils.register_keras_serializable(package='bert4keras_ext')
class LogSoftmax(tf.keras.layers.Layer):
    def call(self, logits):
        return tf.nn.log_softmax(logits, -1)

    def compute_mask(self, inputs, mask=None):
        return None


def build_transformer_lm(config, self_terminating=False, eos_id=None, epsilon=1e-2):
    """``(transformer, model)``: inputs ``[token_ids, segment_ids]``; output log-probs. With ``self_terminating``
    the head reads the MLM logits and the last encoder layer's hidden states (every position is a step)."""
    from bert4keras_ext.models import build_model
    transformer = build_model(config, application='lm', with_mlm='linear')
    logits = transformer.model.output
    if self_terminating:
        hidden = transformer.layers['Transformer-%d-FeedForward-Norm' % (transformer.num_hidden_layers - 1)].output
        out = SelfTerminatingHead(eos_id, epsilon, name='ST-Head')([logits, hidden])
    else:
        out = LogSoftmax(name='LM-LogSoftmax')(logits)
    return transformer, tf.keras.Model(transformer.model.inputs, out)


def build_lstm_lm(vocab_size, embedding_dim=128, units=256, self_terminating=False, eos_id=None, epsilon=1e-2):
    """An LSTM LM on token ids ``[b, n]`` (0 = padding) -> log-probs ``[b, n, V]``."""
    ids = tf.keras.Input((None,), dtype='int32', name='token_ids')
    x = tf.keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name='lstm_embedding')(ids)
    h = tf.keras.layers.LSTM(units, return_sequences=True, name='lstm')(x)
    logits = tf.keras.layers.Dense(vocab_size, name='lstm_logits')(h)
    if self_terminating:
        out = SelfTerminatingHead(eos_id, epsilon, name='ST-Head')([logits, h])
    else:
        out = LogSoftmax(name='LM-LogSoftmax')(logits)
    return tf.keras.Model(ids, out)


@tf.keras.utils.register_keras_serializable(package='bert4keras_ext')
class NextTokenNLL(tf.keras.losses.Loss):
    """Negative log-likelihood of integer targets under log-prob outputs."""

    def __init__(self, name='next_token_nll', **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return -tf.gather(y_pred, tf.cast(y_true, tf.int32), batch_dims=len(y_pred.shape) - 1)


def teacher_forced_log_probs(model, inputs, targets, mask):
    """Per-token log-probs of ``targets`` (for perplexity), masked entries dropped."""
    lp = model.predict(inputs, verbose=0)
    picked = np.take_along_axis(lp, targets[..., None], axis=-1)[..., 0]
    return picked[mask.astype(bool)]
