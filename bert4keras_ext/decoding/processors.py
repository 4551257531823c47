"""Logits processors: tensor functions of next-token scores that run inside the decoder's one compiled loop
(:class:`~.decoder.Decoder`: greedy, beam search and sampling), and, through :func:`attach_to_autoregressive_decoder`,
inside bert4keras' own ``AutoRegressiveDecoder`` subclasses.

A processor is called as ``processor(scores, output_ids, step, rows)`` with TensorFlow tensors:

* ``scores`` ``[N, V]`` float: the next-token log-probs of N rows (beams or samples), as changed by the processors
  before it; ``-inf`` removes a token;
* ``output_ids`` ``[N, T]`` int32: the tokens each row has generated; columns ``>= step`` are 0 (not tokens);
* ``step`` scalar int32: how many tokens every row has generated so far (rows advance together);
* ``rows`` ``[N]`` int32: the index of the input each row belongs to (for per-input constraints);

and returns new ``[N, V]`` scores (TF ops only, so that the loop compiles with XLA). The decoder renormalises after
the last processor. The built-in processors keep their data (passages, banned n-grams, k, p) in tensors that the
decoder passes into the compiled loop (:meth:`LogitsProcessor.tensors`), so new passages or a new ``p`` do not
recompile it.

A processor written in numpy (or calling Python) is :class:`PythonProcessor`: it runs through ``tf.numpy_function``
(the loop then runs without XLA, and every step returns to Python: slower). A plain Python callable is refused
with a message saying which of the two to write.

Consistent variants (article 1, Welleck et al. 2020): the end token(s) always stay in the top-k / nucleus set.
"""
import numpy as np
import tensorflow as tf

from bert4keras_ext.decoding.automaton import SuffixAutomaton

NEG_INF = -np.inf


def _check_end_ids(end_ids):
    end_ids = [end_ids] if np.isscalar(end_ids) else list(end_ids or [])
    return np.array(end_ids, dtype='int32')


def _bucket(n, smallest=1):
    """The next power of two >= max(n, smallest): padded table sizes, so that few shapes reach the compiler."""
    n = max(int(n), smallest)
    return 1 << (n - 1).bit_length()


def _in_xla():
    """Whether the ops being built are compiled by XLA (inside a ``jit_compile`` function), where a dynamic shape
    (``tf.where`` of a mask) cannot be used."""
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util
    return control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph())


def _neg_inf(scores):
    return tf.fill(tf.shape(scores), tf.constant(NEG_INF, scores.dtype))


def _column_mask(ids, vocab):
    """``[V]`` bool: True at the token ids ``ids`` (a 1-D tensor)."""
    return tf.reduce_any(tf.range(vocab)[None, :] == tf.reshape(ids, [-1, 1]), 0)


def token_mask(tokens, valid, vocab):
    """``[N, V]`` bool: True where row ``n`` has a token ``tokens[n, m]`` with ``valid[n, m]``.

    Args:
        tokens: ``[N, M]`` int32 token ids (any value in ``[0, vocab)`` where not valid).
        valid: ``[N, M]`` bool.
        vocab: the vocabulary size.

    Returns:
        ``[N, vocab]`` bool.

    Example::

        token_mask(tf.constant([[1, 2]]), tf.constant([[True, False]]), 4)   # [[False, True, False, False]]
    """
    n, m = tf.shape(tokens)[0], tf.shape(tokens)[1]
    row = tf.broadcast_to(tf.range(n)[:, None], [n, m])
    index = tf.stack([tf.reshape(row, [-1]), tf.reshape(tf.clip_by_value(tokens, 0, vocab - 1), [-1])], 1)
    return tf.scatter_nd(index, tf.reshape(tf.cast(valid, tf.int32), [-1]), [n, vocab]) > 0


def _sortable_keys(scores):
    """int32 keys ordered as the float32 values (``-inf`` lowest): the float's bits, negatives flipped."""
    bits = tf.bitcast(tf.cast(scores, tf.float32), tf.int32)
    flip = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 31), tf.constant(0x7FFFFFFF, tf.int32))
    return tf.bitwise.bitwise_xor(bits, flip)


def _threshold_keys(keys, enough):
    """Per row, the largest key threshold ``t`` such that ``enough(keys >= t)`` holds (``enough``: ``[N, V]`` bool ->
    ``[N]`` bool, monotone: true for a larger set whenever true for a smaller one): a binary search between the
    row's smallest and largest key (about 25 passes over the row for log-probs), exact, ties included, and without
    sorting the row (XLA's sort on CPU costs hundreds of milliseconds for a batch of 21,128-token rows)."""
    lo = tf.cast(tf.reduce_min(keys, 1), tf.int64)      # enough(every token) holds
    hi = tf.cast(tf.reduce_max(keys, 1), tf.int64) + 1  # enough(no token) does not

    def body(lo, hi):
        mid = (lo + hi) // 2
        ok = enough(keys >= tf.cast(mid, tf.int32)[:, None]) | (hi - lo <= 1)
        return tf.where(ok & (hi - lo > 1), mid, lo), tf.where(ok, hi, mid)

    lo, _ = tf.while_loop(lambda lo, hi: tf.reduce_any(hi - lo > 1), body, (lo, hi), maximum_iterations=33)
    return tf.cast(lo, tf.int32)


