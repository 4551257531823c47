"""Logits processors: composable functions of next-token log-probs, used by :class:`~.decoder.Decoder` and,
through :func:`attach_to_autoregressive_decoder`, by bert4keras' own ``AutoRegressiveDecoder`` subclasses.

A processor is called as ``processor(log_probs, output_ids, rows)`` with ``log_probs`` ``[N, V]`` (float64 numpy),
``output_ids`` a list of N generated-token lists and ``rows`` the N input indices the rows belong to (for per-input
constraints); it returns new log-probs where ``-inf`` removes a token. :func:`apply` runs a list and renormalises.

Consistent variants (article 1, Welleck et al. 2020): the end token(s) always stay in the top-k / nucleus set.
"""
import numpy as np

from bert4keras_ext.decoding.automaton import SuffixAutomaton

NEG_INF = -np.inf


def _check_end_ids(end_ids):
    end_ids = [end_ids] if np.isscalar(end_ids) else list(end_ids or [])
    return np.array(end_ids, dtype=int)


def log_normalize(log_probs):
    """Renormalise rows of log-probs; an all ``-inf`` row stays all ``-inf``."""
    m = np.max(log_probs, axis=-1, keepdims=True)
    finite = np.isfinite(m)
    safe_m = np.where(finite, m, 0.0)
    with np.errstate(divide='ignore', invalid='ignore'):
        z = np.log(np.sum(np.exp(log_probs - safe_m), axis=-1, keepdims=True)) + safe_m
        return np.where(finite, log_probs - z, NEG_INF)


def apply(processors, log_probs, output_ids, rows=None):
    """Run ``processors`` in order and renormalise."""
    rows = np.arange(len(log_probs)) if rows is None else rows
    out = np.asarray(log_probs, dtype='float64')
    for proc in processors or ():
        out = proc(out, output_ids, rows)
    return log_normalize(out)


class LogitsProcessor:
    """Base class of the decoding processors: ``processor(log_probs, output_ids, rows) -> log_probs``.

    Args (of ``__call__``):
        log_probs: ``[N, V]`` float64 numpy array, the next-token log-probabilities of N rows (beams or samples).
        output_ids: N lists, the tokens each row has generated so far.
        rows: N ints, the index of the input each row belongs to (for per-input constraints).

    Returns new ``[N, V]`` log-probs; ``-inf`` removes a token. Rows need not be normalised: :func:`apply`
    renormalises after the last processor. Any plain function with this signature works too.

    Example::

        class BanToken(LogitsProcessor):
            def __init__(self, token_id):
                self.token_id = token_id

            def __call__(self, log_probs, output_ids, rows):
                out = log_probs.copy()
                out[:, self.token_id] = -np.inf
                return out

        decoder.sample([token_ids], n=4, processors=[BanToken(100), TopP(0.9)], seed=0)
    """

    def __call__(self, log_probs, output_ids, rows):
        raise NotImplementedError('a LogitsProcessor implements __call__(log_probs, output_ids, rows)')

    def __repr__(self):
        fields = ', '.join('%s=%r' % (k, v) for k, v in vars(self).items() if not k.startswith('_'))
        return '%s(%s)' % (type(self).__name__, fields)


class Temperature(LogitsProcessor):
    """Divide the log-probs by ``temperature`` (> 1 flattens, < 1 sharpens the distribution).

    Args:
        temperature: a float > 0.

    Example::

        decoder.sample(inputs, n=4, processors=[Temperature(0.7), TopK(40)], seed=0)
    """

    def __init__(self, temperature):
        if not temperature > 0:
            raise ValueError('temperature must be > 0, got %r' % (temperature,))
        self.temperature = float(temperature)

    def __call__(self, log_probs, output_ids, rows):
        return log_probs / self.temperature


class TopK(LogitsProcessor):
    """Keep the ``k`` most probable tokens (Fan et al., 2018).

    Args:
        k: how many tokens to keep (an integer >= 1).
        consistent: also keep the end token(s), so that sampling can always stop (article 1; Welleck et al.,
            2020, "consistent top-k").
        end_ids: the end token id(s); required with ``consistent``.

    Example::

        TopK(5, consistent=True, end_ids=[tokenizer._token_end_id])
    """

    def __init__(self, k, consistent=False, end_ids=None):
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise ValueError('top_k must be an integer >= 1, got %r' % (k,))
        if consistent and end_ids is None:
            raise ValueError('consistent top-k needs end_ids')
        self.k, self.consistent, self.end_ids = int(k), consistent, _check_end_ids(end_ids)

    def __call__(self, log_probs, output_ids, rows):
        k = min(self.k, log_probs.shape[1])
        keep = np.zeros_like(log_probs, dtype=bool)
        idx = np.argpartition(-log_probs, k - 1, axis=1)[:, :k]
        np.put_along_axis(keep, idx, True, axis=1)
        if self.consistent:
            keep[:, self.end_ids] = True
        return np.where(keep, log_probs, NEG_INF)


