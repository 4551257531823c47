"""The interface :class:`~bert4keras_ext.decoding.Decoder` drives, shared by its three backends:

* :class:`~bert4keras_ext.decoding.CachedLM` — bert4keras BERT ``lm``/``unilm`` models, KV cache;
* :class:`~bert4keras_ext.decoding.UncachedLM` — any Keras next-token model, the sequence re-run each step;
* :class:`~bert4keras_ext.decoding.RecurrentLM` — the LSTM language models, the recurrent state as cache.
"""
import tensorflow as tf


class LMBackend:
    """Next-token log-probs with a state carried from step to step.

    A subclass sets ``vocab_size`` (and ``max_position`` when positions are bounded), implements

    * ``_prefill(ids, segments, lengths, capacity) -> (log_probs [b, V], state)``: run the right-padded prompts
      ``[b, S]`` (``lengths`` real tokens each) and return the next-token log-probs at each row's last real token;
      ``capacity`` = S + the most tokens that will be generated;
    * ``_step(tokens, positions, slot, prompt_size, prompt_real, state) -> (log_probs, state)``: one new token
      per row (position id ``positions``, cache slot ``slot``; ``prompt_real [b, capacity]`` marks real prompt
      slots);

    and calls :meth:`compile_functions`, which makes the compiled ``prefill``, ``step`` and ``reorder_step`` (the
    step after re-ordering the state's rows by ``parents``, for beam search) that the decoder calls. The state is
    any nest of tensors whose first axis is the row.

    Example::

        class Bigram(LMBackend):
            def __init__(self, table):                      # table [V, V] of log-probs
                self.table, self.vocab_size = table, table.shape[0]
                self.compile_functions()

            def _prefill(self, ids, segments, lengths, capacity):
                last = tf.gather(ids, lengths - 1, batch_dims=1)
                return tf.gather(self.table, last), {'last': last}

            def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
                return tf.gather(self.table, tokens), {'last': tokens}
    """
    max_position = 10 ** 9

    def compile_functions(self, jit_compile=False):
        """``prefill`` (tf.function), ``step`` and ``reorder_step`` (tf.function, XLA with ``jit_compile``)."""
        self.prefill = tf.function(self._prefill, reduce_retracing=True)
        self.step = tf.function(self._step, reduce_retracing=True, jit_compile=jit_compile)
        self.reorder_step = tf.function(self._reorder_step, reduce_retracing=True, jit_compile=jit_compile)

    def _prefill(self, ids, segments, lengths, capacity):
        raise NotImplementedError

    def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
        raise NotImplementedError

    def _reorder_step(self, parents, tokens, positions, slot, prompt_size, prompt_real, state):
        state = tf.nest.map_structure(lambda t: tf.gather(t, parents), state)
        return self._step(tokens, positions, slot, prompt_size, prompt_real, state)
