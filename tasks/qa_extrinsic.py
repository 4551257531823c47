"""Article 5's extrinsic test (issue #33; docs/claims.md 5d-5f): do the generator's pairs train a better reader?

After Alberti et al. (ACL 2019, "Synthetic QA Corpora Generation with Roundtrip Consistency"): per seed the generator
writes k pairs per passage on passages the reader is never tested on (People's Daily lines joined to windows, and
the CMRC2018 trial training paragraphs); the same seed's gold-only reader filters them by round trip; each reader arm
is the default BERT given one epoch of its synthetic pairs, then the gold recipe (CMRC2018 training paragraphs, best
epoch by validation F1 on every tenth training paragraph). Arms: gold only; filtered generated -> gold; unfiltered
generated -> gold; filtered generated only; a random-span control -> gold (for every unfiltered pair a span of the
same passage and length at a uniform start, with a template question made only of the characters just before it:
span-selection practice without the generated questions). Scored by held-out character F1 / EM on the every-fifth
CMRC2018 paragraphs (never trained on by the generator or any reader).

    python -m tasks.qa_extrinsic --seeds 3 [--generator DIR] [--passages 600]
"""
import json
import os

import numpy as np

import bert4keras_ext  # noqa: F401
from bert4keras_ext.data.corpora import peoples_daily_text
from bert4keras_ext.qa.data import cmrc_split, from_squad
from bert4keras_ext.qa.filter import RoundTripFilter
from bert4keras_ext.qa.generator import QAGenerator
from bert4keras_ext.qa.reader import Reader, build_reader
from tasks import experiment, runner
from tasks.qa_generation import CMRC, READER_METRICS, gold_pairs


def options():
    p = experiment.parser(__doc__, 'qa_extrinsic')
    p.add_argument('--cmrc', default=CMRC, help='the CMRC2018 (SQuAD-style) JSON file')
    p.add_argument('--generator', default=None, metavar='DIR',
                   help='the generator writing the pairs (default: the one shipped with the package)')
    p.add_argument('--passages', type=int, default=None,
                   help='People\'s Daily passages to generate on, beside the CMRC2018 training paragraphs '
                   '(default 600; quick 8)')
    p.add_argument('--answers', type=int, default=4, help='pairs per passage')
    p.add_argument('--filter_threshold', type=float, default=0.5, help='round-trip character F1 to keep a pair')
    p.add_argument('--reader_epochs', type=int, default=None, help='gold epochs of every reader (default 4; quick 1)')
    p.add_argument('--synthetic_epochs', type=int, default=1, help='epochs on the synthetic pairs')
    p.add_argument('--reader_learning_rate', type=float, default=3e-4, help='peak learning rate of the reader')
    p.add_argument('--reader_maxlen', type=int, default=256, help='question + passage tokens of the reader')
    p.add_argument('--batch_size', type=int, default=16, help='sequences per training step')
    return p


def peoples_daily_passages(n, max_len=126):
    """``n`` passages of consecutive People's Daily lines joined up to ``max_len`` characters."""
    out, current = [], ''
    for line in peoples_daily_text():
        line = line.strip()
        if not line:
            continue
        if current and len(current) + len(line) > max_len:
            out.append(current)
            current = ''
            if len(out) >= n:
                break
        current += line[:max_len]
    return out[:n]


def pairs_of(records):
    """Reader examples ``{'passage', 'question', 'answer', 'answer_start'}`` of generated records."""
    return [{'passage': r['passage'], 'question': p['question'], 'answer': p['answer'],
             'answer_start': p['answer_start']} for r in records for p in r['pairs']
            if p.get('question') and r['passage'][p['answer_start']:p['answer_start'] + len(p['answer'])]
            == p['answer']]


def random_span_control(examples, seed, context=6):
    """For each example, a span of its passage with the answer's length at a uniform start, and the template question
    ``“<the context characters before it>”后面是什么？`` (where, not what)."""
    rng = np.random.RandomState(seed)
    out = []
    for e in examples:
        n = len(e['answer'])
        start = int(rng.randint(0, len(e['passage']) - n + 1))
        before = e['passage'][max(0, start - context):start] or '开头'
        out.append({'passage': e['passage'], 'answer': e['passage'][start:start + n], 'answer_start': start,
                    'question': '“%s”后面是什么？' % before})
    return out