class LogitsProcessor:
    """Base class of the decoding processors: ``processor(scores, output_ids, step, rows) -> scores``, TF ops.

    Args (of ``__call__``):
        scores: ``[N, V]`` float tensor, the next-token log-probs of N rows (beams or samples).
        output_ids: ``[N, T]`` int32 tensor, the tokens each row has generated (columns ``>= step`` are 0).
        step: scalar int32 tensor, the number of tokens generated so far.
        rows: ``[N]`` int32 tensor, the index of the input each row belongs to (for per-input constraints).

    Returns new ``[N, V]`` scores; ``-inf`` removes a token. Rows need not be normalised: the decoder renormalises
    after the last processor. A subclass that writes ``__call__`` with TF ops runs inside the compiled (XLA) loop;
    its Python attributes are constants of that loop (a new instance is compiled anew). Built-in processors also
    define :meth:`tensors` and :meth:`process`, so that their data enters the loop as arguments.

    Example::

        class BanToken(LogitsProcessor):
            def __init__(self, token_id):
                self.token_id = token_id

            def __call__(self, scores, output_ids, step, rows):
                banned = tf.range(tf.shape(scores)[1]) == self.token_id
                return tf.where(banned[None, :], tf.constant(-np.inf, scores.dtype), scores)

        decoder.sample([token_ids], n=4, processors=[BanToken(100), TopP(0.9)], seed=0)
    """

    #: False for processors that call Python (:class:`PythonProcessor`): the loop then runs without XLA
    compilable = True
    #: True: the loop is traced with AutoGraph, so ``__call__`` may use Python ``if``/``for`` on tensors (a
    #: subclass's default); the built-ins are plain TF ops and set False (tracing without AutoGraph is faster)
    autograph = True

    def __call__(self, scores, output_ids, step, rows):
        if type(self).process is not LogitsProcessor.process:
            return self.process(scores, output_ids, step, rows, self.tensors(int(scores.shape[-1])))
        raise NotImplementedError('a LogitsProcessor implements __call__(scores, output_ids, step, rows) with '
                                  'TensorFlow ops')

    def tensors(self, vocab_size):
        """The processor's data as a nest of tensors (passed into the compiled loop as arguments); checks that its
        token ids fit ``vocab_size``. Default: none (``__call__`` is used as it is)."""
        return {}

    def process(self, scores, output_ids, step, rows, data):
        """What the compiled loop calls: ``__call__`` with the processor's :meth:`tensors` ``data``."""
        return self(scores, output_ids, step, rows)

    def signature(self):
        """What the compiled loop is specialised on (the loop is reused for an equal signature): the class and its
        static settings for built-ins; the instance itself otherwise."""
        return self

    def __repr__(self):
        fields = ', '.join('%s=%r' % (k, v) for k, v in vars(self).items() if not k.startswith('_'))
        return '%s(%s)' % (type(self).__name__, fields)


class _Builtin(LogitsProcessor):
    """A processor whose data are tensors (``tensors``) and whose graph depends only on ``static``."""
    static = ()
    autograph = False

    def signature(self):
        return (type(self).__name__,) + tuple(getattr(self, name) for name in self.static)

    def _check_ids(self, ids, vocab, what):
        bad = sorted({int(t) for t in np.ravel(ids) if not 0 <= int(t) < vocab})
        if bad:
            raise ValueError('%s: %s %s are outside the vocabulary of size %d'
                             % (type(self).__name__, what, bad[:5], vocab))


class Temperature(_Builtin):
    """Divide the scores by ``temperature`` (> 1 flattens, < 1 sharpens the distribution).

    Args:
        temperature: a float > 0.

    Example::

        decoder.sample(inputs, n=4, processors=[Temperature(0.7), TopK(40)], seed=0)
    """

    def __init__(self, temperature):
        if not temperature > 0:
            raise ValueError('temperature must be > 0, got %r' % (temperature,))
        self.temperature = float(temperature)

    def tensors(self, vocab_size):
        return {'t': tf.constant(self.temperature, tf.float32)}

    def process(self, scores, output_ids, step, rows, data):
        return scores / tf.cast(data['t'], scores.dtype)


