"""Batched, compiled, KV-cached decoding for bert4keras 'lm' / 'unilm' BERT models.

    dec = Decoder(model, end_ids=tokenizer._token_end_id, maxlen=32)
    dec.greedy(token_id_lists)                       # -> [Result]
    dec.beam_search(token_id_lists, beam_size=4)     # -> [Result]   (bert4keras' beam search, batched)
    dec.sample(token_id_lists, n=4, processors=[TopP(0.9)], seed=0)   # -> [[Result] * n]

Inputs of different lengths are decoded together; each is a list of token ids (segment 0, e.g. ``[CLS] passage
[SEP]``), optionally with ``segments`` (e.g. an answer already fixed as segment-1 tokens). ``minlen`` and
``min_ends`` mean what they mean in bert4keras' ``AutoRegressiveDecoder`` (a sequence may only *stop* once it has
``minlen`` tokens and ``min_ends`` end tokens); ``MinLength`` is the processor that forbids early end tokens.
Greedy and beam search reproduce bert4keras' ``beam_search`` (greedy = beam size 1) token for token.
"""
import collections
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from bert4keras_ext.decoding.cache import CachedLM
from bert4keras_ext.decoding.processors import apply


@dataclass
class Result:
    """One decoded sequence: generated ``ids`` (end tokens included), total log-prob ``score``, and ``status``:
    'end' (stopped on end tokens), 'maxlen' (ran out of length) or 'no_valid_token' (processors masked every
    token, e.g. an impossible constraint)."""
    ids: list
    score: float
    status: str
    extra: dict = field(default_factory=dict)


