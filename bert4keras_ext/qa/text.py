"""What the Chinese QA models can read: a passage-level language check (status ``not_chinese``) and the characters
the vocabulary lacks (rare CJK characters such as 𠮷, emoji), so that a generated question keeps them instead of
silently dropping its [UNK] tokens."""
import re
import unicodedata

# CJK unified ideographs, extension A, compatibility ideographs and the supplementary planes' extensions B-H
_CJK = re.compile('[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]')
_UNITS = re.compile(r'[A-Za-z0-9\u00c0-\u024f]+|\S')
MIN_CHINESE_SHARE = 0.3
UNK_MARKER = '[UNK]'


def chinese_share(text):
    """The share of CJK ideographs among the text's content units: each ideograph is a unit, each run of Latin
    letters and digits (a word, a number) is one unit, and each other non-space, non-punctuation character (an
    emoji, a symbol, a letter of another script) is one unit. ``None`` for text without content units.

    Example:
        >>> chinese_share('iPhone 12 发布于2020年')   # 4 ideographs; iPhone, 12, 2020: 3 units
        0.5714285714285714
    """
    units = [u for u in _UNITS.findall(text) if len(u) > 1 or not unicodedata.category(u).startswith(('P', 'Z'))]
    if not units:
        return None
    return sum(bool(_CJK.match(u)) for u in units) / len(units)


def language_status(text, min_share=MIN_CHINESE_SHARE):
    """``None`` when ``text`` is Chinese enough for the models (at least ``min_share`` of its content units
    are CJK ideographs, see :func:`chinese_share`), else the status ``'not_chinese'`` (English, emoji only,
    punctuation only).

    Example:
        >>> language_status('故宫位于北京'), language_status('The Forbidden City'), language_status('😀😀')
        (None, 'not_chinese', 'not_chinese')
    """
    share = chinese_share(text)
    return 'not_chinese' if share is None or share < min_share else None


def unknown_characters(tokenizer, text):
    """The distinct characters of ``text`` (in order of appearance) that ``tokenizer`` maps to [UNK]."""
    unk = tokenizer._token_unk_id
    checked, found = set(), []
    for c in text:
        if c.isspace() or c in checked:
            continue
        checked.add(c)
        if tokenizer.encode(c)[0][1:-1] == [unk]:
            found.append(c)
    return found


def decode_keeping_unknown(tokenizer, ids, source):
    """``tokenizer.decode(ids)``, except that each [UNK] id becomes a character instead of vanishing: the one
    character of ``source`` (the text the ids were generated from) that the vocabulary lacks when there is exactly
    one, else the visible marker ``[UNK]``.

    Example:
        >>> decode_keeping_unknown(tokenizer, tokenizer.encode('𠮷野家在哪')[0][1:-1], '𠮷野家位于东京')
        '𠮷野家在哪'
    """
    unk = tokenizer._token_unk_id
    if unk not in ids:
        return tokenizer.decode(ids)
    rare = unknown_characters(tokenizer, source)
    fill = rare[0] if len(rare) == 1 else UNK_MARKER
    parts, piece = [], []
    for i in list(ids) + [None]:
        if i is None or i == unk:
            if piece:
                parts.append(tokenizer.decode(piece))
            piece = []
            if i is not None:
                parts.append(fill)
        else:
            piece.append(i)
    return ''.join(parts)
