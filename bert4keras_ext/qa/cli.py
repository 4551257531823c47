"""``python -m bert4keras_ext.qa {generate,answer,serve}``.

generate: passages -> QA pairs. Records without answers get up to ``--answers N`` generated pairs per passage;
    records with answers (JSON lines with "answers", or a SQuAD/CMRC2018 file) get one question per given answer.
    Output: one JSON line per input record ``{"line", "passage", "status", "pairs": [...]}``; status is "ok",
    "empty_passage", "not_chinese" (the models read Chinese: English or emoji-only text is refused, not decoded
    into gibberish), "no_answer" or "malformed: ..." (a bad record never stops the run).
answer: JSON lines with "passage" and "question" -> the reader's answer per line.
serve: an HTTP JSON endpoint on --port (POST /generate, POST /answer, GET /health/live, /health/ready, /metrics)
    batching concurrent requests, every resource of a request bounded (see the --max_* flags, --deadline).

Without --checkpoint / --reader the models shipped with the package are used. Input: plain text (one passage per
line), JSON lines, or SQuAD/CMRC2018 JSON; '-' for stdin / stdout.
"""
import argparse
import json
import sys
import time


def _progress(done, total, start):
    rate = done / max(time.time() - start, 1e-9)
    bar = 30 * done // max(total, 1)
    print('\r[%s%s] %d/%d records, %.2f records/s' % ('=' * bar, '.' * (30 - bar), done, total, rate), end='',
          file=sys.stderr)


def _open_output(path):
    return sys.stdout if path == '-' else open(path, 'w', encoding='utf-8')


