"""Small numpy references the compiled decoding loop and the tensor processors are tested against: every processor
on ``(log_probs [N, V] float64, output_ids: N lists, rows)``, and a Python greedy / beam search over the public
single-step API (Decoder.prefill / Decoder.step). Test code only: the library has one implementation of each."""
import numpy as np

from bert4keras_ext.decoding import (BanNGrams, EndOnlyAfter, MinLength, NoRepeatNGram, PythonProcessor,
                                     RepetitionPenalty, RequireBefore, SpanConstraint, SuffixAutomaton, Temperature,
                                     TopK, TopP)

NEG = -np.inf


def normalize(lp):
    m = np.max(lp, -1, keepdims=True)
    fin = np.isfinite(m)
    with np.errstate(invalid='ignore', divide='ignore'):
        z = np.log(np.sum(np.exp(lp - np.where(fin, m, 0)), -1, keepdims=True)) + np.where(fin, m, 0)
        return np.where(fin, lp - z, NEG)


def top_k(lp, k, end_ids=None):
    """Every token scoring at least the k-th largest (ties with it kept)."""
    kth = -np.sort(-lp, 1)[:, min(k, lp.shape[1]) - 1:min(k, lp.shape[1])]
    keep = lp >= kth
    if end_ids is not None:
        keep[:, end_ids] = True
    return np.where(keep, lp, NEG)


def top_p(lp, p, end_ids=None):
    """Sorted (stable) cumulative mass up to and including the token where it first reaches p; tokens tied with
    that last one kept."""
    probs = np.exp(normalize(lp))
    probs = np.where(np.isnan(probs), 0, probs)
    keep = np.ones_like(lp, bool)
    for i in range(len(lp)):
        order = np.argsort(-probs[i], kind='stable')
        cum = np.cumsum(probs[i][order])
        reach = np.flatnonzero(cum >= p)
        if len(reach):
            last = probs[i][order][reach[0]]
            keep[i] = probs[i] >= last
    if end_ids is not None:
        keep[:, end_ids] = True
    return np.where(keep, lp, NEG)


def min_length(lp, ids, n, end_ids):
    out = lp.copy()
    for i, row in enumerate(ids):
        if len(row) < n:
            out[i, end_ids] = NEG
    return out


def no_repeat(lp, ids, n):
    out = lp.copy()
    for i, row in enumerate(ids):
        if len(row) < n - 1:
            continue
        prefix = tuple(row[len(row) - n + 1:]) if n > 1 else ()
        out[i, [row[j + n - 1] for j in range(len(row) - n + 1) if tuple(row[j:j + n - 1]) == prefix]] = NEG
    return out


def ban_ngrams(lp, ids, rows, sequences, n):
    out = lp.copy()
    for i, (row, r) in enumerate(zip(ids, rows)):
        if len(row) < n - 1:
            continue
        prefix = tuple(row[len(row) - n + 1:]) if n > 1 else ()
        for seq in sequences[r]:
            for j in range(len(seq) - n + 1):
                if tuple(seq[j:j + n - 1]) == prefix:
                    out[i, seq[j + n - 1]] = NEG
    return out


def end_only_after(lp, ids, tokens, end_ids):
    out = lp.copy()
    for i, row in enumerate(ids):
        if not row or row[-1] not in tokens:
            out[i, end_ids] = NEG
    return out


def require_before(lp, ids, tokens, required, min_count, uncounted):
    out = lp.copy()
    for i, row in enumerate(ids):
        has_required = not required or any(t in required for t in row)
        if not has_required or sum(t not in uncounted for t in row) < min_count:
            out[i, tokens] = NEG
    return out


def repetition(lp, ids, penalty):
    out = lp.copy()
    for i, row in enumerate(ids):
        if row:
            out[i, np.unique(row)] -= np.log(penalty)
    return out


def span(lp, ids, rows, passages, end_ids, min_span):
    out = np.full_like(lp, NEG)
    for i, (row, r) in enumerate(zip(ids, rows)):
        sam = SuffixAutomaton(passages[r if len(passages) > 1 else 0])
        state = sam.walk(row)
        allowed = sam.next_tokens(state)
        if allowed:
            out[i, allowed] = lp[i, allowed]
        if state is not None and len(row) >= min_span:
            out[i, end_ids] = lp[i, end_ids]
    return out


