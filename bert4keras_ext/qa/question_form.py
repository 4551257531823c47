"""What a generated question needs to be one (issue #33): a question form (a question word or particle) and a
subject, i.e. content besides its question words and function words ("因为什么？" and "什么时候？" have none).

The rules are character-level, like the vocabulary, and fixed before any measurement:

* ``QUESTION_MARKERS``: a question mark or one of these question words makes a question form
  (:func:`bert4keras_ext.qa.evaluate.degeneration` counts questions without one as degenerate);
* ``INTERROGATIVE_CHARS``: for decoding, one character of each question word (the rarest in other words: 什 for
  什么 and 为什么, 少 for 多少, 何 for 如何 / 为何); a question must hold one of them before it may end;
* ``NON_SUBJECT_CHARS``: question-word and function characters; :func:`subject_chars` is what is left after them and
  punctuation, and a question with fewer than ``MIN_SUBJECT_CHARS`` of them lacks a subject.
"""
import unicodedata

QUESTION_MARKERS = ('？', '?', '什么', '谁', '哪', '几', '多少', '怎么', '怎样', '如何', '为什么', '为何', '是否', '吗',
                    '呢', '何')
INTERROGATIVE_CHARS = '什谁哪几少怎何否吗呢'
NON_SUBJECT_CHARS = (INTERROGATIVE_CHARS + '么样时候多为因是的了在有被由于从到和与里儿个种些这那其它他她们所以及就都也还会能'
                     '要把给对向将该此')
MIN_SUBJECT_CHARS = 2


def subject_chars(question):
    """The characters of ``question`` outside ``NON_SUBJECT_CHARS``, punctuation and spaces.

    Example:
        >>> subject_chars('因为什么？'), subject_chars('故宫是哪一年建成的？')
        ('', '故宫一年建成')
    """
    return ''.join(c for c in question or '' if c not in NON_SUBJECT_CHARS
                   and not unicodedata.category(c).startswith(('P', 'Z', 'C')))


def lacks_subject(question):
    """Whether ``question`` has fewer than ``MIN_SUBJECT_CHARS`` subject characters (:func:`subject_chars`).

    Example:
        >>> lacks_subject('什么时候？'), lacks_subject('他是谁？'), lacks_subject('谁发明了电话？')
        (True, True, False)
    """
    return len(subject_chars(question)) < MIN_SUBJECT_CHARS


def has_interrogative(question):
    """Whether ``question`` holds one of ``INTERROGATIVE_CHARS`` (the decoding-time form check).

    Example:
        >>> has_interrogative('佩内塔七次参加美网？'), has_interrogative('佩内塔参加了几次美网？')
        (False, True)
    """
    return any(c in INTERROGATIVE_CHARS for c in question or '')
