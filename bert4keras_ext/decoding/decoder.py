"""Batched, compiled, KV-cached decoding for bert4keras 'lm' / 'unilm' BERT models: one compiled loop
(:meth:`~bert4keras_ext.decoding.LMBackend.loop`) serves greedy, beam search and sampling, with the logits
processors as tensor ops inside it.

    dec = Decoder(model, end_ids=tokenizer._token_end_id, maxlen=32)
    dec.greedy(token_id_lists)                       # -> [Result]
    dec.beam_search(token_id_lists, beam_size=4)     # -> [Result]   (bert4keras' beam search, batched)
    dec.sample(token_id_lists, n=4, processors=[TopP(0.9)], seed=0)   # -> [[Result] * n]

Inputs of different lengths are decoded together; each is a list of token ids (segment 0, e.g. ``[CLS] passage
[SEP]``), optionally with ``segments`` (e.g. an answer already fixed as segment-1 tokens). ``minlen`` and
``min_ends`` mean what they mean in bert4keras' ``AutoRegressiveDecoder`` (a sequence may only *stop* once it has
``minlen`` tokens and ``min_ends`` end tokens); ``MinLength`` is the processor that forbids early end tokens.
Greedy and beam search reproduce bert4keras' ``beam_search`` (greedy = beam size 1) token for token.
:meth:`Decoder.prefill` and :meth:`Decoder.step` are the public single-step API (one forward at a time, e.g. to
score given continuations or to write a search of one's own).
"""
import collections
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from bert4keras_ext.decoding.backend import LMBackend, STATUS
from bert4keras_ext.decoding.cache import CachedLM
from bert4keras_ext.decoding.processors import check_processors


@dataclass
class Result:
    """One decoded sequence: generated ``ids`` (end tokens included), total log-prob ``score``, and ``status``:
    'end' (stopped on end tokens), 'maxlen' (ran out of length) or 'no_valid_token' (processors masked every
    token, e.g. an impossible constraint)."""
    ids: list
    score: float
    status: str
    extra: dict = field(default_factory=dict)


@dataclass
class DecodeState:
    """Where a batch of prompts stands: the next-token ``log_probs`` ``[rows, V]`` (float32 numpy), the backend's
    ``cache`` (a nest of tensors), each row's prompt ``lengths``, the padded ``prompt_size`` S, ``prompt_real``
    ``[rows, capacity]`` (the real prompt slots) and ``generated`` (tokens fed so far, the same for every row).
    Made by :meth:`Decoder.prefill`, advanced by :meth:`Decoder.step`."""
    log_probs: np.ndarray
    cache: object
    lengths: np.ndarray
    prompt_size: int
    prompt_real: np.ndarray
    generated: int = 0


