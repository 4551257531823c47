"""Readers for the data formats bert4keras users have.

| reader | format | record |
|---|---|---|
| :func:`read_clue` | CLUE classification JSON lines: ``{"sentence": ..., "label": ...}`` (iflytek, tnews, ...) | ``{'text', 'label'}`` |
| :func:`read_webqa` | WebQA / SogouQA JSON: a list (or JSON lines) of ``{"question", "passages": [{"passage", "answer"}]}`` | ``{'question', 'passages': [{'passage', 'answer'}]}`` |
| :func:`read_squad` | SQuAD / CMRC2018 JSON ``{"data": [{"paragraphs": [{"context", "qas": [...]}]}]}`` | ``{'id', 'context', 'qas': [{'id', 'question', 'answers': [{'text', 'answer_start'}]}]}`` |
| :func:`read_lines` | plain text, one sample per line | ``str`` |

A malformed record raises :class:`DataFormatError` naming the file, the line and the field. With
``skip_bad=True`` bad records are skipped instead; the returned :class:`Records` counts them (``.skipped``) and keeps
the messages (``.problems``).
"""
import json
import os


class DataFormatError(ValueError):
    """A data file that does not have the expected format; the message names the file and the line."""


class Records(list):
    """A list of records that also tells how many bad ones were skipped, and why."""

    def __init__(self, items=(), skipped=0, problems=()):
        super().__init__(items)
        self.skipped = skipped
        self.problems = list(problems)


def _open_text(path):
    if not os.path.isfile(path):
        raise DataFormatError('data file %s does not exist' % path)
    with open(path, encoding='utf-8-sig') as f:
        return f.read()


def _line_of(text, offset):
    return text.count('\n', 0, offset) + 1


def iter_json_values(text, path):
    """Yield ``(value, line)`` for a JSON array file (each element) or a JSON-lines file (each line).

    Line numbers point to where each element starts, so errors can name them.
    """
    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    if stripped.startswith('['):
        pos = text.index('[') + 1
        while True:
            while pos < len(text) and text[pos] in ' \t\r\n,':
                pos += 1
            if pos >= len(text):
                raise DataFormatError('%s: the JSON array is not closed (missing "]")' % path)
            if text[pos] == ']':
                return
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise DataFormatError('%s line %d: invalid JSON (%s)' % (path, exc.lineno, exc.msg)) from exc
            yield value, _line_of(text, pos)
            pos = end
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line), number
            except json.JSONDecodeError as exc:
                yield DataFormatError('%s line %d: invalid JSON (%s)' % (path, number, exc.msg)), number


def _collect(path, parse, skip_bad):
    """Run ``parse(value, line)`` on every JSON value of ``path``; handle errors as asked."""
    text = _open_text(path)
    items, problems = [], []
    for value, line in iter_json_values(text, path):
        try:
            if isinstance(value, DataFormatError):
                raise value
            items.append(parse(value, line))
        except DataFormatError as exc:
            if not skip_bad:
                raise
            problems.append(str(exc))
    return Records(items, skipped=len(problems), problems=problems)


def _field(record, key, kind, path, line, where='record'):
    if not isinstance(record, dict):
        raise DataFormatError('%s line %d: expected a JSON object, found %s' % (path, line, type(record).__name__))
    if key not in record:
        raise DataFormatError('%s line %d: %s has no "%s" field' % (path, line, where, key))
    value = record[key]
    if kind is not None and not isinstance(value, kind):
        raise DataFormatError('%s line %d: field "%s" must be %s, found %s'
                              % (path, line, key, getattr(kind, '__name__', kind), type(value).__name__))
    return value


def read_clue(path, text_key='sentence', label_key='label', skip_bad=False):
    """CLUE classification JSON lines -> ``Records`` of ``{'text', 'label'}`` (label as a string)."""
    def parse(record, line):
        text = _field(record, text_key, str, path, line)
        label = _field(record, label_key, (str, int), path, line)
        return {'text': text, 'label': str(label)}
    return _collect(path, parse, skip_bad)


def read_webqa(path, skip_bad=False):
    """WebQA / SogouQA JSON -> ``Records`` of ``{'question', 'passages': [{'passage', 'answer'}]}``."""
    def parse(record, line):
        question = _field(record, 'question', str, path, line)
        passages = _field(record, 'passages', list, path, line)
        out = []
        for i, p in enumerate(passages):
            where = 'passages[%d]' % i
            out.append({'passage': _field(p, 'passage', str, path, line, where),
                        'answer': _field(p, 'answer', str, path, line, where)})
        return {'question': question, 'passages': out}
    return _collect(path, parse, skip_bad)


def read_squad(path, skip_bad=False):
    """SQuAD / CMRC2018 JSON -> ``Records`` of paragraphs ``{'id', 'context', 'qas'}``.

    Every answer must be a span of its context at ``answer_start`` (a bad offset is an error naming the qa id).
    """
    text = _open_text(path)
    try:
        root = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError('%s line %d: invalid JSON (%s)' % (path, exc.lineno, exc.msg)) from exc
    if not isinstance(root, dict) or not isinstance(root.get('data'), list):
        raise DataFormatError('%s: expected {"data": [{"paragraphs": [...]}]} (SQuAD/CMRC2018 format)' % path)
    items, problems = [], []
    for a, article in enumerate(root['data']):
        for p, para in enumerate(article.get('paragraphs', []) if isinstance(article, dict) else []):
            where = 'data[%d].paragraphs[%d]' % (a, p)
            try:
                items.append(_parse_paragraph(para, where, path, skip_bad, problems))
            except DataFormatError as exc:
                if not skip_bad:
                    raise
                problems.append(str(exc))
    return Records(items, skipped=len(problems), problems=problems)


def _parse_paragraph(para, where, path, skip_bad, problems):
    """One paragraph; with ``skip_bad`` a bad question is dropped (and counted) rather than the paragraph."""
    if not isinstance(para, dict) or not isinstance(para.get('context'), str):
        raise DataFormatError('%s %s: paragraph has no "context" string' % (path, where))
    context = para['context']
    qas = []
    for q, qa in enumerate(para.get('qas', [])):
        try:
            qas.append(_parse_qa(qa, q, context, where, path))
        except DataFormatError as exc:
            if not skip_bad:
                raise
            problems.append(str(exc))
    return {'id': para.get('id', where), 'context': context, 'qas': qas}


def _parse_qa(qa, q, context, where, path):
    qid = qa.get('id', '%s.qas[%d]' % (where, q)) if isinstance(qa, dict) else '%s.qas[%d]' % (where, q)
    if not isinstance(qa, dict) or not isinstance(qa.get('question'), str):
        raise DataFormatError('%s %s: qa %s has no "question" string' % (path, where, qid))
    answers = []
    for ans in qa.get('answers', []):
        if not isinstance(ans, dict) or not isinstance(ans.get('text'), str):
            raise DataFormatError('%s %s: qa %s has an answer without "text"' % (path, where, qid))
        start = ans.get('answer_start')
        if isinstance(start, int) and start >= 0 and context[start:start + len(ans['text'])] != ans['text']:
            raise DataFormatError('%s %s: qa %s answer %r is not at answer_start=%d of the context'
                                  % (path, where, qid, ans['text'], start))
        answers.append({'text': ans['text'], 'answer_start': start})
    return {'id': qid, 'question': qa['question'], 'answers': answers}


def read_lines(path, skip_empty=True):
    """Plain text, one sample per line (stripped; empty lines skipped unless ``skip_empty=False``)."""
    text = _open_text(path)
    lines = [line.strip() for line in text.splitlines()]
    return Records([line for line in lines if line or not skip_empty])
