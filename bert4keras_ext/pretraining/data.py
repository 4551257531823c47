"""Masked-LM training data: text normalisation, a character vocabulary, word boundaries, packing and masking.

Everything here is numpy / pure Python and deterministic given its seed, so that a pretraining run can be resumed
from a step number alone (the batch of step ``s`` is a function of the seed and ``s``).
"""
import collections

import numpy as np

from bert4keras_ext.checkpoints.tiny import SPECIAL_TOKENS

ASCII = 'abcdefghijklmnopqrstuvwxyz0123456789'
SENTENCE_ENDS = '。！？；!?;'


def to_halfwidth(text):
    """Full-width ASCII forms (``１９９８``, ``ＡＢＣ``, ``，`` stays) and the ideographic space to half width.

    People's Daily types digits and Latin letters full width, most other text (Wikipedia, reviews) half width; a
    character vocabulary would otherwise learn two unrelated sets of digits."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            code = 0x20
        elif 0xFF10 <= code <= 0xFF19 or 0xFF21 <= code <= 0xFF3A or 0xFF41 <= code <= 0xFF5A:
            code -= 0xFEE0  # digits and letters only: full-width punctuation is ordinary Chinese punctuation
        out.append(chr(code))
    return ''.join(out)


def gb2312_characters():
    """The 6,763 hanzi of GB 2312 (levels 1 and 2), in code order: the characters of everyday simplified Chinese,
    enumerated from Python's own codec (no data file needed)."""
    chars = []
    for row in range(0xB0, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                ch = bytes([row, cell]).decode('gb2312')
            except UnicodeDecodeError:
                continue
            chars.append(ch)
    return chars


def build_char_vocab(texts, min_count=2, max_size=None, extra_chars=()):
    """Special tokens, ASCII letters/digits with their ``##`` WordPiece continuations, then the corpus' characters
    by frequency (ties by code point, so the vocabulary is deterministic), then ``extra_chars`` not seen often
    enough in the corpus (e.g. :func:`gb2312_characters`, so that text outside the corpus meets few [UNK])."""
    counts = collections.Counter()
    for t in texts:
        counts.update(ch.lower() for ch in t if not ch.isspace())
    tokens = list(SPECIAL_TOKENS) + list(ASCII) + ['##' + c for c in ASCII]
    seen = set(tokens)
    chars = sorted((c for c, n in counts.items() if n >= min_count and c not in seen), key=lambda c: (-counts[c], c))
    tokens += chars
    seen.update(chars)
    for ch in extra_chars:
        ch = ch.lower()
        if ch not in seen and not ch.isspace():
            tokens.append(ch)
            seen.add(ch)
    if max_size is not None:
        tokens = tokens[:max_size]
    return tokens


def max_match(text, lexicon, max_word=6):
    """Forward maximum matching: the longest lexicon word at each position, else one character. A cheap, fixed
    segmentation for whole-word masking of text that has no gold segmentation."""
    words, i = [], 0
    while i < len(text):
        for n in range(min(max_word, len(text) - i), 0, -1):
            if n == 1 or text[i:i + n] in lexicon:
                words.append(text[i:i + n])
                i += n
                break
    return words


def word_start_flags(tokenizer, words):
    """Token ids of ``''.join(words)`` (bert4keras ``tokenizer``, [CLS]/[SEP] dropped) and, per token, whether it
    begins a word. A token that spans a word edge (an ASCII run across two words) counts as a start."""
    starts, pos = set(), 0
    for w in words:
        starts.add(pos)
        pos += len(w)
    text = ''.join(words)
    tokens = tokenizer.tokenize(text)[1:-1]
    mapping = tokenizer.rematch(text, tokens)
    ids = tokenizer.tokens_to_ids(tokens)
    flags = [bool(m) and (m[0] in starts) or not m for m in mapping]
    return ids, flags


def split_long(ids, limit, break_ids=()):
    """Cut a token list into pieces of at most ``limit`` tokens, each after the last ``break_ids`` token (sentence
    ends) of its window when that lies in the window's second half, else at the limit. Returns ``(start, end)``
    pairs covering every token once."""
    pieces, start = [], 0
    breaks = set(break_ids)
    while len(ids) - start > limit:
        end = start + limit
        for j in range(end - 1, start + limit // 2 - 1, -1):
            if ids[j] in breaks:
                end = j + 1
                break
        pieces.append((start, end))
        start = end
    pieces.append((start, len(ids)))
    return pieces


def pack_sequences(token_lists, maxlen, cls_id, sep_id, flag_lists=None, break_ids=()):
    """Concatenate tokenised texts into rows of at most ``maxlen`` ids, [CLS] first; every text ends with one
    [SEP] (added when missing). A text longer than a row is split into pieces (:func:`split_long`, preferring a
    ``break_ids`` token such as "。" as the cut), each ending with [SEP]: nothing is dropped.

    With ``flag_lists`` (per-token word-start flags, as from :func:`word_start_flags`) also returns a boolean array
    of the rows' word starts ([CLS], [SEP] and padding count as starts)."""
    rows, current = [], [cls_id]
    frows, fcurrent = [], [True]
    pieces = []
    for k, ids in enumerate(token_lists):
        ids = list(ids)
        flags = list(flag_lists[k]) if flag_lists is not None else [True] * len(ids)
        if ids and ids[-1] == sep_id:
            ids, flags = ids[:-1], flags[:-1]
        for a, b in split_long(ids, maxlen - 2, break_ids):
            pieces.append((ids[a:b] + [sep_id], [True] + flags[a + 1:b] + [True]))
    for ids, flags in pieces:
        if len(current) + len(ids) > maxlen:
            rows.append(current)
            frows.append(fcurrent)
            current, fcurrent = [cls_id], [True]
        current.extend(ids)
        fcurrent.extend(flags)
    if len(current) > 1:
        rows.append(current)
        frows.append(fcurrent)
    out = np.zeros((len(rows), maxlen), dtype='int32')
    fout = np.ones((len(rows), maxlen), dtype=bool)
    for i, (r, f) in enumerate(zip(rows, frows)):
        out[i, :len(r)] = r
        fout[i, :len(f)] = f
    if flag_lists is None:
        return out
    return out, fout


def mask_tokens(ids, rng, vocab_size, mask_id, special_max_id, rate=0.15, max_predictions=20, word_starts=None):
    """BERT masking: choose ``rate`` of the real tokens (at most ``max_predictions`` per row); of those 80% become
    [MASK], 10% a random token, 10% stay.

    With ``word_starts`` (boolean, the shape of ``ids``) whole words are chosen: words are drawn in random order
    and all their tokens are masked together, until the row's budget is reached (a word that would exceed it is
    skipped), as in whole-word masking (Cui et al., 2019). The 80/10/10 choice is made per word.

    Returns ``(inputs, positions, targets, weights)``, the last three of shape ``[rows, max_predictions]``
    (padding slots point at position 0 with weight 0).
    """
    n_rows = ids.shape[0]
    inputs = ids.copy()
    positions = np.zeros((n_rows, max_predictions), dtype='int32')
    targets = np.zeros((n_rows, max_predictions), dtype='int32')
    weights = np.zeros((n_rows, max_predictions), dtype='float32')
    for r in range(n_rows):
        candidates = np.flatnonzero(ids[r] > special_max_id)
        if len(candidates) == 0:
            continue
        k = min(max_predictions, max(1, int(round(len(candidates) * rate))))
        if word_starts is None:
            chosen = np.sort(rng.choice(candidates, size=k, replace=False))
            action = rng.random_sample(k)
        else:
            groups = np.split(candidates, np.flatnonzero(word_starts[r, candidates][1:]) + 1)
            picked, actions = [], []
            for g in rng.permutation(len(groups)):
                if len(picked) + len(groups[g]) <= k:
                    picked.extend(groups[g])
                    actions.extend([rng.random_sample()] * len(groups[g]))
                if len(picked) == k:
                    break
            if not picked:  # every word is longer than the budget: mask the start of one of them
                g = groups[rng.randint(len(groups))][:k]
                picked, actions = list(g), [rng.random_sample()] * len(g)
            order = np.argsort(picked)
            chosen, action = np.asarray(picked, dtype='int64')[order], np.asarray(actions)[order]
            k = len(chosen)
        positions[r, :k], targets[r, :k], weights[r, :k] = chosen, ids[r, chosen], 1.0
        inputs[r, chosen[action < 0.8]] = mask_id
        random_pos = chosen[(action >= 0.8) & (action < 0.9)]
        inputs[r, random_pos] = rng.randint(special_max_id + 1, vocab_size, size=len(random_pos))
    return inputs, positions, targets, weights