def main(argv=None):
    args = options().parse_args(argv)
    if args.seeds is None:
        args.seeds = 3
    ctx = experiment.start(args)
    with open(args.cmrc, encoding='utf-8') as f:
        train_paras, held_paras = cmrc_split(json.load(f))
    fit_paras = [p for i, p in enumerate(train_paras) if i % 10]
    val_paras = [p for i, p in enumerate(train_paras) if i % 10 == 0]
    gold, valid = from_squad(fit_paras, None), from_squad(val_paras, None)
    sources = peoples_daily_passages(args.passages or (8 if args.quick else 600)) + [p['context'] for p in fit_paras]
    if args.quick:  # a smoke run: minutes, not a measurement
        gold, valid, held_paras, sources = gold[:32], valid[:10], held_paras[:4], sources[:12]
    passages, golds = gold_pairs(held_paras)
    held = [(i, g) for i, gs in enumerate(golds) for g in gs]
    paths = experiment.bert_paths(args)
    epochs = args.reader_epochs or (1 if args.quick else 4)
    generator = QAGenerator.load(args.generator)
    cache = {}  # per seed: the gold-only reader (also the round-trip filter) and the synthetic sets

    def new_reader():
        from bert4keras.tokenizers import Tokenizer
        return Reader(build_reader(paths[0], paths[1]), Tokenizer(paths[2], do_lower_case=True),
                      maxlen=args.reader_maxlen)

    def train(synthetic, seed, with_gold=True):
        reader, check = new_reader(), {}
        if synthetic is not None:
            reader.fit(synthetic, epochs=args.synthetic_epochs, batch_size=args.batch_size,
                       learning_rate=args.reader_learning_rate, seed=seed, verbose=2)
            f1 = reader.evaluate(valid)['f1']
            check['synthetic_stage_valid_f1'] = {'value': f1, 'passed': bool(f1 >= 0.05),
                                                 'rule': 'validation F1 >= 0.05 after the synthetic stage'}
        if with_gold:
            reader.fit(gold, epochs=epochs, batch_size=args.batch_size, learning_rate=args.reader_learning_rate,
                       seed=seed, verbose=2, validation=valid)
        return reader, check

    def gold_reader(seed):
        if ('gold', seed) not in cache:
            cache[('gold', seed)] = train(None, seed)[0]
        return cache[('gold', seed)]

    def synthetic(seed):
        if ('synthetic', seed) not in cache:
            records = generator.generate(sources, k=args.answers, seed=seed)
            kept, total = RoundTripFilter(gold_reader(seed), args.filter_threshold).apply(records)
            unfiltered = pairs_of(records)
            filtered = pairs_of([dict(r, pairs=[p for p in r['pairs'] if p.get('kept')]) for r in records])
            cache[('synthetic', seed)] = {'filtered': filtered, 'unfiltered': unfiltered,
                                          'control': random_span_control(unfiltered, seed),
                                          'kept': kept, 'total': total, 'examples': records[:5]}
        return cache[('synthetic', seed)]

    def data(seed):
        return runner.Split(None, None, ([passages[i] for i, _ in held], [g['question'] for _, g in held]),
                            [g['text'] for _, g in held],
                            info={'held-out passages': len(passages), 'gold questions': len(held),
                                  'gold training questions': len(gold), 'generation passages': len(sources)})

    def arm(kind, with_gold=True):
        def run(data, seed):
            if kind is None:
                reader, check = gold_reader(seed), {}
            else:
                syn = synthetic(seed)
                reader, check = train(syn[kind], seed, with_gold)
                if kind == 'filtered':  # else filtered and unfiltered are one experiment, or the set is empty
                    share = syn['kept'] / max(syn['total'], 1)
                    check['filter_keeps_some'] = {'value': share, 'passed': bool(0.05 <= share <= 0.95),
                                                  'rule': 'the round-trip filter keeps 5% to 95% of the pairs'}
                if kind == 'control':
                    check['control_size'] = {'value': len(syn['control']),
                                             'passed': len(syn['control']) == len(syn['unfiltered']),
                                             'rule': 'as many control pairs as unfiltered generated pairs'}
            extra = {'valid': reader.evaluate(valid)}
            if kind is not None:
                extra['pairs'] = len(synthetic(seed)[kind])
            return {'predictions': [p['answer'] for p in reader.answer(*data.test)], 'check': check,
                    'extra': extra}
        return run

    arms = [runner.Arm('gold only', arm(None)),
            runner.Arm('generated (filtered) -> gold', arm('filtered')),
            runner.Arm('generated (unfiltered) -> gold', arm('unfiltered')),
            runner.Arm('generated (filtered) only', arm('filtered', with_gold=False)),
            runner.Arm('random spans + template questions -> gold', arm('control'))]
    claims = [runner.Claim('5d', 'held-out F1: generated (filtered) -> gold minus gold only', 'f1',
                           'generated (filtered) -> gold', 'gold only'),
              runner.Claim('5e', 'held-out F1: generated (filtered) -> gold minus random-span control -> gold', 'f1',
                           'generated (filtered) -> gold', 'random spans + template questions -> gold'),
              runner.Claim('5f', 'held-out F1: filtered minus unfiltered (each then gold)', 'f1',
                           'generated (filtered) -> gold', 'generated (unfiltered) -> gold', judge=False)]

    def tables(report, results):
        rows = []
        for seed in ctx.seeds:
            syn = cache.get(('synthetic', seed))
            if syn:
                rows.append([seed, syn['total'], syn['kept'], len(syn['filtered']), len(syn['control'])])
                report.add('generated_examples_seed_%d' % seed, syn['examples'])
        if rows:
            report.table('Generated pairs per seed (this session\'s seeds)', ['seed', 'pairs', 'kept by the round '
                         'trip', 'filtered examples', 'control examples'], rows)

    return runner.run(ctx, 'Article 5: do generated pairs train a better reader? (extrinsic test)', data, arms,
                      READER_METRICS, claims, tables=tables, raw_metrics=(),
                      config={'answers': args.answers, 'filter_threshold': args.filter_threshold,
                              'reader_epochs': epochs, 'synthetic_epochs': args.synthetic_epochs,
                              'generation_passages': len(sources), 'generator': args.generator or 'shipped',
                              'reader_learning_rate': args.reader_learning_rate})


if __name__ == '__main__':
    main()