class TopK(_Builtin):
    """Keep the ``k`` most probable tokens (Fan et al., 2018); tokens tied with the k-th stay too (as Hugging
    Face's ``TopKLogitsWarper``). ``k`` is data of the compiled loop: another ``k`` does not recompile it.

    Args:
        k: how many tokens to keep (an integer >= 1).
        consistent: also keep the end token(s), so that sampling can always stop (article 1; Welleck et al.,
            2020, "consistent top-k").
        end_ids: the end token id(s); required with ``consistent``.

    Example::

        TopK(5, consistent=True, end_ids=[tokenizer._token_end_id])
    """
    static = ('consistent', 'n_end')

    def __init__(self, k, consistent=False, end_ids=None):
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise ValueError('top_k must be an integer >= 1, got %r' % (k,))
        if consistent and end_ids is None:
            raise ValueError('consistent top-k needs end_ids')
        self.k, self.consistent, self.end_ids = int(k), bool(consistent), _check_end_ids(end_ids)
        self.n_end = len(self.end_ids)

    def tensors(self, vocab_size):
        self._check_ids(self.end_ids, vocab_size, 'end ids')
        return {'k': tf.constant(self.k, tf.int32), 'end': tf.constant(self.end_ids, tf.int32)}

    def process(self, scores, output_ids, step, rows, data):
        # the k-th largest by the key search (XLA's top-k on CPU cost 6x a tiny model's whole step at k = 40)
        keys = _sortable_keys(scores)
        k = tf.minimum(data['k'], tf.shape(scores)[1])
        keep = keys >= _threshold_keys(keys, lambda m: tf.reduce_sum(tf.cast(m, tf.int32), 1) >= k)[:, None]
        if self.consistent:
            keep |= _column_mask(data['end'], tf.shape(scores)[1])[None, :]
        return tf.where(keep, scores, _neg_inf(scores))


class TopP(_Builtin):
    """Nucleus sampling (Holtzman et al., 2020): keep the most probable tokens up to and including the one where
    the cumulative probability first reaches ``p`` (bert4keras' rule); tokens tied with that last one stay too.

    Args:
        p: the probability mass to keep, in (0, 1].
        consistent: also keep the end token(s) ("consistent nucleus", article 1).
        end_ids: the end token id(s); required with ``consistent``.

    Example::

        TopP(0.9, consistent=True, end_ids=[tokenizer._token_end_id])
    """
    static = ('consistent', 'n_end')

    def __init__(self, p, consistent=False, end_ids=None):
        if not (0 < p <= 1):
            raise ValueError('top_p must be in (0, 1], got %r' % (p,))
        if consistent and end_ids is None:
            raise ValueError('consistent nucleus needs end_ids')
        self.p, self.consistent, self.end_ids = float(p), bool(consistent), _check_end_ids(end_ids)
        self.n_end = len(self.end_ids)

    def tensors(self, vocab_size):
        self._check_ids(self.end_ids, vocab_size, 'end ids')
        return {'p': tf.constant(self.p, tf.float64), 'end': tf.constant(self.end_ids, tf.int32)}

    #: the nucleus is looked for among the most probable tokens first (a partial top-k, cheap); a row whose
    #: CANDIDATES most probable tokens hold less than p falls back to an exact search over the whole row
    CANDIDATES = 256
    #: tokens more than ln(V) + SPREAD nats below a row's best hold under e^-SPREAD of its mass together: nothing
    #: in float64 (the sparse path outside XLA reads only the tokens above that line)
    SPREAD = 40.0

    def process(self, scores, output_ids, step, rows, data):
        keep = self._nucleus(scores, data['p'])
        if self.consistent:
            keep |= _column_mask(data['end'], tf.shape(scores)[1])[None, :]
        return tf.where(keep, scores, _neg_inf(scores))

    def _nucleus(self, scores, p):
        """``[N, V]`` bool: the nucleus of each row. Outside XLA, when every row has at most CANDIDATES tokens
        within ln(V) + SPREAD of its best (e.g. under the span constraint, which leaves a few passage tokens), the
        nucleus is computed on those tokens alone, gathered by ``tf.where`` (a dynamic shape, which XLA cannot
        compile); otherwise (and always in XLA) on a partial top-k of the whole row."""
        if _in_xla():
            return self._nucleus_of_top(scores, p)
        vocab = tf.cast(tf.shape(scores)[1], scores.dtype)
        best = tf.reduce_max(scores, 1, keepdims=True)
        near = (scores >= best - (tf.math.log(vocab) + self.SPREAD)) & (scores > NEG_INF)
        count = tf.reduce_sum(tf.cast(near, tf.int32), 1)
        most = tf.reduce_max(count)
        return tf.cond((most >= 1) & (most <= self.CANDIDATES),
                       lambda: self._nucleus_of_near(scores, p, near, count, most),
                       lambda: self._nucleus_of_top(scores, p))

    @staticmethod
    def _threshold(top, lse, p):
        """Per row, the score of the token where the sorted cumulative mass of ``top`` ``[N, K]`` (descending)
        first reaches ``p``, and whether it does."""
        cum = tf.cumsum(tf.exp(tf.cast(top, tf.float64) - lse), 1)
        reached = cum >= p
        first = tf.argmax(tf.cast(reached, tf.int32), 1, output_type=tf.int32)
        return tf.gather(top, first, batch_dims=1)[:, None], tf.reduce_any(reached, 1)

    def _nucleus_of_near(self, scores, p, near, count, most):
        where = tf.where(near)                                            # [nnz, 2], row-major
        row = tf.cast(where[:, 0], tf.int32)
        starts = tf.cumsum(count, exclusive=True)
        column = tf.range(tf.shape(where)[0]) - tf.gather(starts, row)    # place of the token among its row's
        dense = tf.tensor_scatter_nd_update(tf.fill([tf.shape(scores)[0], most], tf.constant(NEG_INF, scores.dtype)),
                                            tf.stack([row, column], 1), tf.gather_nd(scores, where))
        top = tf.math.top_k(dense, most, sorted=True).values
        lse = tf.reduce_logsumexp(tf.cast(dense, tf.float64), -1, keepdims=True)
        lse = tf.where(tf.math.is_finite(lse), lse, tf.zeros_like(lse))
        threshold, found = self._threshold(top, lse, p)
        # a row that does not reach p here (p near 1 and rounding) takes the whole-row search, as before
        return tf.cond(tf.reduce_all(found | (count == 0)), lambda: scores >= threshold,
                       lambda: self._nucleus_of_top(scores, p))

    def _nucleus_of_top(self, scores, p):
        vocab = scores.shape[-1]
        k = min(self.CANDIDATES, vocab) if vocab is not None else self.CANDIDATES
        top = tf.math.top_k(scores, k, sorted=True).values
        lse = tf.reduce_logsumexp(tf.cast(scores, tf.float64), -1, keepdims=True)
        lse = tf.where(tf.math.is_finite(lse), lse, tf.zeros_like(lse))
        threshold, found = self._threshold(top, lse, p)   # keep every token at least as probable as threshold

        def exact():  # the nucleus is larger than the candidates (a flat distribution)
            probs = tf.exp(scores - tf.cast(lse, scores.dtype))  # float32: the passes are memory-bound
            zero, p32 = tf.zeros_like(probs), tf.cast(p, probs.dtype)
            keys = _sortable_keys(scores)
            cut = _threshold_keys(keys, lambda m: tf.reduce_sum(tf.where(m, probs, zero), 1) >= p32)[:, None]
            return tf.where(found[:, None], scores >= threshold, keys >= cut)

        return tf.cond(tf.reduce_all(found), lambda: scores >= threshold, exact)


