"""The interface :class:`~bert4keras_ext.decoding.Decoder` drives, shared by its three backends:

* :class:`~bert4keras_ext.decoding.CachedLM` — bert4keras BERT ``lm``/``unilm`` models, KV cache;
* :class:`~bert4keras_ext.decoding.UncachedLM` — any Keras next-token model, the sequence re-run each step;
* :class:`~bert4keras_ext.decoding.RecurrentLM` — the LSTM language models, the recurrent state as cache.
"""
import functools

import numpy as np
import tensorflow as tf

from bert4keras_ext.decoding.processors import run_processors


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


def draw(log_probs, u, block=128):
    """One token per row from the distribution ``exp(log_probs)`` (``-inf``: never), by the inverse CDF at ``u``
    ([N] uniforms in [0, 1)) in two levels (blocks of ``block`` tokens, then a token within the block): exact up
    to float32 rounding, and cheap inside XLA, whose CPU random generator made drawing a uniform per token (Gumbel
    or ``tf.random.stateless_categorical``) cost more than the model's step."""
    vocab = tf.shape(log_probs)[1]
    n_blocks = (vocab + block - 1) // block
    probs = tf.exp(log_probs - tf.reduce_max(log_probs, -1, keepdims=True))
    probs = tf.where(tf.math.is_nan(probs), tf.zeros_like(probs), probs)
    probs = tf.reshape(tf.pad(probs, [[0, 0], [0, n_blocks * block - vocab]]), [-1, n_blocks, block])
    mass = tf.reduce_sum(probs, -1)                                        # [N, blocks]
    cum = tf.cumsum(mass, 1)
    target = u * cum[:, -1]
    last_block = n_blocks - 1 - tf.argmax(tf.cast(tf.reverse(mass, [1]) > 0, tf.int32), 1, output_type=tf.int32)
    b = tf.minimum(tf.reduce_sum(tf.cast(cum <= target[:, None], tf.int32), 1), last_block)
    inner = tf.gather(probs, b, batch_dims=1)                              # [N, block]
    rest = target - (tf.gather(cum, b, batch_dims=1) - tf.gather(mass, b, batch_dims=1))
    last = block - 1 - tf.argmax(tf.cast(tf.reverse(inner, [1]) > 0, tf.int32), 1, output_type=tf.int32)
    w = tf.minimum(tf.reduce_sum(tf.cast(tf.cumsum(inner, 1) <= rest[:, None], tf.int32), 1), last)
    return b * block + w


MAXLEN, END, NO_VALID_TOKEN = 0, 1, 2  # the status codes of the loops' rows

#: a graph search loop drops its finished prompts when those still running are at most this share of the prompts
#: in the loop (a drop copies the state of the rest, so it is done a few times per search, not at every step)
COMPACT = 2 / 3


def _worth_compacting(running):
    """``running`` [prompts, rows per prompt] bool: some prompts are finished and few enough still run."""
    still = tf.reduce_sum(tf.cast(tf.reduce_any(running, 1), tf.float32))
    return (still > 0) & (still <= COMPACT * tf.cast(tf.shape(running)[0], tf.float32))


def _invariants(loop_in, compact):
    """The loop variables' shapes; with ``compact`` every one but the last (the per-row / per-input results) may
    lose rows along its first axis."""
    shapes = tf.nest.map_structure(lambda x: x.shape, loop_in)
    if not compact:
        return shapes
    return tf.nest.map_structure(lambda x: tf.TensorShape([None]) + x.shape[1:], loop_in[:-1]) + (shapes[-1],)


def _scatter_results(results, index, values):
    """Write the loop's rows ``values`` into the per-row ``results`` at their original rows ``index``."""
    return tuple(tf.tensor_scatter_nd_update(r, index[:, None], v) for r, v in zip(results, values))
STATUS = {MAXLEN: 'maxlen', END: 'end', NO_VALID_TOKEN: 'no_valid_token'}