class Decoder:
    """Batched, KV-cached autoregressive decoding: greedy, beam search and sampling with logits processors.

    Args:
        model: a bert4keras ``application='lm'`` or ``'unilm'`` model (or its builder), or an
            :class:`~bert4keras_ext.decoding.LMBackend` such as :class:`CachedLM`, :class:`UncachedLM` (any Keras
            next-token model) or :class:`~bert4keras_ext.decoding.RecurrentLM`.
        end_ids: the end token id(s) (``tokenizer._token_end_id`` for [SEP]).
        maxlen: the most tokens to generate; ``minlen``: the fewest before an end token counts.
        application: ``'unilm'`` (generated tokens get segment 1) or ``'lm'``.
        jit_compile: compile the per-step function with XLA (fewer, fused kernels: faster steps, a longer first
            call). Default: on for float32, off for bfloat16 (XLA on CPU made the bfloat16 step 2.7x slower).
        dtype: ``'float32'`` (default) or ``'bfloat16'``: matrix products and the cache in bfloat16 (faster on CPUs
            with bfloat16 units; log-probs agree with float32 to about 1e-2, so a near tie can pick another token —
            ``benchmarks/decoding_speed.py --bf16`` measures both).
        prefill_jit: run the prompts' forward as XLA programs, prompts padded to a multiple of
            ``LMBackend.PREFILL_BUCKET`` tokens (outputs equal within float rounding): faster where oneDNN's
            kernels are slow (AVX2-only CPUs; ``benchmarks/decoding_speed.py --prefill_jit``), a compile on the
            first call per bucket and batch size. Default off.

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

    def __init__(self, model, end_ids, maxlen, minlen=1, application='unilm', jit_compile=None, dtype='float32',
                 prefill_jit=False):
        if jit_compile is None:  # measured (README, decoding): XLA helps the float32 step, slows the bfloat16 one
            jit_compile = dtype == 'float32'
        if isinstance(model, LMBackend):
            self.lm = model
        elif hasattr(model, 'prefill'):
            raise TypeError('%r has a prefill but is not an LMBackend: subclass bert4keras_ext.decoding.LMBackend '
                            '(implement _prefill and _step, call compile_functions)' % (model,))
        else:
            self.lm = CachedLM(model, application, jit_compile=jit_compile, dtype=dtype, prefill_jit=prefill_jit)
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
        """Seconds spent per phase since the last reset: ``prefill`` (the prompts' forward), ``loop`` (the compiled
        search: every step, processors and search bookkeeping included), ``step`` (:meth:`step` calls), and the
        number of ``steps`` (tokens generated by the longest row of each call, summed)."""
        out = dict(self.timings)
        if reset:
            self.timings = collections.defaultdict(float)
        return out

    # ------------------------------------------------------------------ the single-step API

    def prefill(self, inputs, segments=None):
        """Run the prompts once.

        Args:
            inputs: a batch, a list of token-id lists (e.g. ``[token_ids]``).
            segments: their segment-id lists (default all 0).

        Returns:
            A :class:`DecodeState` (``log_probs`` of the first generated token).

        Example::

            state = dec.prefill([token_ids])
            state = dec.step(state, [int(state.log_probs[0].argmax())])
        """
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
        if getattr(self.lm, 'prefill_jit', False):  # one XLA program per bucket, not per prompt length
            bucket = self.lm.PREFILL_BUCKET
            s = max(s, min(-(-s // bucket) * bucket, self.lm.max_position - self.maxlen))
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
        log_probs, cache = self.lm.prefill(tf.constant(ids), tf.constant(seg), tf.constant(lengths),
                                           tf.constant(capacity))
        real = np.arange(capacity)[None, :] < lengths[:, None]
        state = DecodeState(log_probs.numpy(), cache, lengths, s, real)
        self.timings['prefill'] += time.perf_counter() - t0
        return state

    def step(self, state, tokens, parents=None):
        """Feed one token per row.

        Args:
            state: a :class:`DecodeState` from :meth:`prefill` or :meth:`step`.
            tokens: one token id per row.
            parents: optional, per new row the row of ``state`` it continues (re-orders or repeats rows first, as
                beam search does); default: row ``i`` continues row ``i``.

        Returns:
            The next :class:`DecodeState` (``log_probs`` of the following token).

        Example::

            state = dec.prefill([token_ids, token_ids])
            state = dec.step(state, [5, 6])              # two continuations of one prompt
        """
        if state.generated >= self.maxlen:
            raise ValueError('the state has %d generated tokens: maxlen %d leaves no cache slot for another'
                             % (state.generated, self.maxlen))
        lengths, real = state.lengths, state.prompt_real
        if parents is not None:
            parents = np.asarray(parents, 'int32')
            lengths, real = lengths[parents], real[parents]
        tokens = np.asarray(tokens, 'int32')
        if tokens.shape != lengths.shape:
            raise ValueError('step needs one token per row: %d tokens for %d rows' % (tokens.size, len(lengths)))
        t, s = state.generated, state.prompt_size
        args = (tf.constant(tokens), tf.constant(lengths + t, tf.int32), tf.constant(s + t, tf.int32),
                tf.constant(s, tf.int32), tf.constant(real), state.cache)
        t0 = time.perf_counter()
        if parents is None:
            lp, cache = self.lm.step(*args)
        else:
            lp, cache = self.lm.reorder_step(tf.constant(parents), *args)
        lp = lp.numpy()
        self.timings['step'] += time.perf_counter() - t0
        return DecodeState(lp, cache, lengths, s, real, t + 1)

    # ------------------------------------------------------------------ the searches (one compiled loop)

    def _stops_on(self, min_ends):
        if not (isinstance(min_ends, (int, np.integer)) and min_ends >= 1):
            raise ValueError('min_ends must be an integer >= 1, got %r' % (min_ends,))
        return (tf.constant(self.maxlen), tf.constant(self.minlen), tf.constant(int(min_ends)),
                tf.constant(self.end_ids.astype('int32')))

    def _datas(self, processors):
        return tuple(p.tensors(self.lm.vocab_size) for p in processors)

    def _results(self, ids, n, scores, status, t0):
        ids, n, scores, status = ids.numpy(), n.numpy(), scores.numpy(), status.numpy()
        self.timings['loop'] += time.perf_counter() - t0
        self.timings['steps'] += int(n.max()) if len(n) else 0
        return [Result(ids[i, :n[i]].tolist(), float(scores[i]), STATUS[int(status[i])]) for i in range(len(n))]

    def sample(self, inputs, n=1, processors=None, seed=None, segments=None, min_ends=1, greedy=False):
        """``n`` samples per input, drawn from the processed distribution of every step.

        Args:
            inputs: a batch of token-id lists. n: samples per input.
            processors: :class:`~bert4keras_ext.decoding.LogitsProcessor` objects, applied in order each step.
            seed: an int: the same seed gives the same samples (stateless draws inside the loop).
            segments: segment-id lists of the inputs. min_ends: end tokens before a row may stop.
            greedy: the arg-max instead of a draw (what :meth:`greedy` runs).

        Returns:
            Per input, a list of ``n`` :class:`Result`.

        Example::

            samples = dec.sample([token_ids], n=4, processors=[TopP(0.9)], seed=0)[0]
        """
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ValueError('n must be an integer >= 1, got %r' % (n,))
        processors = check_processors(processors)
        stops = self._stops_on(min_ends)
        state = self.prefill(inputs, segments)
        b = len(inputs)
        rows = np.repeat(np.arange(b), n).astype('int32')
        pair = np.random.RandomState(seed).randint(0, 2 ** 31 - 1, size=2) if seed is not None \
            else np.random.randint(0, 2 ** 31 - 1, size=2)
        loop = self.lm.loop('greedy' if greedy else 'sample', processors)
        t0 = time.perf_counter()
        out = loop(tf.constant(state.log_probs), state.cache, tf.constant(state.lengths),
                   tf.constant(state.prompt_size, tf.int32), tf.constant(state.prompt_real), tf.constant(rows),
                   *stops, tf.constant(pair, tf.int32), self._datas(processors))
        results = self._results(*out, t0)
        return [results[i * n:(i + 1) * n] for i in range(b)]

    def greedy(self, inputs, processors=None, segments=None, min_ends=1):
        """Arg-max decoding; equals bert4keras ``beam_search(topk=1)``.

        Args:
            inputs: a batch of token-id lists. processors: applied each step before the arg-max.
            segments: segment-id lists. min_ends: end tokens before a row may stop.

        Returns:
            A :class:`Result` per input.

        Example::

            best = dec.greedy([token_ids])[0].ids
        """
        return [r[0] for r in self.sample(inputs, 1, processors, seed=0, segments=segments, min_ends=min_ends,
                                          greedy=True)]

    def beam_search(self, inputs, beam_size, processors=None, segments=None, min_ends=1,
                    length_normalization=False, prefer_ended=False):
        """bert4keras' beam search (global top-k over beam x vocab; finished beams leave and the beam shrinks;
        stop when the best beam has ended), run for all inputs at once in the compiled loop.

        Args:
            inputs: a batch of token-id lists. beam_size: the beam width (an integer >= 1).
            processors: applied to every live beam's log-probs each step; removed tokens never enter the beam.
            segments: segment-id lists. min_ends: end tokens before a hypothesis may stop.
            length_normalization: hypotheses that ended are kept (not dropped when a longer live beam scores higher
                in sum) and every comparison uses the score divided by the length; the search stops when the best
                of the ended and live hypotheses by that measure has ended (or at ``maxlen``), so shorter and longer
                answers compete on their mean log-prob. Without it the search is bert4keras' exactly.
            prefer_ended: (needs ``length_normalization``) an input that reaches ``maxlen`` without finishing returns
                its best ended hypothesis when it has one, even if an unfinished beam has a higher mean log-prob
                (e.g. a question that ended on its question mark rather than a copied fragment cut at ``maxlen``).

        Returns:
            A :class:`Result` per input.

        Example::

            best = dec.beam_search([token_ids], beam_size=4)[0]
        """
        if not (isinstance(beam_size, (int, np.integer)) and beam_size >= 1):
            raise ValueError('beam_size must be an integer >= 1, got %r' % (beam_size,))
        if prefer_ended and not length_normalization:
            raise ValueError('prefer_ended needs length_normalization=True (only then are ended hypotheses kept)')
        processors = check_processors(processors)
        stops = self._stops_on(min_ends)
        state = self.prefill(inputs, segments)
        loop = self.lm.loop('beam', processors, int(beam_size), length_normalization, prefer_ended)
        t0 = time.perf_counter()
        out = loop(tf.constant(state.log_probs), state.cache, tf.constant(state.lengths),
                   tf.constant(state.prompt_size, tf.int32), tf.constant(state.prompt_real), *stops,
                   self._datas(processors))
        return self._results(*out, t0)