class MinLength(_Builtin):
    """Forbid the end token(s) while fewer than ``min_length`` tokens were generated.

    Args:
        min_length: the fewest tokens before an end token may be chosen.
        end_ids: the end token id(s).

    Example::

        MinLength(3, end_ids=[tokenizer._token_end_id])
    """
    static = ('n_end',)

    def __init__(self, min_length, end_ids):
        self.min_length, self.end_ids = int(min_length), _check_end_ids(end_ids)
        self.n_end = len(self.end_ids)

    def tensors(self, vocab_size):
        self._check_ids(self.end_ids, vocab_size, 'end ids')
        return {'n': tf.constant(self.min_length, tf.int32), 'end': tf.constant(self.end_ids, tf.int32)}

    def process(self, scores, output_ids, step, rows, data):
        ban = (step < data['n']) & _column_mask(data['end'], tf.shape(scores)[1])
        return tf.where(ban[None, :], _neg_inf(scores), scores)


class NoRepeatNGram(_Builtin):
    """Forbid any token that would repeat an n-gram already in the row's output.

    Args:
        n: the n-gram size (>= 1; 1 forbids repeating any token).

    Example::

        NoRepeatNGram(2)   # "日日日" cannot happen: the bigram 日日 would repeat
    """
    static = ('n',)

    def __init__(self, n):
        if n < 1:
            raise ValueError('no-repeat n-gram size must be >= 1, got %r' % (n,))
        self.n = int(n)

    def process(self, scores, output_ids, step, rows, data):
        n, width = self.n, tf.shape(output_ids)[1]
        start = tf.range(width)                      # an earlier n-gram starting at each column
        match = tf.broadcast_to(start[None, :] < step - n + 1, tf.shape(output_ids))
        for j in range(n - 1):                       # its first n-1 tokens equal the row's last n-1
            earlier = tf.gather(output_ids, tf.minimum(start + j, width - 1), axis=1)
            last = tf.gather(output_ids, tf.clip_by_value(step - n + 1 + j, 0, width - 1), axis=1)
            match &= earlier == last[:, None]
        following = tf.gather(output_ids, tf.minimum(start + n - 1, width - 1), axis=1)
        banned = token_mask(following, match, tf.shape(scores)[1])
        return tf.where(banned, _neg_inf(scores), scores)


