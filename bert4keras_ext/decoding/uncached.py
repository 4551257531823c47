"""Decoder backend for any Keras model mapping ``[token_ids, segment_ids]`` (or ``token_ids``) to next-token
distributions ``[b, n, V]``: the whole sequence is re-run every step (no KV cache), but compiled with stable shapes
(a fixed-capacity token buffer) and batched. Use it for models :class:`CachedLM` does not know."""
import tensorflow as tf

from bert4keras_ext.decoding.backend import LMBackend


class UncachedLM(LMBackend):
    """model: Keras model; outputs: 'probas' (softmax outputs, bert4keras' default), 'logits' or 'log_probs';
    target_segment: segment id of generated tokens (1 for UniLM, 0 for LM); segments=False for a model whose only
    input is the token ids. Token id 0 is padding."""

    def __init__(self, model, outputs='probas', target_segment=1, segments=True):
        if outputs not in ('probas', 'logits', 'log_probs'):
            raise ValueError("outputs must be 'probas', 'logits' or 'log_probs', got %r" % (outputs,))
        self.model, self.outputs, self.segment, self.segments = model, outputs, int(target_segment), segments
        self.vocab_size = int(model.output_shape[-1])
        self.compile_functions()

    def _next(self, ids, segs, last):
        x = [ids, segs] if self.segments else ids
        out = tf.gather(self.model(x, training=False), last, batch_dims=1)
        if self.outputs == 'probas':
            return tf.math.log(tf.maximum(out, 1e-30))
        if self.outputs == 'logits':
            return tf.nn.log_softmax(out, -1)
        return out

    def _prefill(self, ids, segments, lengths, capacity):
        pad = [[0, 0], [0, capacity - tf.shape(ids)[1]]]
        state = {'ids': tf.pad(ids, pad), 'segs': tf.pad(segments, pad), 'len': lengths}
        return self._next(state['ids'], state['segs'], lengths - 1), state

    def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
        where = tf.one_hot(state['len'], tf.shape(state['ids'])[1], dtype=tf.int32)
        ids = state['ids'] * (1 - where) + tokens[:, None] * where
        segs = state['segs'] * (1 - where) + self.segment * where
        state = {'ids': ids, 'segs': segs, 'len': state['len'] + 1}
        return self._next(ids, segs, state['len'] - 1), state
