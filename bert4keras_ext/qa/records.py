"""Input records of the QA tools, read leniently: a bad record gets a status, the other records go on.

Accepted inputs (a path, or ``-`` for standard input):

* plain text: one passage per line;
* JSON lines: a string (a passage) or an object with ``"passage"`` (or ``"context"``), and optionally
  ``"answers"`` (strings or ``{"text", "answer_start"}``) and ``"question"``;
* a SQuAD / CMRC2018 JSON file: every paragraph, with its answers (``"qas"``).

Every line of plain text or JSON lines is a record, blank lines included (an empty passage). Each record is a dict
``{'line', 'passage', 'answers', 'question', 'status'}``; status is 'ok' or 'malformed: ...'.
"""
import json
import os
import sys


class InputError(Exception):
    """The input as a whole cannot be read (missing file, undecodable, not SQuAD-shaped): one clear line."""


def _record(line, passage=None, answers=None, question=None, status='ok'):
    return {'line': line, 'passage': passage, 'answers': answers, 'question': question, 'status': status}


def read_records(path):
    """The records of ``path`` (see the module docstring); raises :class:`InputError` naming the file."""
    name = '<stdin>' if path == '-' else path
    if path == '-':
        text = sys.stdin.read()
    else:
        if not os.path.isfile(path):
            raise InputError('input file %s does not exist' % path)
        try:
            with open(path, encoding='utf-8-sig') as f:
                text = f.read()
        except UnicodeDecodeError as exc:
            raise InputError('%s is not UTF-8 text (%s)' % (name, exc.reason))
    stripped = text.lstrip()
    if stripped.startswith('{') and '"data"' in stripped[:2000] and not path.endswith('.jsonl'):
        try:
            root = json.loads(text)
        except json.JSONDecodeError:
            root = None  # JSON lines whose first object mentions "data": read line by line below
        if isinstance(root, dict) and 'data' in root:
            return _squad_records(root, name)
    # every line is a record, blank ones included (they come back with status 'empty_passage'), so that the
    # output has one line per input line
    if path.endswith(('.json', '.jsonl')) or stripped.startswith(('{', '"')):
        return [_json_line(number, line) if line.strip() else _record(number, passage='')
                for number, line in enumerate(text.splitlines(), 1)]
    return [_record(number, passage=line) for number, line in enumerate(text.splitlines(), 1)]


def _squad_records(root, name):
    out = []
    try:
        for article in root['data']:
            for para in article.get('paragraphs', []):
                answers = [a for qa in para.get('qas', []) for a in qa.get('answers', [])[:1]]
                out.append(_record(len(out) + 1, passage=para['context'], answers=answers or None))
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError('%s is not SQuAD/CMRC2018-shaped JSON (%s: %s)' % (name, type(exc).__name__, exc))
    return out


def _json_line(number, line):
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return _record(number, status='malformed: invalid JSON (%s)' % exc.msg)
    if isinstance(obj, str):
        return _record(number, passage=obj)
    if not isinstance(obj, dict):
        return _record(number, status='malformed: expected a string or an object')
    passage = obj.get('passage', obj.get('context'))
    if not isinstance(passage, str):
        return _record(number, status='malformed: no "passage" (or "context") string')
    answers = obj.get('answers')
    if answers is not None:
        if isinstance(answers, (str, dict)):
            answers = [answers]
        if not isinstance(answers, list) or not all(isinstance(a, str) or (isinstance(a, dict) and
                                                                             isinstance(a.get('text'), str))
                                                    for a in answers):
            return _record(number, passage=passage, status='malformed: "answers" must be strings or '
                                                           '{"text", "answer_start"} objects')
    question = obj.get('question')
    if question is not None and not isinstance(question, str):
        return _record(number, passage=passage, status='malformed: "question" must be a string')
    return _record(number, passage=passage, answers=answers, question=question)