class BanNGrams(_Builtin):
    """Forbid any token that would complete one of a row's banned n-grams (per input: ``sequences[rows[i]]``), e.g.
    the answer's n-grams when writing its question, so that a question does not copy its answer.

    Args:
        sequences: per input, the token lists whose n-grams are banned (e.g. ``[answer_ids]`` of each input).
        n: the n-gram size (>= 1).

    Example::

        BanNGrams([[answer_ids] for answer_ids in answers], n=3)
    """
    static = ('n',)

    def __init__(self, sequences, n):
        if n < 1:
            raise ValueError('banned n-gram size must be >= 1, got %r' % (n,))
        self.n = int(n)
        self.grams = []
        for seqs in sequences:
            grams = {tuple(int(t) for t in seq[j:j + self.n]) for seq in seqs for j in range(len(seq) - self.n + 1)}
            self.grams.append(sorted(grams))

    def __repr__(self):
        return 'BanNGrams(n=%d, inputs=%d)' % (self.n, len(self.grams))

    def tensors(self, vocab_size):
        self._check_ids([t for g in self.grams for gram in g for t in gram], vocab_size, 'banned token ids')
        width = _bucket(max([len(g) for g in self.grams] + [1]))
        grams = np.zeros((max(len(self.grams), 1), width, self.n), 'int32')
        valid = np.zeros(grams.shape[:2], bool)
        for i, g in enumerate(self.grams):
            if g:
                grams[i, :len(g)] = g
                valid[i, :len(g)] = True
        return {'grams': tf.constant(grams), 'valid': tf.constant(valid)}

    def process(self, scores, output_ids, step, rows, data):
        grams, valid = tf.gather(data['grams'], rows), tf.gather(data['valid'], rows)  # [N, G, n], [N, G]
        width = tf.shape(output_ids)[1]
        match = valid & (step >= self.n - 1)
        for j in range(self.n - 1):
            last = tf.gather(output_ids, tf.clip_by_value(step - self.n + 1 + j, 0, width - 1), axis=1)
            match &= grams[:, :, j] == last[:, None]
        banned = token_mask(grams[:, :, self.n - 1], match, tf.shape(scores)[1])
        return tf.where(banned, _neg_inf(scores), scores)


class EndOnlyAfter(_Builtin):
    """Allow the end token(s) only right after one of ``tokens`` (e.g. a question mark, so that a question ends as
    one); a row whose last token is not one of them cannot stop, except at the decoder's length limit.

    Args:
        tokens: the token ids after which an end token is allowed.
        end_ids: the end token id(s).

    Example::

        EndOnlyAfter([tokenizer.token_to_id('？'), tokenizer.token_to_id('?')], end_ids=[sep_id])
    """
    static = ('n_tokens', 'n_end')

    def __init__(self, tokens, end_ids):
        self.tokens, self.end_ids = sorted(set(int(t) for t in tokens)), _check_end_ids(end_ids)
        if not self.tokens:
            raise ValueError('EndOnlyAfter needs at least one token after which the end is allowed')
        self.n_tokens, self.n_end = len(self.tokens), len(self.end_ids)

    def tensors(self, vocab_size):
        self._check_ids(list(self.tokens) + list(self.end_ids), vocab_size, 'token ids')
        return {'after': tf.constant(self.tokens, tf.int32), 'end': tf.constant(self.end_ids, tf.int32)}

    def process(self, scores, output_ids, step, rows, data):
        last = tf.gather(output_ids, tf.maximum(step - 1, 0), axis=1)
        ok = (step >= 1) & tf.reduce_any(last[:, None] == data['after'][None, :], 1)
        ban = tf.logical_not(ok)[:, None] & _column_mask(data['end'], tf.shape(scores)[1])[None, :]
        return tf.where(ban, _neg_inf(scores), scores)