def _run_batches(records, batch_size, output, process):
    """Write ``process(chunk) -> output dicts`` of every batch of records as JSON lines, with a progress bar."""
    out = _open_output(output)
    start, done = time.time(), 0
    try:
        for i in range(0, len(records), batch_size):
            chunk = records[i:i + batch_size]
            for rec in process(i, chunk):
                out.write(json.dumps(rec, ensure_ascii=False) + '\n')
            done += len(chunk)
            _progress(done, len(records), start)
        print(file=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()


QUESTION_FLAGS = ('beam_size', 'no_repeat_ngram', 'repetition_penalty', 'min_question_len', 'ban_answer_ngram',
                  'end_with_question_mark', 'answer_type_check', 'prefer_ended', 'question_form',
                  'retry_ban_answer_ngram')
# generate's question-decoding overrides (None: the generator's setting)


def generate(args, records):
    from bert4keras_ext.qa.generator import QAGenerator
    overrides = {k: getattr(args, k) for k in ('min_answer_len', 'trim_answers') if getattr(args, k) is not None}
    generator = QAGenerator.load(args.checkpoint, **overrides)
    question = {k: getattr(args, k) for k in QUESTION_FLAGS if getattr(args, k) is not None}
    filt = None
    if args.filter:
        from bert4keras_ext.qa.filter import RoundTripFilter
        from bert4keras_ext.qa.reader import Reader
        filt = RoundTripFilter(Reader.load(args.reader), threshold=args.filter_threshold)

    def process(i, chunk):
        ok = [r for r in chunk if r['status'] == 'ok']
        free = [r for r in ok if not r['answers']]
        given = [r for r in ok if r['answers']]
        results = {}
        if free:
            made = generator.generate([r['passage'] for r in free], k=args.answers, top_p=args.top_p,
                                      top_k=args.top_k, constrained=not args.unconstrained, seed=args.seed + i,
                                      **question)
            results.update({id(r): m for r, m in zip(free, made)})
        if given:
            made = generator.questions([r['passage'] for r in given], [r['answers'] for r in given], **question)
            results.update({id(r): m for r, m in zip(given, made)})
        if filt is not None and results:
            filt.apply(list(results.values()))
        return [dict(line=r['line'], **results.get(id(r), {'passage': r['passage'], 'status': r['status'],
                                                           'pairs': []})) for r in chunk]

    _run_batches(records, args.batch_size, args.output, process)


def answer(args, records):
    from bert4keras_ext.qa.reader import Reader
    reader = Reader.load(args.reader)

    def process(i, chunk):
        ok = [r for r in chunk if r['status'] == 'ok' and r['question'] is not None]
        got = dict(zip(map(id, ok), reader.answer([r['passage'] for r in ok], [r['question'] for r in ok])))
        out = []
        for r in chunk:
            if id(r) in got:
                out.append(dict(line=r['line'], passage=r['passage'], question=r['question'], **got[id(r)]))
            else:
                status = r['status'] if r['status'] != 'ok' else 'malformed: no "question" string'
                out.append({'line': r['line'], 'passage': r['passage'], 'status': status})
        return out

    _run_batches(records, args.batch_size, args.output, process)


def serve(args):
    import logging
    import signal
    import threading
    from bert4keras_ext.qa.generator import QAGenerator
    from bert4keras_ext.qa.reader import Reader
    from bert4keras_ext.qa.server import QAService, ServeLimits, make_server, shutdown_gracefully
    logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stderr)
    limits = ServeLimits(max_body_bytes=args.max_body_bytes, max_passage_chars=args.max_passage_chars,
                         max_question_chars=args.max_question_chars, max_k=args.max_k, max_answers=args.max_answers,
                         queue_size=args.queue_size, deadline=args.deadline, read_timeout=args.read_timeout)
    generator = QAGenerator.load(args.checkpoint)
    reader = Reader.load(args.reader) if (args.reader or _shipped_reader()) else None
    server = make_server(QAService(generator, reader, limits=limits), args.host, args.port, args.max_batch,
                         args.max_wait, warm=True)

    def on_sigterm(signum, frame):  # stop accepting, finish the queued work, exit 0
        threading.Thread(target=shutdown_gracefully, args=(server,), kwargs={'timeout': limits.deadline},
                         daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    print('serving on http://%s:%d (POST /generate, POST /answer, GET /health/live, /health/ready, /metrics); '
          'SIGTERM or Ctrl-C stops' % (args.host, server.server_address[1]), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print('stopped', file=sys.stderr, flush=True)
    return 0


def _shipped_reader():
    from bert4keras_ext.qa.reader import shipped_reader_dir
    return shipped_reader_dir(required=False)


def _serve_defaults():
    from bert4keras_ext.qa.server import ServeLimits
    return ServeLimits()


def parser():
    p = argparse.ArgumentParser(prog='python -m bert4keras_ext.qa', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    g = sub.add_parser('generate', help='generate QA pairs for passages (or questions for given answers)')
    g.add_argument('--checkpoint', default=None, help='generator directory (default: the shipped generator)')
    g.add_argument('--input', required=True, help='passages: text, JSON lines or SQuAD JSON; - for stdin')
    g.add_argument('--output', default='-', help='pairs.jsonl, or - for stdout (default)')
    g.add_argument('--answers', type=int, default=4, help='distinct answers (pairs) per passage (default: 4)')
    g.add_argument('--min_answer_len', type=int, default=None,
                   help='fewest answer tokens (default: the generator\'s setting)')
    g.add_argument('--top_p', type=float, default=0.95, help='nucleus of answer sampling (default: 0.95)')
    g.add_argument('--top_k', type=int, default=None, help='top-k of answer sampling (default: off)')
    g.add_argument('--beam_size', type=int, default=None,
                   help='beam size of question decoding (default: the generator\'s setting, 3)')
    g.add_argument('--no_repeat_ngram', type=int, default=None,
                   help='question decoding: no n-gram of this size twice (0: off; default: the generator\'s, 2)')
    g.add_argument('--repetition_penalty', type=float, default=None,
                   help='question decoding: penalty of tokens already written (1: off; default: the generator\'s, 1.2)')
    g.add_argument('--min_question_len', type=int, default=None,
                   help='question decoding: fewest tokens (default: the generator\'s, 2)')
    g.add_argument('--ban_answer_ngram', type=int, default=None,
                   help='question decoding: no n-gram of this size from the answer (0: off; default: the '
                   'generator\'s, 0)')
    g.add_argument('--end_with_question_mark', type=int, choices=[0, 1], default=None,
                   help='question decoding: 1 = a question ends only after a question mark (default: the '
                   'generator\'s, 1)')
    g.add_argument('--answer_type_check', type=int, choices=[0, 1], default=None,
                   help='question decoding: 1 = no interrogative that does not fit the answer\'s type (default: '
                   'the generator\'s, 1)')
    g.add_argument('--prefer_ended', type=int, choices=[0, 1], default=None,
                   help='question decoding: 1 = a question that ended on its question mark rather than one cut at '
                   'the length limit, when the beam found one (default: the generator\'s, 1)')
    g.add_argument('--question_form', type=int, choices=[0, 1], default=None,
                   help='question decoding: 1 = a question ends only once it holds a question word and a subject '
                   '(default: the generator\'s)')
    g.add_argument('--retry_ban_answer_ngram', type=int, default=None,
                   help='question decoding: questions that did not end are searched once more with no n-gram of '
                   'this size from the answer (0: off; default: the generator\'s)')
    g.add_argument('--trim_answers', type=int, choices=[0, 1], default=None,
                   help='1 = a generated answer loses punctuation at its ends and, when its question asks for a time, '
                   'an amount, a person, a place or an organisation, is cut to the one such expression or name it '
                   'holds (default: the generator\'s, 0)')
    g.add_argument('--batch_size', type=int, default=16, help='records per batch (default: 16)')
    g.add_argument('--unconstrained', action='store_true', help='sample answers without the span constraint')
    g.add_argument('--filter', action='store_true', help='round-trip filter: keep a pair only when the reader, '
                   'asked its question, finds its answer (adds "kept" and "reader_answer" to each pair)')
    g.add_argument('--filter_threshold', type=float, default=0.5,
                   help='character F1 between the reader\'s and the generated answer to keep a pair (default: 0.5)')
    g.add_argument('--reader', default=None, help='reader directory for --filter (default: the shipped reader)')
    g.add_argument('--seed', type=int, default=0, help='sampling seed (default: 0)')
    a = sub.add_parser('answer', help='answer questions about passages with the extractive reader')
    a.add_argument('--reader', default=None, help='reader directory (default: the shipped reader)')
    a.add_argument('--input', required=True, help='JSON lines with "passage" and "question"; - for stdin')
    a.add_argument('--output', default='-', help='answers.jsonl, or - for stdout (default)')
    a.add_argument('--batch_size', type=int, default=32, help='records per batch (default: 32)')
    s = sub.add_parser('serve', help='HTTP JSON endpoint for generate / answer')
    s.add_argument('--checkpoint', default=None, help='generator directory (default: the shipped generator)')
    s.add_argument('--reader', default=None, help='reader directory (default: the shipped reader, if any)')
    s.add_argument('--host', default='127.0.0.1', help='address to listen on (default: 127.0.0.1)')
    s.add_argument('--port', type=int, default=8000, help='port (default: 8000)')
    s.add_argument('--max_batch', type=int, default=16, help='requests per model call at most (default: 16)')
    d = _serve_defaults()
    s.add_argument('--max_body_bytes', type=int, default=d.max_body_bytes,
                   help='request body size; larger bodies get 413 before they are read (default: %(default)s)')
    s.add_argument('--max_passage_chars', type=int, default=d.max_passage_chars,
                   help='characters per passage; longer get 400 (default: %(default)s)')
    s.add_argument('--max_question_chars', type=int, default=d.max_question_chars,
                   help='characters per question of /answer (default: %(default)s)')
    s.add_argument('--max_k', type=int, default=d.max_k, help='generated pairs per passage, "k" (default: %(default)s)')
    s.add_argument('--max_answers', type=int, default=d.max_answers,
                   help='given answers per request of answer-aware /generate (default: %(default)s)')
    s.add_argument('--queue_size', type=int, default=d.queue_size,
                   help='requests waiting for the model; beyond, 503 with Retry-After at once (default: %(default)s)')
    s.add_argument('--deadline', type=float, default=d.deadline,
                   help='seconds a request may wait for its answer, then 504 (default: %(default)s)')
    s.add_argument('--read_timeout', type=float, default=d.read_timeout,
                   help='seconds a client has to send its request body, then 408 (default: %(default)s)')
    s.add_argument('--max_wait', type=float, default=0.02,
                   help='seconds a request waits for others to batch with (default: 0.02)')
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.qa.records import InputError, read_records
    if args.command == 'serve':
        return serve(args)
    try:
        records = read_records(args.input)
        (generate if args.command == 'generate' else answer)(args, records)
    except (InputError, FileNotFoundError) as exc:
        raise SystemExit('error: %s' % exc)


if __name__ == '__main__':
    main()
