"""Answer trimming of free generation (issue #33, ``QAGenerator(trim_answers=...)``), measured with the shipped
generator on CMRC2018 paragraphs: one generation run (``generate(k=4, seed=0)``, questions written for the untrimmed
answers, as the generator does), its answers scored untrimmed and trimmed (bert4keras_ext.qa.answer_types
``trim_answer``): answer exact match and character F1 against the passage's best-matching gold answer, and the
round-trip character F1 of the shipped reader's answer to each question against the answer. The questions are the
same in both arms, so the comparison is paired per pair.

    python benchmarks/qa_answer_trim.py --split validation   # every 10th CMRC training paragraph: the decision
    python benchmarks/qa_answer_trim.py --split train        # all CMRC training paragraphs (validation included)
    python benchmarks/qa_answer_trim.py --split held_out     # the held-out paragraphs: the reported figure

The rules have no parameter fitted to data; ``--split train`` gives the decision more pairs than the 21 validation
paragraphs do (the generator was trained on these paragraphs: in-sample for it, alike for both arms).

The shipped generator was trained on the CMRC training paragraphs (validation included), so the validation figures
are optimistic for both arms alike; the held-out split is the one the README reports.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--split', choices=['validation', 'train', 'held_out'], default='validation')
    p.add_argument('--limit', type=int, default=None, help='first N paragraphs only')
    p.add_argument('--k', type=int, default=4, help='pairs per paragraph')
    p.add_argument('--examples', type=int, default=12, help='trimmed pairs printed')
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    import numpy as np
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext import metrics
    from bert4keras_ext.qa.answer_types import EDGE_PUNCTUATION, asked_type
    from bert4keras_ext.qa.data import cmrc_split
    from bert4keras_ext.qa.generator import QAGenerator
    from bert4keras_ext.qa.reader import Reader
    from machine import cpu
    from tasks.stats import bootstrap_ci
    with open(os.path.join(ROOT, 'data', 'cmrc2018', 'cmrc2018_trial.json'), encoding='utf-8') as f:
        train, held = cmrc_split(json.load(f))
    paras = {'held_out': held, 'train': train, 'validation': [q for i, q in enumerate(train) if i % 10 == 0]}[args.split]
    paras = paras[:args.limit]
    start = time.perf_counter()
    records = QAGenerator.load(trim_answers=True).generate([q['context'] for q in paras], k=args.k, seed=0)
    seconds = time.perf_counter() - start
    pairs = [(para, pair) for para, rec in zip(paras, records) for pair in rec['pairs']]
    golds = [[a['text'] for qa in para['qas'] for a in qa['answers'][:1]] for para, _ in pairs]
    trimmed = [pair['answer'] for _, pair in pairs]
    whole = [pair.get('untrimmed', pair)['answer'] for _, pair in pairs]
    reader = Reader.load()
    said = [a['answer'] for a in reader.answer([para['context'] for para, _ in pairs],
                                               [pair['question'] for _, pair in pairs])]
    scores = {}
    for name, answers in (('untrimmed', whole), ('trimmed', trimmed)):
        scores[name] = {
            'em': [max([metrics.exact_match(a, g) for g in gs] or [0.0]) for a, gs in zip(answers, golds)],
            'f1': [max([metrics.char_f1(a, g) for g in gs] or [0.0]) for a, gs in zip(answers, golds)],
            'round_trip_f1': [metrics.char_f1(r, a) for r, a in zip(said, answers)],
            'length': [len(a) for a in answers]}
    changed = [i for i, (a, b) in enumerate(zip(whole, trimmed)) if a != b]
    by_type = {}
    for i in changed:
        kind = asked_type(pairs[i][1]['question']) if len(trimmed[i]) < len(whole[i].strip(EDGE_PUNCTUATION)) \
            else 'punctuation'
        by_type[kind or 'punctuation'] = by_type.get(kind or 'punctuation', 0) + 1
    print('## Answer trimming on the %s split (%d paragraphs, %d generated pairs), shipped generator and reader\n'
          % (args.split, len(paras), len(pairs)))
    print('Command: `python benchmarks/qa_answer_trim.py --split %s`; CPU %s; generation %.0f s.\n'
          % (args.split, cpu(), seconds))
    print('| answers | exact match vs gold | char F1 vs gold | round-trip F1 (reader) | mean length |')
    print('|---|---|---|---|---|')
    for name in ('untrimmed', 'trimmed'):
        s = scores[name]
        print('| %s | %.3f | %.3f | %.3f | %.1f |' % (name, np.mean(s['em']), np.mean(s['f1']),
                                                     np.mean(s['round_trip_f1']), np.mean(s['length'])))
    print('\nTrimmed: %d of %d answers (%s).' % (len(changed), len(pairs),
                                                ', '.join('%s %d' % kv for kv in sorted(by_type.items()))))
    for metric in ('em', 'f1', 'round_trip_f1'):
        d, lo, hi = bootstrap_ci(scores['trimmed'][metric], scores['untrimmed'][metric])
        print('%s trimmed - untrimmed: %+.3f [%+.3f, %+.3f] (paired percentile bootstrap over the pairs, 95%%).'
              % (metric, d, lo, hi))
    print('\n| question | untrimmed answer | trimmed answer |\n|---|---|---|')
    for i in changed[:args.examples]:
        print('| %s | %s | %s |' % (pairs[i][1]['question'], whole[i], trimmed[i]))


if __name__ == '__main__':
    main()