def reference(proc):
    """The numpy reference of a built-in processor: ``fn(lp, ids, rows)``."""
    if isinstance(proc, TopK):
        return lambda lp, ids, rows: top_k(lp, proc.k, proc.end_ids if proc.consistent else None)
    if isinstance(proc, TopP):
        return lambda lp, ids, rows: top_p(lp, proc.p, proc.end_ids if proc.consistent else None)
    if isinstance(proc, Temperature):
        return lambda lp, ids, rows: lp / proc.temperature
    if isinstance(proc, MinLength):
        return lambda lp, ids, rows: min_length(lp, ids, proc.min_length, proc.end_ids)
    if isinstance(proc, NoRepeatNGram):
        return lambda lp, ids, rows: no_repeat(lp, ids, proc.n)
    if isinstance(proc, BanNGrams):
        seqs = [[list(g) for g in grams] for grams in proc.grams]
        return lambda lp, ids, rows: ban_ngrams(lp, ids, rows, seqs, proc.n)
    if isinstance(proc, EndOnlyAfter):
        return lambda lp, ids, rows: end_only_after(lp, ids, proc.tokens, proc.end_ids)
    if isinstance(proc, RequireBefore):
        return lambda lp, ids, rows: require_before(lp, ids, proc.tokens, proc.required, proc.min_count,
                                                    proc.uncounted)
    if isinstance(proc, RepetitionPenalty):
        return lambda lp, ids, rows: repetition(lp, ids, proc.penalty)
    if isinstance(proc, SpanConstraint):
        return lambda lp, ids, rows: span(lp, ids, rows, proc.passages, proc.end_ids, proc.min_span)
    if isinstance(proc, PythonProcessor):
        return proc.numpy
    raise TypeError(proc)


def run(processors, lp, ids, rows):
    out = np.asarray(lp, 'float64')
    for proc in processors or ():
        out = reference(proc)(out, ids, rows)
    return normalize(out) if processors else out


def greedy(dec, inputs, processors=(), min_ends=1):
    """Arg-max decoding through Decoder.prefill / Decoder.step and the numpy processors: ``[(ids, score, status)]``."""
    state = dec.prefill(inputs)
    b = len(inputs)
    out, scores, status = [[] for _ in range(b)], np.zeros(b), [None] * b
    for t in range(dec.maxlen):
        x = run(processors, state.log_probs.astype('float64'), out, np.arange(b))
        tokens = np.zeros(b, 'int32')
        for i in range(b):
            if status[i] is not None:
                continue
            if not np.isfinite(x[i]).any():
                status[i] = 'no_valid_token'
                continue
            tok = int(np.argmax(x[i]))
            out[i].append(tok)
            scores[i] += x[i, tok]
            tokens[i] = tok
            ends = int(np.isin(out[i], dec.end_ids).sum())
            if len(out[i]) >= dec.minlen and tok in dec.end_ids and ends >= min_ends:
                status[i] = 'end'
        if all(s is not None for s in status) or t + 1 == dec.maxlen:
            break
        state = dec.step(state, tokens)
    return [(out[i], scores[i], status[i] or 'maxlen') for i in range(b)]


def beam_search(dec, inputs, k, processors=(), min_ends=1, length_normalization=False, prefer_ended=False):
    """bert4keras' beam search per input (global top-k over live beams x vocabulary, finished candidates leave and
    the beam shrinks, stop when the best ends), with the numpy processors and optional length normalisation
    (``prefer_ended``: at maxlen an ended hypothesis beats any live beam), through the single-step API. Returns
    ``[(ids, score, status)]``."""
    norm = (lambda s, n: s / max(n, 1)) if length_normalization else (lambda s, n: s)
    results = []
    for i, x in enumerate(inputs):
        state = dec.prefill([x])
        hyps, scores, topk, ended, result = [[]], np.zeros(1), k, [], None
        for t in range(dec.maxlen):
            step_lp = run(processors, state.log_probs.astype('float64'), hyps, np.full(len(hyps), i))
            cand = (scores[:, None] + step_lp).ravel()
            order = np.argsort(-cand, kind='stable')[:topk]   # ties: the lower (beam, token) index first
            values = cand[order]
            if not np.isfinite(values).any():
                best = int(np.argmax(norm(scores, t)))
                result = (hyps[best], scores[best], 'no_valid_token')
                break
            order, values = order[np.isfinite(values)], values[np.isfinite(values)]
            parent, token = order // step_lp.shape[1], order % step_lp.shape[1]
            new = [hyps[p] + [int(tk)] for p, tk in zip(parent, token)]
            ends = np.array([int(np.isin(h, dec.end_ids).sum()) for h in new])
            finished = np.isin(token, dec.end_ids) & (ends >= min_ends) & (t + 1 >= dec.minlen)
            keep = ~finished
            if length_normalization:
                ended += [(new[j], values[j]) for j in np.flatnonzero(finished)]
                live = max([norm(values[j], t + 1) for j in np.flatnonzero(keep)], default=-np.inf)
                if ended:
                    best = max(ended, key=lambda e: norm(e[1], len(e[0])))
                    if norm(best[1], len(best[0])) >= live:
                        result = (best[0], best[1], 'end')
                        break
            elif finished[0]:
                result = (new[0], values[0], 'end')
                break
            hyps, scores, topk = [new[j] for j in np.flatnonzero(keep)], values[keep], int(keep.sum())
            if t + 1 == dec.maxlen:
                break
            state = dec.step(state, token[keep], parents=parent[keep])
        if result is None:
            best = int(np.argmax(norm(scores, len(hyps[0]))))
            result = (hyps[best], scores[best], 'maxlen')
            if ended:
                e = max(ended, key=lambda e: norm(e[1], len(e[0])))
                if prefer_ended or norm(e[1], len(e[0])) >= norm(scores[best], len(hyps[best])):
                    result = (e[0], e[1], 'end')
        results.append(result)
    return results