class Decoder:
    """Batched, KV-cached autoregressive decoding: greedy, beam search and sampling with logits processors.

    Args:
        model: a bert4keras ``application='lm'`` or ``'unilm'`` model (or its builder), or any object with the
            :class:`CachedLM` interface (``prefill``, ``step``, ``reorder_step``, ``vocab_size``,
            ``max_position``): an :class:`~bert4keras_ext.decoding.LMBackend` such as :class:`UncachedLM` (any Keras
            next-token model) or :class:`~bert4keras_ext.decoding.RecurrentLM`.
        end_ids: the end token id(s) (``tokenizer._token_end_id`` for [SEP]).
        maxlen: the most tokens to generate; ``minlen``: the fewest before an end token counts.
        application: ``'unilm'`` (generated tokens get segment 1) or ``'lm'``.
        jit_compile: compile the per-step function with XLA (fewer, fused kernels: faster steps, a longer first
            call). Default: on for float32, off for bfloat16 (XLA on CPU made the bfloat16 step 2.7x slower).
        dtype: ``'float32'`` (default) or ``'bfloat16'``: matrix products and the cache in bfloat16 (faster on CPUs
            with bfloat16 units; log-probs agree with float32 to about 1e-2, so a near tie can pick another token —
            ``benchmarks/decoding_speed.py --bf16`` measures both).

    Inputs are a *batch*: a list of token-id lists, with ``segments`` a list of segment-id lists (default all 0).
    ``greedy`` and ``beam_search`` return one :class:`Result` (``ids``, ``score``, ``status``) per input,
    ``sample`` a list of ``n`` per input.

    Example::

        token_ids, segment_ids = tokenizer.encode('今天天气不错')
        dec = Decoder(model, end_ids=tokenizer._token_end_id, maxlen=32)
        best = dec.beam_search([token_ids], beam_size=4, segments=[segment_ids])[0]
        print(tokenizer.decode(best.ids))
        samples = dec.sample([token_ids], n=4, processors=[TopP(0.9)], segments=[segment_ids], seed=0)[0]
    """

    def __init__(self, model, end_ids, maxlen, minlen=1, application='unilm', jit_compile=None, dtype='float32'):
        if jit_compile is None:  # measured (README, decoding): XLA helps the float32 step, slows the bfloat16 one
            jit_compile = dtype == 'float32'
        self.lm = model if hasattr(model, 'prefill') else CachedLM(model, application, jit_compile=jit_compile,
                                                                    dtype=dtype)
        end_ids = [end_ids] if np.isscalar(end_ids) else list(end_ids)
        if not end_ids:
            raise ValueError('end_ids must name at least one token id')
        bad = [e for e in end_ids if not 0 <= int(e) < self.lm.vocab_size]
        if bad:
            raise ValueError('end_ids %s are outside the vocabulary (size %d)' % (bad, self.lm.vocab_size))
        if maxlen < 1:
            raise ValueError('maxlen must be >= 1, got %r' % maxlen)
        if minlen > maxlen:
            raise ValueError('maxlen (%d) must be >= minlen (%d)' % (maxlen, minlen))
        self.end_ids = np.array(end_ids, dtype=int)
        self.maxlen, self.minlen = int(maxlen), int(minlen)
        self.timings = collections.defaultdict(float)

    def profile(self, reset=True):
        """Seconds spent per phase since the last reset: ``prefill`` and ``step`` (the compiled model calls),
        ``transfer`` (log-probs to numpy), ``processors`` (logits processors), ``search`` (sampling / beam
        bookkeeping in Python), and the number of ``steps``."""
        out = dict(self.timings)
        if reset:
            self.timings = collections.defaultdict(float)
        return out

    # ------------------------------------------------------------------ model calls

    def _prefill(self, inputs, segments):
        if inputs is None or len(inputs) == 0:
            raise ValueError('inputs is empty: pass a list of token-id lists')
        if np.isscalar(inputs[0]):
            raise ValueError('inputs must be a list of token-id lists (a batch), e.g. [token_ids]; got one flat '
                             'list of %d ids' % len(inputs))
        if (isinstance(inputs, tuple) and len(inputs) == 2 and len(inputs[0]) == len(inputs[1])
                and set(np.asarray(inputs[1]).ravel().tolist()) <= {0, 1} and segments is None):
            raise ValueError('inputs looks like the (token_ids, segment_ids) pair of bert4keras tokenizer.encode(): '
                             'pass [token_ids] and segments=[segment_ids] (a batch of one)')
        vocab = self.lm.vocab_size
        for i, ids in enumerate(inputs):
            if len(ids) == 0:
                raise ValueError('inputs[%d] is an empty token list' % i)
            bad = [int(t) for t in ids if not 0 <= int(t) < vocab]
            if bad:
                raise ValueError('inputs[%d] has token ids outside the vocabulary (size %d): %s'
                                 % (i, vocab, bad[:5]))
        if segments is not None and len(segments) != len(inputs):
            raise ValueError('segments has %d rows for %d inputs' % (len(segments), len(inputs)))
        lengths = np.array([len(x) for x in inputs], dtype='int32')
        s = int(lengths.max())
        if s + self.maxlen > self.lm.max_position:
            raise ValueError('input length %d + maxlen %d exceeds the model\'s %d positions'
                             % (s, self.maxlen, self.lm.max_position))
        ids = np.zeros((len(inputs), s), 'int32')
        seg = np.zeros_like(ids)
        for r, x in enumerate(inputs):
            ids[r, :len(x)] = x
            if segments is not None:
                if len(segments[r]) != len(x):
                    raise ValueError('segments[%d] has %d entries for %d tokens' % (r, len(segments[r]), len(x)))
                seg[r, :len(x)] = segments[r]
        capacity = s + self.maxlen
        t0 = time.perf_counter()
        log_probs, caches = self.lm.prefill(tf.constant(ids), tf.constant(seg), tf.constant(lengths),
                                            tf.constant(capacity))
        t1 = time.perf_counter()
        real = np.zeros((len(inputs), capacity), bool)
        for r, n in enumerate(lengths):
            real[r, :n] = True
        log_probs = log_probs.numpy().astype('float64')
        self.timings['prefill'] += t1 - t0
        self.timings['transfer'] += time.perf_counter() - t1
        return log_probs, caches, lengths, s, real

    def _step(self, tokens, positions, slot, s, real, caches, parents=None):
        args = (tf.constant(tokens, tf.int32), tf.constant(positions, tf.int32), tf.constant(slot, tf.int32),
                tf.constant(s, tf.int32), tf.constant(real), caches)
        t0 = time.perf_counter()
        if parents is None:
            lp, caches = self.lm.step(*args)
        else:
            lp, caches = self.lm.reorder_step(tf.constant(parents, tf.int32), *args)
        t1 = time.perf_counter()
        lp = lp.numpy().astype('float64')
        self.timings['step'] += t1 - t0
        self.timings['transfer'] += time.perf_counter() - t1
        self.timings['steps'] += 1
        return lp, caches

    @staticmethod
    def _gather(caches, index):
        index = tf.constant(index, tf.int32)
        return tf.nest.map_structure(lambda t: tf.gather(t, index), caches)

    def _stops(self, ids):
        ids = np.asarray(ids)
        return len(ids) >= self.minlen and len(ids) and ids[-1] in self.end_ids

    # ------------------------------------------------------------------ sampling / greedy

    def sample(self, inputs, n=1, processors=None, seed=None, segments=None, min_ends=1, greedy=False):
        """``n`` samples per input (lists of :class:`Result`, in input order)."""
        if n < 1:
            raise ValueError('n must be >= 1, got %r' % n)
        rng = np.random.RandomState(seed)
        lp, caches, lengths, s, real = self._prefill(inputs, segments)
        b = len(inputs)
        rows = np.repeat(np.arange(b), n)
        lp = np.repeat(lp, n, axis=0)
        caches = self._gather(caches, rows)
        real = real[rows]
        out = [[] for _ in rows]
        scores = np.zeros(len(rows))
        status = [None] * len(rows)
        for t in range(self.maxlen):
            alive = np.array([st is None for st in status])
            if not alive.any():
                break
            idx = np.flatnonzero(alive)
            t0 = time.perf_counter()
            processed = apply(processors, lp[idx], [out[i] for i in idx], rows[idx]) if processors else lp[idx]
            t1 = time.perf_counter()
            self.timings['processors'] += t1 - t0
            tokens = np.zeros(len(rows), dtype='int32')
            for j, i in enumerate(idx):
                row = processed[j]
                if not np.isfinite(row).any():
                    status[i] = 'no_valid_token'
                    continue
                if greedy:
                    tok = int(np.argmax(row))
                else:
                    p = np.exp(row)
                    tok = int(min(np.searchsorted(np.cumsum(p), rng.random_sample() * p.sum(), side='right'),
                                  len(p) - 1))
                    while not np.isfinite(row[tok]):  # guard against round-off landing on a masked token
                        tok -= 1
                out[i].append(tok)
                scores[i] += row[tok]
                tokens[i] = tok
                ends = int(np.isin(out[i], self.end_ids).sum())
                if self._stops(out[i]) and ends >= min_ends:
                    status[i] = 'end'
            self.timings['search'] += time.perf_counter() - t1
            if t + 1 < self.maxlen and any(st is None for st in status):
                lp, caches = self._step(tokens, lengths[rows] + t, s + t, s, real, caches)
        results = [Result(out[i], float(scores[i]), status[i] or 'maxlen') for i in range(len(rows))]
        return [results[i * n:(i + 1) * n] for i in range(b)]

    def greedy(self, inputs, processors=None, segments=None, min_ends=1, compiled=None):
        """Arg-max decoding; equals bert4keras ``beam_search(topk=1)``. Returns a :class:`Result` per input.

        ``compiled``: run the whole loop as one graph (``greedy_loop`` of the backend: no Python between steps;
        the same tokens). Possible without processors and with ``min_ends=1``; default: then, when the backend
        has it."""
        loop = self._compiled_loop('greedy_loop', compiled, processors, min_ends)
        if loop is None:
            return [r[0] for r in self.sample(inputs, 1, processors, segments=segments, min_ends=min_ends,
                                              greedy=True)]
        return self._run_loop(loop, len(inputs), *self._prefill(inputs, segments))

    def _compiled_loop(self, name, compiled, processors, min_ends):
        """The backend's compiled loop ``name`` when it is to be used (``compiled`` None: whenever possible)."""
        loop = getattr(self.lm, name, None)
        can = loop is not None and not processors and min_ends == 1
        if compiled and not can:
            raise ValueError('compiled decoding needs a backend with %s, no processors and min_ends=1' % name)
        return loop if can and compiled is not False else None

    def _run_loop(self, loop, b, lp, caches, lengths, s, real, *beam):
        t0 = time.perf_counter()
        ids, n, scores, done = loop(tf.constant(lp.astype('float32')), caches, tf.constant(lengths),
                                    tf.constant(s, tf.int32), tf.constant(real), *beam, tf.constant(self.maxlen),
                                    tf.constant(self.minlen), tf.constant(self.end_ids.astype('int32')))
        ids, n, scores, done = ids.numpy(), n.numpy(), scores.numpy(), done.numpy()
        self.timings['step'] += time.perf_counter() - t0
        self.timings['steps'] += max(int(n.max()) - 1, 0) if b else 0
        return [Result(ids[i, :n[i]].tolist(), float(scores[i]), 'end' if done[i] else 'maxlen') for i in range(b)]

    # ------------------------------------------------------------------ beam search

    def beam_search(self, inputs, beam_size, processors=None, segments=None, min_ends=1,
                    length_normalization=False, compiled=None):
        """bert4keras' beam search (global top-k over beam x vocab; finished beams leave and the beam shrinks;
        stop when the best beam has ended), run for all inputs at once. ``length_normalization``: hypotheses that
        ended are kept (not dropped when a longer live beam scores higher in sum) and every comparison uses the
        score divided by the length; the search stops when the best of the ended and live hypotheses by that
        measure has ended (or at ``maxlen``), so shorter and longer answers compete on their mean log-prob.
        Without it the search is bert4keras' exactly. ``compiled``: the whole loop as one graph (the backend's
        ``beam_loop``; the same tokens); possible without processors, with ``min_ends=1`` and without length
        normalization; default: then, when the backend has it."""
        if not (isinstance(beam_size, (int, np.integer)) and beam_size >= 1):
            raise ValueError('beam_size must be an integer >= 1, got %r' % (beam_size,))
        k = int(beam_size)
        loop = self._compiled_loop('beam_loop', compiled, processors or length_normalization, min_ends)
        lp, caches, lengths, s, real = self._prefill(inputs, segments)
        if loop is not None:
            return self._run_loop(loop, len(inputs), lp, caches, lengths, s, real, k)
        b = len(inputs)
        caches = self._gather(caches, np.repeat(np.arange(b), k))
        real = np.repeat(real, k, axis=0)
        lp = np.repeat(lp, k, axis=0)
        beams = [{'ids': np.zeros((1, 0), int), 'scores': np.zeros(1), 'topk': k, 'result': None,
                  'ended': [] if length_normalization else None} for _ in range(b)]

        def norm(scores, length):
            return scores / max(length, 1) if length_normalization else scores

        for t in range(self.maxlen):
            tokens = np.zeros(b * k, 'int32')
            parents = np.arange(b * k)
            for i, beam in enumerate(beams):
                if beam['result'] is not None:
                    continue
                live = beam['ids'].shape[0]
                slots = i * k + np.arange(live)
                t0 = time.perf_counter()
                step_lp = (apply(processors, lp[slots], [list(r) for r in beam['ids']], np.full(live, i))
                           if processors else lp[slots])
                t1 = time.perf_counter()
                moved = self._advance_beam(beam, step_lp, t, min_ends, norm)
                self.timings['processors'] += t1 - t0
                self.timings['search'] += time.perf_counter() - t1
                if moved is not None:
                    rows, new_tokens = moved
                    parents[i * k:i * k + len(rows)] = i * k + rows
                    tokens[i * k:i * k + len(rows)] = new_tokens
            if all(beam['result'] is not None for beam in beams) or t + 1 == self.maxlen:
                break
            positions = np.repeat(lengths, k) + t
            lp, caches = self._step(tokens, positions, s + t, s, real, caches, parents=parents)
        out = []
        for beam in beams:  # inputs still open at maxlen: their best live beam
            if beam['result'] is None:
                best = int(np.argmax(norm(beam['scores'], beam['ids'].shape[1])))
                beam['result'] = Result(list(beam['ids'][best]), float(beam['scores'][best]), 'maxlen')
                ended = beam['ended']
                if ended and max(norm(sc, len(ids)) for ids, sc in ended) >= norm(beam['scores'][best],
                                                                                   beam['ids'].shape[1]):
                    ids, sc = max(ended, key=lambda e: norm(e[1], len(e[0])))
                    beam['result'] = Result(list(ids), float(sc), 'end')
            out.append(beam['result'])
        return out

    def _advance_beam(self, beam, step_lp, t, min_ends, norm):
        """One step of one input's beam: the global top-k over (live beams x vocabulary). Either finishes the beam
        (sets ``beam['result']``: the best candidate ended, or no candidate is left) and returns None, or keeps
        the unfinished candidates and returns ``(parent rows, new tokens)`` of the live beams, in order."""
        cand = beam['scores'].reshape((-1, 1)) + step_lp
        topk = beam['topk']
        indices = cand.argpartition(-topk, axis=None)[-topk:]
        cand_scores = np.take_along_axis(cand, indices, axis=None)
        if not np.isfinite(cand_scores).any():
            best = int(np.argmax(norm(beam['scores'], t)))
            beam['result'] = Result(list(beam['ids'][best]), float(beam['scores'][best]), 'no_valid_token')
            return None
        finite = np.isfinite(cand_scores)
        indices, cand_scores = indices[finite], cand_scores[finite]
        r1, r2 = indices // cand.shape[1], indices % cand.shape[1]
        ids = np.concatenate([beam['ids'][r1], r2.reshape((-1, 1))], 1)
        is_end = np.isin(ids[:, -1], self.end_ids)
        end_counts = np.isin(ids, self.end_ids).sum(1)
        keep = np.ones(len(ids), bool)
        if ids.shape[1] >= self.minlen and beam['ended'] is not None:  # length-normalised: ended ones are kept
            finished = is_end & (end_counts >= min_ends)
            beam['ended'] += [(ids[j], float(cand_scores[j])) for j in np.flatnonzero(finished)]
            keep = ~finished
            best_ended = max(beam['ended'], key=lambda e: norm(e[1], len(e[0]))) if beam['ended'] else None
            live_best = norm(cand_scores[keep], ids.shape[1]).max() if keep.any() else -np.inf
            if best_ended is not None and norm(best_ended[1], len(best_ended[0])) >= live_best:
                beam['result'] = Result(list(best_ended[0]), best_ended[1], 'end')
                return None
            beam['topk'] = int(keep.sum())
        elif ids.shape[1] >= self.minlen:
            best = int(np.argmax(norm(cand_scores, ids.shape[1])))
            if is_end[best] and end_counts[best] >= min_ends:
                beam['result'] = Result(list(ids[best]), float(cand_scores[best]), 'end')
                return None
            keep = ~is_end | (end_counts < min_ends)
            beam['topk'] = int(keep.sum())  # finished candidates leave: the beam shrinks, as bert4keras'
        beam['ids'], beam['scores'] = ids[keep], cand_scores[keep]
        return r1[keep], r2[keep]