class LMBackend:
    """Next-token log-probs with a state carried from step to step, and the one compiled decoding loop over them.

    A subclass sets ``vocab_size`` (and ``max_position`` when positions are bounded), implements

    * ``_prefill(ids, segments, lengths, capacity) -> (log_probs [b, V], state)``: run the right-padded prompts
      ``[b, S]`` (``lengths`` real tokens each) and return the next-token log-probs at each row's last real token;
      ``capacity`` = S + the most tokens that will be generated;
    * ``_step(tokens, positions, slot, prompt_size, prompt_real, state) -> (log_probs, state)``: one new token
      per row (position id ``positions``, cache slot ``slot``; ``prompt_real [b, capacity]`` marks real prompt
      slots);

    and calls :meth:`compile_functions`, which makes the compiled ``prefill``, ``step`` and ``reorder_step`` (the
    step after re-ordering the state's rows by ``parents``, for beam search). :meth:`loop` returns the compiled
    search (greedy, sampling or beam search, with logits processors as tensor ops) that the decoder runs: every
    step of it stays in one graph (XLA with ``jit_compile``). The state is any nest of tensors whose first axis is
    the row, unless the subclass also overrides ``_expand`` / ``_reorder`` / ``_reorder_step`` (how the searches
    make and re-order rows: :class:`CachedLM` keeps one copy of each prompt's keys and values for all its rows).

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
    #: with ``prefill_jit``, prompts are padded to a multiple of this many tokens (one XLA program per bucket and
    #: batch size instead of one per prompt length)
    PREFILL_BUCKET = 32

    def compile_functions(self, jit_compile=False, autograph=True, prefill_jit=False):
        """``prefill`` (tf.function, XLA with ``prefill_jit``), ``step`` and ``reorder_step`` (tf.function, XLA with
        ``jit_compile``); the search loops (:meth:`loop`) are compiled on first use, XLA too unless a processor calls
        Python. ``autograph=False`` traces them without AutoGraph (faster first calls: AutoGraph converts every
        layer's ``call``), for a backend whose ``_prefill`` / ``_step`` and model use no Python control flow on
        tensors; a loop with a processor that asks for AutoGraph (:attr:`LogitsProcessor.autograph`) is traced with
        it. ``prefill_jit``: the prompts' forward as XLA programs (:class:`~.decoder.Decoder` then pads prompts to a
        multiple of ``PREFILL_BUCKET`` tokens); faster where oneDNN's own kernels are slow (AVX2-only CPUs),
        a compile per bucket and batch size on first use."""
        self.jit_compile = bool(jit_compile)
        self.prefill_jit = bool(prefill_jit)
        self.autograph = bool(autograph)
        compiled = dict(reduce_retracing=True, autograph=self.autograph)
        # ids, segments [b, S], lengths [b], capacity: one trace for every batch shape (a prompt batch of another
        # shape would otherwise trace it again before reduce_retracing relaxes the shapes)
        prompts = [tf.TensorSpec([None, None], tf.int32)] * 2 + [tf.TensorSpec([None], tf.int32),
                                                                 tf.TensorSpec([], tf.int32)]
        self.prefill = tf.function(self._prefill, input_signature=prompts, jit_compile=self.prefill_jit, **compiled)
        self.step = tf.function(self._step, jit_compile=jit_compile, **compiled)
        self.reorder_step = tf.function(self._reorder_step, jit_compile=jit_compile, **compiled)
        self._loops = {}

    def _prefill(self, ids, segments, lengths, capacity):
        raise NotImplementedError

    def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
        raise NotImplementedError

    def _reorder_step(self, parents, tokens, positions, slot, prompt_size, prompt_real, state):
        state = tf.nest.map_structure(lambda t: tf.gather(t, parents), state)
        return self._step(tokens, positions, slot, prompt_size, prompt_real, state)

    def _expand(self, state, rows):
        """The state of the search's rows: row ``i`` continues prompt ``rows[i]``; the searches pass each prompt's
        rows together (``rows`` = each prompt index repeated n times, in order). Default: gather every tensor."""
        return tf.nest.map_structure(lambda t: tf.gather(t, rows), state)

    def _reorder(self, state, parents):
        """Row ``i`` of the result continues row ``parents[i]`` (beam search: always a row of the same prompt).
        Default: gather every tensor."""
        return tf.nest.map_structure(lambda t: tf.gather(t, parents), state)

    def _compact(self, state, inputs, rows):
        """The state of the search restricted to the prompts ``inputs`` (indices among its current prompts) and
        their rows ``rows`` (indices among its current rows). Default: gather every tensor by ``rows``."""
        return tf.nest.map_structure(lambda t: tf.gather(t, rows), state)

    def loop(self, mode, processors=(), beam_size=1, length_normalization=False, prefer_ended=False):
        """The compiled search for these static settings (built once, then reused).

        Args:
            mode: ``'greedy'``, ``'sample'`` or ``'beam'``.
            processors: :class:`~bert4keras_ext.decoding.LogitsProcessor` objects; the loop is specialised on their
                :meth:`signature` (their data come in as arguments).
            beam_size: the beam width (``'beam'``).
            length_normalization: beam search compares mean log-probs (see ``Decoder.beam_search``).
            prefer_ended: with ``length_normalization``, an input still open at ``maxlen`` returns its best ended
                hypothesis when it has one, even if a live beam scores higher.

        Returns:
            ``'greedy'``/``'sample'``: ``fn(log_probs, state, lengths, prompt_size, prompt_real, rows, maxlen,
            minlen, min_ends, end_ids, seed, datas) -> (ids [N, maxlen], n [N], scores [N], status [N])`` for the
            rows ``rows`` (the input of each row: samples of one input share its prompt; each input's rows together and
            the same number for every input, as ``np.repeat(np.arange(b), n)``); ``'beam'``: ``fn(log_probs,
            state, lengths, prompt_size, prompt_real, maxlen, minlen, min_ends, end_ids, datas)`` with one result
            per input. ``status``: 0 maxlen, 1 end, 2 no valid token (``STATUS``).
        """
        if mode not in ('greedy', 'sample', 'beam'):
            raise ValueError("mode must be 'greedy', 'sample' or 'beam', got %r" % (mode,))
        processors = tuple(processors)
        key = (mode, int(beam_size) if mode == 'beam' else 0, bool(length_normalization) and mode == 'beam',
               bool(prefer_ended) and mode == 'beam',
               tuple(p.signature() for p in processors))
        if key not in self._loops:
            jit = self.jit_compile and all(p.compilable for p in processors)
            if mode == 'beam':
                fn = functools.partial(self._beam_loop, beam_size=int(beam_size), processors=processors,
                                       length_normalization=bool(length_normalization),
                                       prefer_ended=bool(prefer_ended), compact=not jit)
            else:
                fn = functools.partial(self._sample_loop, greedy=mode == 'greedy', processors=processors,
                                       compact=not jit)
            autograph = self.autograph or any(p.autograph for p in processors)
            self._loops[key] = tf.function(fn, reduce_retracing=True, autograph=autograph, jit_compile=jit)
        return self._loops[key]

    def _sample_loop(self, log_probs, state, lengths, prompt_size, prompt_real, rows, maxlen, minlen, min_ends,
                     end_ids, seed, datas, greedy, processors, compact=False):
        """Greedy or sampled decoding of the rows ``rows`` in one graph: each step runs the processors, picks the
        arg-max (``greedy``) or a draw from the processed distribution (:func:`draw` at a stateless uniform from
        ``seed``, the step and the row), and stops a row on an end token once it has ``minlen`` tokens and
        ``min_ends`` end tokens. ``compact`` (graph loops, not XLA): when the prompts with a row still running
        fall to :data:`COMPACT` of those in the loop, the finished prompts' rows leave it (their results are kept),
        so that a few long rows do not keep every row computing; the tokens are the same either way."""
        n_rows = tf.shape(rows)[0]
        group = n_rows // (tf.reduce_max(rows) + 1)  # rows per prompt (rows = each prompt repeated, in order)
        state = self._expand(state, rows)
        lp, positions, prompt_real = tf.gather(log_probs, rows), tf.gather(lengths, rows), tf.gather(prompt_real, rows)
        columns = tf.range(maxlen)[None, :]

        def body(t, lp, state, positions, prompt_real, index, out, done, status, n, scores, ends, results):
            here = tf.gather(rows, index)
            x = run_processors(processors, datas, lp, out, t, here)
            finite = tf.reduce_any(tf.math.is_finite(x), -1)
            live = tf.logical_not(done) & finite
            if greedy:
                tok = tf.argmax(x, -1, output_type=tf.int32)
            else:  # one uniform per original row: the draws do not depend on which rows are still in the loop
                u = tf.gather(tf.random.stateless_uniform([n_rows], tf.stack([seed[0], seed[1] + t])), index)
                tok = draw(x, u)
            tok = tf.where(live, tok, tf.zeros_like(tok))
            out = tf.where((columns == t) & live[:, None], tok[:, None], out)
            scores = scores + tf.where(live, tf.cast(tf.gather(x, tok, batch_dims=1), tf.float64),
                                       tf.zeros_like(scores))
            n = n + tf.cast(live, tf.int32)
            is_end = live & tf.reduce_any(tok[:, None] == end_ids[None, :], -1)
            ends = ends + tf.cast(is_end, tf.int32)
            stop = is_end & (t + 1 >= minlen) & (ends >= min_ends)
            stuck = tf.logical_not(done) & tf.logical_not(finite)
            status = tf.where(stop, END, tf.where(stuck, NO_VALID_TOKEN, status))
            done = done | stop | stuck
            lp, state = tf.cond(
                (t + 1 < maxlen) & tf.logical_not(tf.reduce_all(done)),
                lambda: self._step(tok, positions + t, prompt_size + t, prompt_size, prompt_real, state),
                lambda: (lp, state))
            new = (lp, state, positions, prompt_real, index, out, done, status, n, scores, ends, results)
            if compact:
                new = tf.cond(_worth_compacting(tf.reshape(tf.logical_not(done), [-1, group])),
                              lambda: shrink(*new), lambda: new)
            return (t + 1,) + tf.nest.map_structure(lambda a, b: tf.ensure_shape(a, b), new, invariants)

        def shrink(lp, state, positions, prompt_real, index, out, done, status, n, scores, ends, results):
            results = _scatter_results(results, index, (out, n, scores, status))
            prompts = tf.cast(tf.where(tf.reduce_any(tf.reshape(tf.logical_not(done), [-1, group]), 1))[:, 0],
                              tf.int32)
            keep = tf.reshape(prompts[:, None] * group + tf.range(group)[None, :], [-1])
            kept = [tf.gather(x, keep) for x in (lp, positions, prompt_real, index, out, done, status, n, scores,
                                                  ends)]
            return (kept[0], self._compact(state, prompts, keep)) + tuple(kept[1:]) + (results,)

        def cond(t, lp, state, positions, prompt_real, index, out, done, *rest):
            return (t < maxlen) & tf.logical_not(tf.reduce_all(done))

        zeros = tf.zeros([n_rows], tf.int32)
        results = (tf.zeros([n_rows, maxlen], tf.int32), zeros, tf.zeros([n_rows], tf.float64), zeros)
        loop_in = (lp, state, positions, prompt_real, tf.range(n_rows), tf.zeros([n_rows, maxlen], tf.int32),
                   tf.zeros([n_rows], tf.bool), zeros, zeros, tf.zeros([n_rows], tf.float64), zeros, results)
        invariants = _invariants(loop_in, compact)
        final = tf.while_loop(cond, body, (tf.constant(0),) + loop_in, maximum_iterations=maxlen,
                              shape_invariants=(tf.TensorShape([]),) + invariants)
        _, _, _, _, _, index, out, _, status, n, scores, _, results = final
        return _scatter_results(results, index, (out, n, scores, status))

    def _beam_loop(self, log_probs, state, lengths, prompt_size, prompt_real, maxlen, minlen, min_ends, end_ids,
                   datas, beam_size, processors, length_normalization, prefer_ended=False, compact=False):
        """bert4keras' beam search in one graph, for every input at once: per input, the global top-k over (live
        beams x vocabulary) of the processed log-probs; when the best candidate ends (once ``minlen`` tokens and
        ``min_ends`` end tokens are out) the input is done, otherwise finished candidates leave and the beam
        shrinks; candidates the processors removed (``-inf``) never enter. Scores are float64 sums of the
        log-probs. With ``length_normalization`` finished hypotheses are kept and every comparison uses the mean
        log-prob; the input is done when the best finished one is at least as good as the best live one.
        ``compact`` (graph loops, not XLA): when the open inputs fall to :data:`COMPACT` of those in the loop, the
        done ones leave it (their results are kept); the search is the same either way."""
        k = int(beam_size)
        b, vocab = tf.shape(log_probs)[0], tf.shape(log_probs)[1]
        rows = tf.repeat(tf.range(b), k)
        state = self._expand(state, rows)
        prompt_real, positions = tf.gather(prompt_real, rows), tf.gather(lengths, rows)
        lp = tf.gather(log_probs, rows)
        neg = tf.constant(-np.inf, tf.float64)
        slots = tf.range(k)[None, :]
        scores = tf.where(slots == 0, tf.constant(0.0, tf.float64), neg) + tf.zeros([b, 1], tf.float64)
        columns = tf.range(maxlen)[None, None, :]

        def norm(score, length):
            return score / tf.cast(tf.maximum(length, 1), tf.float64) if length_normalization else score

        def body(t, lp, state, positions, prompt_real, inputs, hist, scores, ends, count, done, res_ids, res_len,
                 res_score, res_status, results):
            b = tf.shape(scores)[0]  # the inputs still in the loop (``inputs``: their original indices)
            base = tf.range(b)[:, None] * k
            x = run_processors(processors, datas, lp, tf.reshape(hist, [b * k, maxlen]), t, tf.repeat(inputs, k))
            cand = scores[:, :, None] + tf.cast(tf.reshape(x, [b, k, vocab]), tf.float64)
            values, index = top_k_by_argmax(tf.reshape(cand, [b, k * vocab]), k)
            valid = (slots < count[:, None]) & tf.math.is_finite(values)
            open_ = tf.logical_not(done)
            stuck = open_ & tf.logical_not(valid[:, 0])  # every candidate removed: the best live beam so far
            live_best = tf.argmax(norm(scores, t), 1, output_type=tf.int32)
            res_ids = tf.where(stuck[:, None], tf.gather(hist, live_best, batch_dims=1), res_ids)
            res_len = tf.where(stuck, tf.fill([b], t), res_len)
            res_score = tf.where(stuck, tf.gather(scores, live_best, batch_dims=1), res_score)
            res_status = tf.where(stuck, NO_VALID_TOKEN, res_status)
            done = done | stuck
            open_ = tf.logical_not(done)
            parent, token = index // vocab, index % vocab
            hist = tf.gather(hist, parent, batch_dims=1)
            hist = tf.where(columns == t, token[:, :, None], hist)
            is_end = tf.reduce_any(token[:, :, None] == end_ids[None, None, :], -1)
            ends = tf.gather(ends, parent, batch_dims=1) + tf.cast(is_end, tf.int32)
            can_stop = t + 1 >= minlen
            finished = valid & is_end & (ends >= min_ends) & can_stop
            if length_normalization:
                mean = norm(values, t + 1)
                best_new = tf.argmax(tf.where(finished, mean, neg), 1, output_type=tf.int32)
                new_mean = tf.gather(tf.where(finished, mean, neg), best_new, batch_dims=1)
                better = open_ & (new_mean > norm(res_score, res_len)) & tf.reduce_any(finished, 1)
                res_ids = tf.where(better[:, None], tf.gather(hist, best_new, batch_dims=1), res_ids)
                res_len = tf.where(better, t + 1, res_len)
                res_score = tf.where(better, tf.gather(values, best_new, batch_dims=1), res_score)
                has_ended = res_status == END
                res_status = tf.where(better, END, res_status)
                keep = valid & tf.logical_not(finished)
                live_mean = tf.reduce_max(tf.where(keep, mean, neg), 1)
                finish = open_ & (has_ended | better) & (norm(res_score, res_len) >= live_mean)
            else:
                finish = open_ & finished[:, 0]
                res_ids = tf.where(finish[:, None], hist[:, 0], res_ids)
                res_len = tf.where(finish, t + 1, res_len)
                res_score = tf.where(finish, values[:, 0], res_score)
                res_status = tf.where(finish, END, res_status)
                keep = valid & tf.logical_not(finished)
            done = done | finish
            order = tf.argsort(tf.cast(tf.logical_not(keep), tf.int32), axis=1, stable=True)  # kept first, in order
            keep = tf.gather(keep, order, batch_dims=1)
            parent, token = tf.gather(parent, order, batch_dims=1), tf.gather(token, order, batch_dims=1)
            hist, ends = tf.gather(hist, order, batch_dims=1), tf.gather(ends, order, batch_dims=1)
            scores = tf.where(keep, tf.gather(values, order, batch_dims=1), neg)
            count = tf.reduce_sum(tf.cast(keep, tf.int32), 1)
            parents = tf.reshape(tf.where(keep, base + parent, base + slots), [-1])
            lp, state = tf.cond(
                (t + 1 < maxlen) & tf.logical_not(tf.reduce_all(done)),
                lambda: self._step(tf.reshape(token, [-1]), positions + t, prompt_size + t, prompt_size,
                                   prompt_real, self._reorder(state, parents)),
                lambda: (lp, state))
            out = (lp, state, positions, prompt_real, inputs, hist, scores, ends, count, done, res_ids, res_len,
                   res_score, res_status, results)
            if compact:
                out = tf.cond(_worth_compacting(tf.logical_not(done)[:, None]), lambda: shrink(*out), lambda: out)
            return (t + 1,) + tf.nest.map_structure(lambda new, shape: tf.ensure_shape(new, shape), out, invariants)

        def shrink(lp, state, positions, prompt_real, inputs, hist, scores, ends, count, done, res_ids, res_len,
                   res_score, res_status, results):
            results = _scatter_results(results, inputs, (res_ids, res_len, res_score, res_status))
            kept = tf.cast(tf.where(tf.logical_not(done))[:, 0], tf.int32)
            kept_rows = tf.reshape(kept[:, None] * k + slots, [-1])
            per_row = [tf.gather(x, kept_rows) for x in (lp, positions, prompt_real)]
            per_input = [tf.gather(x, kept) for x in (inputs, hist, scores, ends, count, done, res_ids, res_len,
                                                       res_score, res_status)]
            return (per_row[0], self._compact(state, kept, kept_rows), per_row[1], per_row[2]) + tuple(per_input) \
                + (results,)

        def cond(t, *rest):
            return (t < maxlen) & tf.logical_not(tf.reduce_all(rest[9]))

        results = (tf.zeros([b, maxlen], tf.int32), tf.zeros([b], tf.int32), tf.fill([b], neg), tf.fill([b], MAXLEN))
        loop_in = (lp, state, positions, prompt_real, tf.range(b), tf.zeros([b, k, maxlen], tf.int32), scores,
                   tf.zeros([b, k], tf.int32), tf.fill([b], k), tf.zeros([b], tf.bool)) + results + (results,)
        invariants = _invariants(loop_in, compact)
        final = tf.while_loop(cond, body, (tf.constant(0),) + loop_in, maximum_iterations=maxlen,
                              shape_invariants=(tf.TensorShape([]),) + invariants)
        t, _, _, _, _, inputs, hist, scores, _, _, done, res_ids, res_len, res_score, res_status, results = final
        # inputs still open at maxlen: their best live beam, or (length-normalised) the best finished one if better
        # (with prefer_ended: whenever there is one)
        best = tf.argmax(norm(scores, t), 1, output_type=tf.int32)
        live_score = tf.gather(scores, best, batch_dims=1)
        live_wins = tf.zeros_like(done) if prefer_ended else norm(live_score, t) > norm(res_score, res_len)
        use_live = tf.logical_not(done) & ((res_status != END) | live_wins)
        res_ids = tf.where(use_live[:, None], tf.gather(hist, best, batch_dims=1), res_ids)
        res_len = tf.where(use_live, tf.fill(tf.shape(use_live), t), res_len)
        res_score = tf.where(use_live, live_score, res_score)
        res_status = tf.where(use_live, MAXLEN, res_status)
        res_ids, res_len, res_score, res_status = _scatter_results(results, inputs,
                                                                   (res_ids, res_len, res_score, res_status))
        res_ids = tf.where(tf.range(maxlen)[None, :] < res_len[:, None], res_ids, tf.zeros_like(res_ids))
        return res_ids, res_len, res_score, res_status