class RequireBefore(_Builtin):
    """Allow ``tokens`` (e.g. the question mark and the end token) only once the row's output holds one of
    ``required`` (e.g. an interrogative) and at least ``min_count`` tokens outside ``uncounted`` (e.g. a subject
    besides the question words and function words); until then they are removed.

    Args:
        tokens: the token ids that wait for the conditions.
        required: token ids of which the output must hold at least one (empty: no such condition).
        min_count: the fewest generated tokens outside ``uncounted`` (0: no such condition).
        uncounted: token ids that do not count towards ``min_count``.

    Example::

        RequireBefore([qmark_id, sep_id], required=[tokenizer.token_to_id(c) for c in '谁什哪'], min_count=2,
                      uncounted=[tokenizer.token_to_id(c) for c in '谁什么哪里是的'])
    """
    static = ('n_required', 'counts')

    def __init__(self, tokens, required=(), min_count=0, uncounted=()):
        self.tokens = sorted(set(int(t) for t in tokens))
        self.required = sorted(set(int(t) for t in required))
        self.min_count = int(min_count)
        self.uncounted = sorted(set(int(t) for t in uncounted))
        if not self.tokens:
            raise ValueError('RequireBefore needs at least one token to hold back')
        if self.min_count < 0:
            raise ValueError('min_count must be >= 0, got %r' % (min_count,))
        if not self.required and not self.min_count:
            raise ValueError('RequireBefore needs required tokens or min_count > 0 (otherwise it does nothing)')
        self.n_required, self.counts = len(self.required), self.min_count > 0

    def __repr__(self):
        return 'RequireBefore(tokens=%r, required=%d ids, min_count=%d, uncounted=%d ids)' % (
            self.tokens, len(self.required), self.min_count, len(self.uncounted))

    def tensors(self, vocab_size):
        self._check_ids(self.tokens + self.required + self.uncounted, vocab_size, 'token ids')
        required, uncounted = np.zeros(vocab_size, bool), np.zeros(vocab_size, bool)
        required[self.required] = True
        uncounted[self.uncounted] = True
        return {'tokens': tf.constant(self.tokens, tf.int32), 'required': tf.constant(required),
                'uncounted': tf.constant(uncounted), 'min_count': tf.constant(self.min_count, tf.int32)}

    def process(self, scores, output_ids, step, rows, data):
        generated = tf.range(tf.shape(output_ids)[1])[None, :] < step  # [1, T]
        ok = tf.ones([tf.shape(scores)[0]], bool)
        if self.n_required:
            ok &= tf.reduce_any(tf.gather(data['required'], output_ids) & generated, 1)
        if self.counts:
            counted = generated & tf.logical_not(tf.gather(data['uncounted'], output_ids))
            ok &= tf.reduce_sum(tf.cast(counted, tf.int32), 1) >= data['min_count']
        ban = tf.logical_not(ok)[:, None] & _column_mask(data['tokens'], tf.shape(scores)[1])[None, :]
        return tf.where(ban, _neg_inf(scores), scores)


class RepetitionPenalty(_Builtin):
    """Lower the log-prob of every token already generated by ``log(penalty)`` (Keskar et al., 2019, applied to
    log-probs).

    Args:
        penalty: a float >= 1 (1 changes nothing).

    Example::

        RepetitionPenalty(1.3)
    """

    def __init__(self, penalty):
        if not penalty >= 1:
            raise ValueError('repetition penalty must be >= 1, got %r' % (penalty,))
        self.penalty = float(penalty)

    def tensors(self, vocab_size):
        return {'log_penalty': tf.constant(np.log(self.penalty), tf.float32)}

    def process(self, scores, output_ids, step, rows, data):
        generated = tf.broadcast_to(tf.range(tf.shape(output_ids)[1])[None, :] < step, tf.shape(output_ids))
        seen = token_mask(output_ids, generated, tf.shape(scores)[1])
        return scores - tf.where(seen, tf.cast(data['log_penalty'], scores.dtype), tf.zeros_like(scores))