class TopP(LogitsProcessor):
    """Nucleus sampling (Holtzman et al., 2020): keep the most probable tokens up to and including the one where
    the cumulative probability first reaches ``p`` (bert4keras' rule).

    Args:
        p: the probability mass to keep, in (0, 1].
        consistent: also keep the end token(s) ("consistent nucleus", article 1).
        end_ids: the end token id(s); required with ``consistent``.

    Example::

        TopP(0.9, consistent=True, end_ids=[tokenizer._token_end_id])
    """

    def __init__(self, p, consistent=False, end_ids=None):
        if not (0 < p <= 1):
            raise ValueError('top_p must be in (0, 1], got %r' % (p,))
        if consistent and end_ids is None:
            raise ValueError('consistent nucleus needs end_ids')
        self.p, self.consistent, self.end_ids = float(p), consistent, _check_end_ids(end_ids)

    def __call__(self, log_probs, output_ids, rows):
        probs = np.exp(log_normalize(log_probs))
        order = np.argsort(-probs, axis=1, kind='stable')
        sorted_p = np.take_along_axis(probs, order, axis=1)
        cum = np.cumsum(sorted_p, axis=1)
        drop_sorted = np.roll(cum >= self.p, 1, axis=1)
        drop_sorted[:, 0] = False
        keep = np.ones_like(probs, dtype=bool)
        np.put_along_axis(keep, order, ~drop_sorted, axis=1)
        if self.consistent:
            keep[:, self.end_ids] = True
        return np.where(keep, log_probs, NEG_INF)


class MinLength(LogitsProcessor):
    """Forbid the end token(s) while fewer than ``min_length`` tokens were generated.

    Args:
        min_length: the fewest tokens before an end token may be chosen.
        end_ids: the end token id(s).

    Example::

        MinLength(3, end_ids=[tokenizer._token_end_id])
    """

    def __init__(self, min_length, end_ids):
        self.min_length, self.end_ids = int(min_length), _check_end_ids(end_ids)

    def __call__(self, log_probs, output_ids, rows):
        out = log_probs.copy()
        for i, ids in enumerate(output_ids):
            if len(ids) < self.min_length:
                out[i, self.end_ids] = NEG_INF
        return out


class NoRepeatNGram(LogitsProcessor):
    """Forbid any token that would repeat an n-gram already in the row's output.

    Args:
        n: the n-gram size (>= 1; 1 forbids repeating any token).

    Example::

        NoRepeatNGram(2)   # "日日日" cannot happen: the bigram 日日 would repeat
    """

    def __init__(self, n):
        if n < 1:
            raise ValueError('no-repeat n-gram size must be >= 1, got %r' % (n,))
        self.n = int(n)

    def __call__(self, log_probs, output_ids, rows):
        out = log_probs.copy()
        n = self.n
        for i, ids in enumerate(output_ids):
            ids = list(ids)
            if len(ids) < n - 1:
                continue
            prefix = tuple(ids[len(ids) - n + 1:]) if n > 1 else ()
            banned = [ids[j + n - 1] for j in range(len(ids) - n + 1) if tuple(ids[j:j + n - 1]) == prefix]
            out[i, banned] = NEG_INF
        return out


class BanNGrams(LogitsProcessor):
    """Forbid any token that would complete one of a row's banned n-grams (per input: ``banned[rows[i]]``), e.g.
    the answer's n-grams when writing its question, so that a question does not copy its answer.

    Args:
        sequences: per input, the token lists whose n-grams are banned (e.g. ``[answer_ids]`` of each input).
        n: the n-gram size (>= 1).

    Example::

        BanNGrams([[answer_ids] for answer_ids in answers], n=3)
    """

    def __init__(self, sequences, n):
        if n < 1:
            raise ValueError('banned n-gram size must be >= 1, got %r' % (n,))
        self.n = int(n)
        self.banned = []
        for seqs in sequences:
            table = {}
            for seq in seqs:
                seq = list(seq)
                for j in range(len(seq) - self.n + 1):
                    table.setdefault(tuple(seq[j:j + self.n - 1]), set()).add(seq[j + self.n - 1])
            self.banned.append({k: sorted(v) for k, v in table.items()})

    def __call__(self, log_probs, output_ids, rows):
        out = log_probs.copy()
        n = self.n
        for i, (ids, r) in enumerate(zip(output_ids, rows)):
            if len(ids) < n - 1:
                continue
            prefix = tuple(list(ids)[len(ids) - n + 1:]) if n > 1 else ()
            banned = self.banned[r].get(prefix)
            if banned:
                out[i, banned] = NEG_INF
        return out


