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
"""
import re

_NUMERAL = '0-9０-９一二三四五六七八九十百千万亿零〇两'
_TIME = re.compile(
    '[%s]+ *(年|月|日|号|世纪|年代|时|点钟)' % _NUMERAL
    + '|(朝|时期|年间|年代|世纪|末年|初年|前期|中期|后期|时候|期间|之际)$'
    + '|^(公元|民国)|^(夏|商|周|秦|汉|晋|隋|唐|宋|元|明|清)(朝|代)')
# a digit, or an answer that starts with a numeral (一 alone is too often a word: 一家, 一起)
_NUMBER = re.compile('[0-9０-９]|^第?[一二三四五六七八九十百千万亿零〇两]{2,}|^第?[二三四五六七八九十两]\\S|^第一')

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