class SpanConstraint(_Builtin):
    """Every generated sequence before the end token is a contiguous span of the input's passage tokens (article
    5: answers that are passage spans).

    The passage's suffix automaton (:class:`~.automaton.SuffixAutomaton`) becomes a transition table over the
    passage's distinct tokens; each step walks the row's output through it and allows the tokens of the state
    reached, all as tensor ops inside the compiled loop.

    Args:
        passages: one token-id list per input (or a single list for all).
        end_ids: the end token id(s), allowed once the output is a non-empty span.
        min_span: the end token is allowed only after this many span tokens (default 1: no empty answers).

    Example::

        passage_ids = tokenizer.encode(passage)[0][1:-1]
        decoder.sample([source_ids], n=4, processors=[SpanConstraint([passage_ids], sep_id), TopP(0.9)], seed=0)
    """
    static = ('shared', 'n_end')
    #: the largest transition table (inputs x states x distinct tokens, int32) accepted: about 2 x the passage length
    #: states per input; a larger one is refused with a message rather than allocated
    MAX_TABLE_BYTES = 256 * 2 ** 20

    def __init__(self, passages, end_ids, min_span=1):
        if passages and np.isscalar(passages[0]):
            passages = [passages]
        self.passages = [[int(t) for t in p] for p in passages]
        if not self.passages:
            raise ValueError('SpanConstraint needs at least one passage')
        self.end_ids = _check_end_ids(end_ids)
        self.min_span = int(min_span)
        self.shared = len(self.passages) == 1
        self.n_end = len(self.end_ids)
        self._tables = None

    def __repr__(self):
        return 'SpanConstraint(passages=%d, end_ids=%r, min_span=%d)' % (len(self.passages), self.end_ids.tolist(),
                                                                         self.min_span)

    def automaton(self, row):
        """The suffix automaton of input ``row``'s passage."""
        return SuffixAutomaton(self.passages[0 if self.shared else row])

    def _build(self):
        automata = [SuffixAutomaton(p) for p in self.passages]
        tokens = [sorted(set(p)) for p in self.passages]
        n_states = _bucket(max(len(a.trans) for a in automata) + 1, 8)   # + the dead state
        n_tokens = _bucket(max(len(t) for t in tokens) + 1, 8)           # + the "not in the passage" column
        dead = n_states - 1
        size = 4 * len(automata) * n_states * n_tokens
        if size > self.MAX_TABLE_BYTES:
            raise ValueError('SpanConstraint: %d passages of up to %d tokens need a %.0f MB transition table (limit '
                             '%.0f MB, SpanConstraint.MAX_TABLE_BYTES): decode fewer or shorter passages per call'
                             % (len(automata), max(map(len, self.passages)), size / 2 ** 20,
                                self.MAX_TABLE_BYTES / 2 ** 20))
        trans = np.full((len(automata), n_states, n_tokens), dead, 'int32')
        for i, (a, toks) in enumerate(zip(automata, tokens)):
            local = {t: j for j, t in enumerate(toks)}
            for s, edges in enumerate(a.trans):
                for t, nxt in edges.items():
                    trans[i, s, local[t]] = nxt
        return trans, tokens, n_tokens, dead

    def tensors(self, vocab_size):
        if self._tables is None:
            self._tables = self._build()
        trans, tokens, n_tokens, dead = self._tables
        self._check_ids([t for toks in tokens for t in toks] + list(self.end_ids), vocab_size,
                        'token ids (end ids or passage tokens)')
        to_local = np.full((len(tokens), vocab_size), n_tokens - 1, 'int32')
        for i, toks in enumerate(tokens):
            to_local[i, toks] = np.arange(len(toks))
        return {'trans': tf.constant(trans), 'to_local': tf.constant(to_local), 'dead': tf.constant(dead),
                'min_span': tf.constant(self.min_span, tf.int32), 'end': tf.constant(self.end_ids, tf.int32)}

    def process(self, scores, output_ids, step, rows, data):
        trans, dead = data['trans'], data['dead']
        who = tf.zeros_like(rows) if self.shared else rows
        to_local = tf.gather(data['to_local'], who)                            # [N, V]

        def walk(j, state):
            local = tf.gather(to_local, output_ids[:, j], batch_dims=1)
            return j + 1, tf.gather_nd(trans, tf.stack([who, state, local], 1))

        _, state = tf.while_loop(lambda j, s: j < step, walk, (tf.constant(0), tf.zeros_like(rows)))
        allowed_local = tf.gather_nd(trans, tf.stack([who, state], 1)) != dead   # [N, U]; the last column: dead
        allowed = tf.gather(allowed_local, to_local, batch_dims=1)                # [N, V]
        end_ok = (state != dead) & (step >= data['min_span'])
        allowed |= end_ok[:, None] & _column_mask(data['end'], tf.shape(scores)[1])[None, :]
        return tf.where(allowed, scores, _neg_inf(scores))


class PythonProcessor(LogitsProcessor):
    """A processor written in numpy: ``fn(log_probs, output_ids, rows) -> log_probs`` with ``log_probs`` ``[N, V]``
    float64, ``output_ids`` N lists of generated tokens and ``rows`` N input indices. It runs through
    ``tf.numpy_function``: the decoder's loop then runs without XLA and returns to Python every step (slower; a
    :class:`LogitsProcessor` with TF ops avoids that).

    Args:
        fn: the numpy function.

    Example::

        def only_digits(log_probs, output_ids, rows):
            out = np.full_like(log_probs, -np.inf)
            out[:, digit_ids] = log_probs[:, digit_ids]
            return out

        decoder.sample(inputs, n=2, processors=[PythonProcessor(only_digits)], seed=0)
    """
    compilable = False
    autograph = False

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError('PythonProcessor needs a function fn(log_probs, output_ids, rows), got %r' % (fn,))
        self.fn = fn

    def numpy(self, log_probs, output_ids, rows):
        """The wrapped function on numpy inputs (lists of generated tokens)."""
        return self.fn(log_probs, output_ids, rows)

    def __call__(self, scores, output_ids, step, rows):
        def run(s, ids, t, r):
            lists = [list(row[:int(t)]) for row in ids]
            return np.asarray(self.numpy(s.astype('float64'), lists, r), dtype=s.dtype)
        out = tf.numpy_function(run, [scores, output_ids, step, rows], scores.dtype, stateful=False)
        return tf.ensure_shape(out, scores.shape)


class PrefixAllowedTokens(PythonProcessor):
    """Constrained decoding by a Python function, as Hugging Face's ``prefix_allowed_tokens_fn`` (a
    :class:`PythonProcessor`: the loop runs without XLA).

    Args:
        fn: ``fn(row, output_ids) -> allowed token ids``, from the input index ``row`` and the row's generated
            tokens.

    Example::

        PrefixAllowedTokens(lambda row, ids: digits if not ids else digits + [end_id])
    """

    def numpy(self, log_probs, output_ids, rows):
        out = np.full_like(log_probs, NEG_INF)
        for i, ids in enumerate(output_ids):
            allowed = np.asarray(list(self.fn(int(rows[i]), list(ids))), dtype=int)
            out[i, allowed] = log_probs[i, allowed]
        return out


