"""The hand-checkable sample of issue #33: the shipped generator's first pair (``generate(k=1, seed=0)``) on each
held-out CMRC2018 paragraph in file order, the first ``--n`` pairs, each with the passage text around its answer,
written as JSON for scoring by hand (results/qa_generation/sample50.md holds the project's scores of 50).

    python benchmarks/qa_sample.py [--n 50] [--output results/qa_generation/sample50.json]
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=50)
    p.add_argument('--output', default='-')
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.qa.data import cmrc_split
    from bert4keras_ext.qa.generator import QAGenerator
    with open(os.path.join(ROOT, 'data', 'cmrc2018', 'cmrc2018_trial.json'), encoding='utf-8') as f:
        _, held = cmrc_split(json.load(f))
    records = QAGenerator.load().generate([q['context'] for q in held], k=1, seed=0)
    out = []
    for i, (para, rec) in enumerate(zip(held, records)):
        for pair in rec['pairs'][:1]:
            s = pair['answer_start']
            out.append({'id': len(out) + 1, 'paragraph': i, 'answer': pair['answer'], 'question': pair['question'],
                        'context': para['context'][max(0, s - 40):s + len(pair['answer']) + 40]})
        if len(out) == args.n:
            break
    text = json.dumps(out, ensure_ascii=False, indent=1)
    if args.output == '-':
        print(text)
    else:
        with open(args.output, 'w', encoding='utf-8') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
