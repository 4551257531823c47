"""Decoder backend of the recurrent (LSTM) language models of :mod:`bert4keras_ext.language_models`."""
import tensorflow as tf

from bert4keras_ext.decoding.backend import LMBackend


class RecurrentLM(LMBackend):
    """The decoder backend (:class:`~bert4keras_ext.decoding.LMBackend`) of
    :func:`bert4keras_ext.language_models.build_lstm_lm` models: the LSTM state (and the self-terminating
    product) is the cache."""

    def __init__(self, model):
        self.embedding = model.get_layer('lstm_embedding')
        self.cell = model.get_layer('lstm').cell
        self.dense = model.get_layer('lstm_logits')
        names = [layer.name for layer in model.layers]
        self.head = model.get_layer('ST-Head') if 'ST-Head' in names else None
        self.vocab_size = int(self.dense.units)
        self.compile_functions()

    def _output(self, h, log_product):
        logits = self.dense(h)
        if self.head is None:
            return tf.nn.log_softmax(logits, -1), log_product
        return self.head.step(logits, h, log_product)

    def _prefill(self, ids, segments, lengths, capacity):
        b = tf.shape(ids)[0]
        units = self.cell.units
        h, c = tf.zeros([b, units]), tf.zeros([b, units])
        log_product = tf.zeros([b])
        emb = self.embedding(ids)
        for t in tf.range(tf.shape(ids)[1]):
            out, (h_new, c_new) = self.cell(emb[:, t], [h, c])
            real = (t < lengths)[:, None]
            h, c = tf.where(real, h_new, h), tf.where(real, c_new, c)
            if self.head is not None:  # every real position but the last (added by _output) is a step
                log_product = log_product + self.head.log_s(h) * tf.cast(t + 1 < lengths, tf.float32)
        log_probs, log_product = self._output(h, log_product)
        return log_probs, {'h': h, 'c': c, 'log_product': log_product}

    def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
        out, (h, c) = self.cell(self.embedding(tokens), [state['h'], state['c']])
        log_probs, log_product = self._output(h, state['log_product'])
        return log_probs, {'h': h, 'c': c, 'log_product': log_product}
