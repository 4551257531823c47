"""The interface :class:`~bert4keras_ext.decoding.Decoder` drives, shared by its three backends:

* :class:`~bert4keras_ext.decoding.CachedLM` — bert4keras BERT ``lm``/``unilm`` models, KV cache;
* :class:`~bert4keras_ext.decoding.UncachedLM` — any Keras next-token model, the sequence re-run each step;
* :class:`~bert4keras_ext.decoding.RecurrentLM` — the LSTM language models, the recurrent state as cache.
"""
import numpy as np
import tensorflow as tf


def top_k_by_argmax(x, k):
    """``tf.math.top_k(x, k)`` (sorted, ties to the lower index) as ``k`` arg-max passes: XLA's top-k on CPU sorts the
    whole row (18 vs 2 ms a beam-4 step at tiny size, vocabulary 21,128); k reductions are cheap for small k."""
    values, index = [], []
    for _ in range(k):
        i = tf.argmax(x, -1, output_type=tf.int32)
        values.append(tf.gather(x, i, batch_dims=1))
        index.append(i)
        x = tf.where(tf.range(tf.shape(x)[-1])[None, :] == i[:, None], tf.constant(-np.inf, x.dtype), x)
    return tf.stack(values, -1), tf.stack(index, -1)


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
        """``prefill`` (tf.function), ``step`` and ``reorder_step`` (tf.function, XLA with ``jit_compile``), and
        ``greedy_loop`` / ``beam_loop`` (the whole greedy / beam-search loop as one tf.function)."""
        self.prefill = tf.function(self._prefill, reduce_retracing=True)
        self.step = tf.function(self._step, reduce_retracing=True, jit_compile=jit_compile)
        self.reorder_step = tf.function(self._reorder_step, reduce_retracing=True, jit_compile=jit_compile)
        self.greedy_loop = tf.function(self._greedy_loop, reduce_retracing=True, jit_compile=jit_compile)
        self.beam_loop = tf.function(self._beam_loop, reduce_retracing=True, jit_compile=jit_compile)

    def _prefill(self, ids, segments, lengths, capacity):
        raise NotImplementedError

    def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
        raise NotImplementedError

    def _greedy_loop(self, log_probs, state, lengths, prompt_size, prompt_real, maxlen, minlen, end_ids):
        """Greedy decoding in one graph (no per-step Python): from the prefill's ``log_probs [b, V]`` and state,
        up to ``maxlen`` arg-max tokens per row; a row stops on an end token once it has ``minlen`` tokens.
        Returns ``(tokens [b, maxlen] (0 after a row stopped), lengths_generated [b], scores [b], ended [b])``:
        the same tokens as the Python loop of :meth:`Decoder.sample` with ``greedy=True`` and no processors."""
        b = tf.shape(log_probs)[0]
        out = tf.zeros([b, maxlen], tf.int32)
        columns = tf.range(maxlen)[None, :]

        def body(t, lp, state, out, done, n, scores):
            tok = tf.argmax(lp, -1, output_type=tf.int32)
            tok = tf.where(done, tf.zeros_like(tok), tok)
            out = tf.where(columns == t, tok[:, None], out)
            live = tf.logical_not(done)
            scores = scores + tf.where(live, tf.cast(tf.gather(lp, tok, batch_dims=1), tf.float64),
                                       tf.zeros_like(scores))
            n = n + tf.cast(live, tf.int32)
            is_end = tf.reduce_any(tok[:, None] == end_ids[None, :], -1)
            done = done | (live & is_end & (t + 1 >= minlen))
            lp, state = tf.cond(
                (t + 1 < maxlen) & tf.logical_not(tf.reduce_all(done)),
                lambda: self._step(tok, lengths + t, prompt_size + t, prompt_size, prompt_real, state),
                lambda: (lp, state))
            return t + 1, lp, state, out, done, n, scores

        def cond(t, lp, state, out, done, n, scores):
            return (t < maxlen) & tf.logical_not(tf.reduce_all(done))

        _, _, _, out, done, n, scores = tf.while_loop(
            cond, body, (tf.constant(0), log_probs, state, out, tf.zeros([b], tf.bool), tf.zeros([b], tf.int32),
                         tf.zeros([b], tf.float64)), maximum_iterations=maxlen)
        return out, n, scores, done

    def _beam_loop(self, log_probs, state, lengths, prompt_size, prompt_real, beam_size, maxlen, minlen, end_ids):
        """bert4keras' beam search in one graph, for every input at once (``beam_size`` a Python int): per input,
        the global top-k over (live beams x vocabulary); when the best candidate ends (once ``minlen`` tokens are
        out) the input is done, otherwise finished candidates leave and the beam shrinks. Scores are float64 sums
        of the log-probs, as in the Python loop of :meth:`Decoder.beam_search`, so both pick the same tokens
        (ties aside). Returns ``(ids [b, maxlen], lengths [b], scores [b], ended [b])``."""
        k = int(beam_size)
        b, vocab = tf.shape(log_probs)[0], tf.shape(log_probs)[1]
        rows = tf.repeat(tf.range(b), k)
        state = tf.nest.map_structure(lambda x: tf.gather(x, rows), state)
        prompt_real, positions = tf.gather(prompt_real, rows), tf.gather(lengths, rows)
        lp = tf.gather(log_probs, rows)
        neg = tf.constant(-np.inf, tf.float64)
        slots = tf.range(k)[None, :]
        scores = tf.where(slots == 0, tf.constant(0.0, tf.float64), neg) + tf.zeros([b, 1], tf.float64)
        columns = tf.range(maxlen)[None, None, :]
        base = tf.range(b)[:, None] * k

        def body(t, lp, state, hist, scores, count, done, res_ids, res_len, res_score):
            cand = scores[:, :, None] + tf.cast(tf.reshape(lp, [b, k, vocab]), tf.float64)
            values, index = top_k_by_argmax(tf.reshape(cand, [b, k * vocab]), k)
            valid = slots < count[:, None]
            parent, token = index // vocab, index % vocab
            hist = tf.gather(hist, parent, batch_dims=1)
            hist = tf.where(columns == t, token[:, :, None], hist)
            is_end = tf.reduce_any(token[:, :, None] == end_ids[None, None, :], -1)
            can_stop = t + 1 >= minlen
            finish = tf.logical_not(done) & can_stop & is_end[:, 0] & valid[:, 0]
            res_ids = tf.where(finish[:, None], hist[:, 0], res_ids)
            res_len = tf.where(finish, t + 1, res_len)
            res_score = tf.where(finish, values[:, 0], res_score)
            done = done | finish
            keep = valid & (tf.logical_not(is_end) | tf.logical_not(can_stop))
            order = tf.argsort(tf.cast(tf.logical_not(keep), tf.int32), axis=1, stable=True)  # kept first, in order
            keep = tf.gather(keep, order, batch_dims=1)
            parent, token = tf.gather(parent, order, batch_dims=1), tf.gather(token, order, batch_dims=1)
            hist = tf.gather(hist, order, batch_dims=1)
            scores = tf.where(keep, tf.gather(values, order, batch_dims=1), neg)
            count = tf.reduce_sum(tf.cast(keep, tf.int32), 1)
            parents = tf.reshape(tf.where(keep, base + parent, base + slots), [-1])
            lp, state = tf.cond(
                (t + 1 < maxlen) & tf.logical_not(tf.reduce_all(done)),
                lambda: self._reorder_step(parents, tf.reshape(token, [-1]), positions + t, prompt_size + t,
                                           prompt_size, prompt_real, state),
                lambda: (lp, state))
            out = (lp, state, hist, scores, count, done, res_ids, res_len, res_score)
            return (t + 1,) + tf.nest.map_structure(lambda new, old: tf.ensure_shape(new, old.shape), out, loop_in)

        def cond(t, *rest):
            return (t < maxlen) & tf.logical_not(tf.reduce_all(rest[5]))

        loop_in = (lp, state, tf.zeros([b, k, maxlen], tf.int32), scores, tf.fill([b], k), tf.zeros([b], tf.bool),
                   tf.zeros([b, maxlen], tf.int32), tf.zeros([b], tf.int32), tf.zeros([b], tf.float64))
        t, _, _, hist, scores, _, done, res_ids, res_len, res_score = tf.while_loop(
            cond, body, (tf.constant(0),) + loop_in, maximum_iterations=maxlen)
        best = tf.argmax(scores, 1, output_type=tf.int32)  # inputs still open: their best live beam
        res_ids = tf.where(done[:, None], res_ids, tf.gather(hist, best, batch_dims=1))
        res_len = tf.where(done, res_len, tf.fill([b], t))
        res_score = tf.where(done, res_score, tf.gather(scores, best, batch_dims=1))
        return res_ids, res_len, res_score, done

    def _reorder_step(self, parents, tokens, positions, slot, prompt_size, prompt_real, state):
        state = tf.nest.map_structure(lambda t: tf.gather(t, parents), state)
        return self._step(tokens, positions, slot, prompt_size, prompt_real, state)