def check_processors(processors):
    """``processors`` as a tuple of :class:`LogitsProcessor`; a plain callable is refused with what to write."""
    out = tuple(processors or ())
    for p in out:
        if not isinstance(p, LogitsProcessor):
            raise TypeError('processor %r is not a LogitsProcessor: write a LogitsProcessor subclass whose '
                            '__call__(scores, output_ids, step, rows) uses TensorFlow ops (it runs inside the '
                            'compiled loop), or wrap a numpy function fn(log_probs, output_ids, rows) in '
                            'PythonProcessor(fn) (slower: the loop then leaves the graph every step)' % (p,))
    return out


def run_processors(processors, datas, scores, output_ids, step, rows):
    """Apply ``processors`` (with their :meth:`~LogitsProcessor.tensors` ``datas``) in order and renormalise the
    rows (a row left without any token stays all ``-inf``). Inside the compiled loop and in :func:`apply`."""
    for proc, data in zip(processors, datas):
        scores = tf.ensure_shape(proc.process(scores, output_ids, step, rows, data), scores.shape)
    if not processors:
        return scores
    finite = tf.reduce_any(tf.math.is_finite(scores), -1, keepdims=True)
    safe = tf.where(finite, scores, tf.zeros_like(scores))
    return tf.where(finite, tf.nn.log_softmax(safe, -1), scores)


def apply(processors, log_probs, output_ids, rows=None):
    """Run ``processors`` eagerly on numpy log-probs and renormalise (for callers outside the decoder, e.g.
    bert4keras' own decoders and tests).

    Args:
        processors: a list of :class:`LogitsProcessor`.
        log_probs: ``[N, V]`` array.
        output_ids: N lists of generated tokens, all of one length (rows advance together).
        rows: the input index of each row (default ``0..N-1``).

    Returns:
        ``[N, V]`` float64 numpy log-probs.

    Example::

        apply([TopK(2)], np.log([[0.5, 0.3, 0.2]]), [[]])   # the 0.2 token becomes -inf
    """
    processors = check_processors(processors)
    log_probs = np.asarray(log_probs, dtype='float64')
    lengths = {len(ids) for ids in output_ids}
    if len(lengths) > 1:
        raise ValueError('apply: every row of output_ids must have the same length (rows advance together), '
                         'got lengths %s' % sorted(lengths))
    step = lengths.pop() if lengths else 0
    ids = np.zeros((len(output_ids), max(step, 1)), 'int32')
    for i, row in enumerate(output_ids):
        ids[i, :step] = row
    rows = np.arange(len(log_probs)) if rows is None else np.asarray(rows)
    vocab = log_probs.shape[1]
    datas = [p.tensors(vocab) for p in processors]
    out = run_processors(processors, datas, tf.constant(log_probs, tf.float32), tf.constant(ids),
                         tf.constant(step, tf.int32), tf.constant(rows, tf.int32))
    if not processors:
        out = tf.constant(log_probs)
    out = out.numpy().astype('float64')
    m = np.max(out, axis=-1, keepdims=True)  # renormalise in float64 (the float32 round trip leaves ~1e-7)
    finite = np.isfinite(m)
    with np.errstate(invalid='ignore', divide='ignore'):
        z = np.log(np.sum(np.exp(out - np.where(finite, m, 0)), -1, keepdims=True)) + np.where(finite, m, 0)
        return np.where(finite, out - z, NEG_INF)


def attach_to_autoregressive_decoder(decoder, processors):
    """Give an existing bert4keras ``AutoRegressiveDecoder`` instance our processors: its ``predict`` output (as
    log-probs) goes through them before beam search / sampling sees it.

    Args:
        decoder: a bert4keras ``AutoRegressiveDecoder`` subclass instance.
        processors: a list of :class:`LogitsProcessor`.

    Returns:
        ``decoder`` (its ``predict`` wrapped).

    Example::

        attach_to_autoregressive_decoder(my_bert4keras_decoder, [TopK(5, consistent=True, end_ids=[sep_id])])
    """
    processors = check_processors(processors)
    original = decoder.predict

    def predict(inputs, output_ids, states, temperature=1, rtype='probas'):
        scores, states = original(inputs, output_ids, states, temperature, 'logits')
        ids = [list(r) for r in np.asarray(output_ids)]
        if len(ids) != len(scores):
            ids = ids * len(scores)
        scores = apply(processors, scores, ids)
        if rtype == 'probas':
            return np.exp(scores), states
        return scores, states

    decoder.predict = predict
    return decoder
