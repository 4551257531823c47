"""``python -m bert4keras_ext.qa generate --checkpoint DIR --input passages.txt|.json|.jsonl|- --output pairs.jsonl|-``

Input: plain text (one passage per line), JSON lines (objects with "passage" or "context"), or a SQuAD/CMRC2018 JSON
file (its contexts). Output: one JSON line per passage: ``{"passage", "status", "pairs": [{"answer", "question",
"answer_start"}]}``; status is "ok", "empty_passage" or "no_answer". A malformed JSON line is an error naming it.
"""
import argparse
import json
import sys
import time


def read_passages(path):
    if path == '-':
        text = sys.stdin.read()
    else:
        with open(path, encoding='utf-8-sig') as f:
            text = f.read()
    name = '<stdin>' if path == '-' else path
    stripped = text.lstrip()
    if stripped.startswith('{') and '"data"' in stripped[:2000] and not path.endswith('.jsonl'):
        try:
            root = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SystemExit('%s line %d: invalid JSON (%s)' % (name, exc.lineno, exc.msg))
        if isinstance(root, dict) and 'data' in root:
            return [p['context'] for a in root['data'] for p in a.get('paragraphs', [])]
    if path.endswith(('.json', '.jsonl')) or stripped.startswith('{'):
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SystemExit('%s line %d: invalid JSON (%s)' % (name, number, exc.msg))
            if isinstance(obj, str):
                out.append(obj)
            elif isinstance(obj, dict) and isinstance(obj.get('passage', obj.get('context')), str):
                out.append(obj.get('passage', obj.get('context')))
            else:
                raise SystemExit('%s line %d: expected a string or an object with a "passage" (or "context") '
                                 'string' % (name, number))
        return out
    return text.splitlines()


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m bert4keras_ext.qa', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    g = sub.add_parser('generate', help='generate QA pairs for passages')
    g.add_argument('--checkpoint', required=True, help='generator checkpoint directory (tasks.qa_generation writes one)')
    g.add_argument('--input', required=True, help='passages file, or - for stdin')
    g.add_argument('--output', default='-', help='pairs.jsonl, or - for stdout')
    g.add_argument('--answers', type=int, default=4, help='answers sampled per passage (deduplicated)')
    g.add_argument('--top_p', type=float, default=0.95)
    g.add_argument('--top_k', type=int, default=None)
    g.add_argument('--beam_size', type=int, default=3)
    g.add_argument('--batch_size', type=int, default=16)
    g.add_argument('--unconstrained', action='store_true', help='sample answers without the span constraint')
    g.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)

    passages = read_passages(args.input)
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.qa.generator import QAGenerator
    generator = QAGenerator.load(args.checkpoint)
    out = sys.stdout if args.output == '-' else open(args.output, 'w', encoding='utf-8')
    start, done = time.time(), 0
    try:
        for i in range(0, len(passages), args.batch_size):
            chunk = passages[i:i + args.batch_size]
            for rec in generator.generate(chunk, k=args.answers, top_p=args.top_p, top_k=args.top_k,
                                          constrained=not args.unconstrained, beam_size=args.beam_size,
                                          seed=args.seed + i):
                out.write(json.dumps(rec, ensure_ascii=False) + '\n')
            done += len(chunk)
            rate, total = done / max(time.time() - start, 1e-9), max(len(passages), 1)
            print('\r[%s%s] %d/%d passages, %.2f passages/s' % ('=' * (30 * done // total),
                  '.' * (30 - 30 * done // total), done, len(passages), rate), end='', file=sys.stderr)
        print(file=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == '__main__':
    main()