class EndOnlyAfter(LogitsProcessor):
    """Allow the end token(s) only right after one of ``tokens`` (e.g. a question mark, so that a question ends as
    one); a row whose last token is not one of them cannot stop, except at the decoder's length limit.

    Example::

        EndOnlyAfter([tokenizer.token_to_id('？'), tokenizer.token_to_id('?')], end_ids=[sep_id])
    """

    def __init__(self, tokens, end_ids):
        self.tokens, self.end_ids = set(int(t) for t in tokens), _check_end_ids(end_ids)
        if not self.tokens:
            raise ValueError('EndOnlyAfter needs at least one token after which the end is allowed')

    def __call__(self, log_probs, output_ids, rows):
        out = log_probs.copy()
        for i, ids in enumerate(output_ids):
            if not len(ids) or int(ids[-1]) not in self.tokens:
                out[i, self.end_ids] = NEG_INF
        return out


class RepetitionPenalty(LogitsProcessor):
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

    def __call__(self, log_probs, output_ids, rows):
        out = log_probs.copy()
        for i, ids in enumerate(output_ids):
            if len(ids):
                out[i, np.unique(ids)] -= np.log(self.penalty)
        return out


class PrefixAllowedTokens(LogitsProcessor):
    """Constrained decoding by a function, as Hugging Face's ``prefix_allowed_tokens_fn``.

    Args:
        fn: ``fn(row, output_ids) -> allowed token ids``, from the input index ``row`` and the row's generated
            tokens.

    Example::

        PrefixAllowedTokens(lambda row, ids: digits if not ids else digits + [end_id])
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, log_probs, output_ids, rows):
        out = np.full_like(log_probs, NEG_INF)
        for i, ids in enumerate(output_ids):
            allowed = np.asarray(list(self.fn(int(rows[i]), list(ids))), dtype=int)
            out[i, allowed] = log_probs[i, allowed]
        return out


class SpanConstraint(LogitsProcessor):
    """Every generated sequence before the end token is a contiguous span of the input's passage tokens (article
    5: answers that are passage spans).

    Args:
        passages: one token-id list per input (or a single list for all). Each step costs the automaton's
            out-degree (<= vocabulary) per row; states are memoised by prefix, so nothing rescans the passage.
        end_ids: the end token id(s), allowed once the output is a non-empty span.
        min_span: the end token is allowed only after this many span tokens (default 1: no empty answers).

    Example::

        passage_ids = tokenizer.encode(passage)[0][1:-1]
        decoder.sample([source_ids], n=4, processors=[SpanConstraint([passage_ids], sep_id), TopP(0.9)], seed=0)
    """

    def __init__(self, passages, end_ids, min_span=1):
        if passages and np.isscalar(passages[0]):
            passages = [passages]
        self.automata = [SuffixAutomaton(list(p)) for p in passages]
        self.end_ids = _check_end_ids(end_ids)
        self.min_span = int(min_span)
        self._states = {}
        self._checked = {}

    def automaton(self, row):
        return self.automata[row if len(self.automata) > 1 else 0]

    def state(self, row, ids):
        key = (row if len(self.automata) > 1 else 0, tuple(ids))
        if key not in self._states:
            parent = self.state(row, ids[:-1]) if ids else 0
            self._states[key] = self.automaton(row).advance(parent, ids[-1]) if ids else 0
        return self._states[key]

    def __call__(self, log_probs, output_ids, rows):
        vocab = log_probs.shape[-1]
        if not self._checked.get(vocab):
            bad = [int(e) for e in self.end_ids if not 0 <= e < vocab]
            bad += [int(t) for a in self.automata for t in a.next_tokens(0) if not 0 <= t < vocab]
            if bad:
                raise ValueError('SpanConstraint: token ids %s (end ids or passage tokens) are outside the '
                                 'vocabulary of size %d' % (sorted(set(bad))[:5], vocab))
            self._checked[vocab] = True
        out = np.full_like(log_probs, NEG_INF)
        for i, ids in enumerate(output_ids):
            row = int(rows[i])
            state = self.state(row, list(ids))
            allowed = self.automaton(row).next_tokens(state)
            if allowed:
                out[i, allowed] = log_probs[i, allowed]
            if state is not None and len(ids) >= self.min_span:
                out[i, self.end_ids] = log_probs[i, self.end_ids]
        return out


def attach_to_autoregressive_decoder(decoder, processors):
    """Give an existing bert4keras ``AutoRegressiveDecoder`` instance our processors: its ``predict`` output (as
    log-probs) goes through them before beam search / sampling sees it. Returns the decoder."""
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
