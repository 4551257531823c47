"""Article 5 (kexue.fm/archives/7630): a BERT (UniLM) that reads a passage and writes answer + question pairs,
with answers constrained to passage spans; plus the extractive reader that filters the pairs by round trip.

Training data: the CMRC2018 trial set copied in data/cmrc2018 (CC BY-SA 4.0; every fifth passage held out, never
trained on) plus SYNTHETIC People's Daily pairs (the answer a tagged person/place/organisation/time/number, the
question its clause with the entity replaced by 谁/哪里/哪个机构/什么时候/多少). Evaluation on the held-out CMRC2018
passages: answer-aware question BLEU-4 / ROUGE-L against the gold questions, degenerate and distinct question
shares, answer span validity and length, the reader's EM/F1 on the gold questions, the round-trip filter's kept
share and the quality of kept vs dropped pairs, throughput against stock bert4keras decoding on the same model.

--export DIR writes the generator and the reader to DIR/qa_generator and DIR/qa_reader (the shipped models are
made by `python -m tasks.qa_generation --export bert4keras_ext/assets`). Through tasks.runner, as two arms scored on the
held-out gold items: the generator (answer-aware questions against the gold questions) and the reader (its answers
against the gold answers); the held-out passages are the fixed CMRC2018 split (one seed unless --seeds is given).
Free generation, the round-trip filter and the throughput are measured on the first seed's models.
"""
import json
import os
import shutil
import time

import numpy as np

import bert4keras_ext  # noqa: F401
from bert4keras_ext import metrics
from bert4keras_ext.qa import model as qa_model
from bert4keras_ext.qa.data import cmrc_split, from_squad, synthetic_peoples_daily
from bert4keras_ext.qa.evaluate import answer_lengths, degeneration, evaluate, question_quality
from bert4keras_ext.qa.filter import RoundTripFilter
from bert4keras_ext.qa.generator import QAGenerator
from bert4keras_ext.qa.reader import Reader, build_reader
from tasks import experiment, runner
from tasks.baselines import stock_generate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMRC = os.path.join(ROOT, 'data', 'cmrc2018', 'cmrc2018_trial.json')


def options():
    p = experiment.parser(__doc__, 'qa_generation')
    p.add_argument('--cmrc', default=CMRC, help='the CMRC2018 (SQuAD-style) JSON file to train and evaluate on')
    p.add_argument('--synthetic', type=int, default=None,
                   help='synthetic People\'s Daily training pairs (default 20000; quick 200)')
    p.add_argument('--steps', type=int, default=None,
                   help='stage 1: generator training steps on CMRC2018 + synthetic pairs (default 6000; quick 12)')
    p.add_argument('--cmrc_steps', type=int, default=None,
                   help='stage 2: further generator steps on the CMRC2018 pairs only, so that questions take the '
                   'CMRC style rather than the synthetic cloze style (default 300, chosen on validation paragraphs by '
                   'benchmarks/qa_tuning.py; quick 3)')
    p.add_argument('--cmrc_learning_rate', type=float, default=1e-4, help='learning rate of stage 2')
    p.add_argument('--init_generator', default=None, metavar='DIR',
                   help='skip stage 1: start stage 2 from this stage-1 generator (written by an earlier run of this '
                   'script as OUTPUT_DIR/generator_stage1)')
    p.add_argument('--reader_epochs', type=int, default=None, help='reader epochs on CMRC2018 (default 4; quick 1)')
    p.add_argument('--reader_learning_rate', type=float, default=3e-4,
                   help='peak learning rate of the reader (chosen on validation paragraphs, tuning_reader.md)')
    p.add_argument('--reader_passages', choices=['full', 'windows'], default='full',
                   help='reader training passages: whole paragraphs (read in windows, with null-span rows) or the '
                   'generator\'s windows around each answer')
    p.add_argument('--reader_synthetic', type=int, default=0,
                   help='synthetic pairs the reader reads in a first epoch before CMRC2018')
    p.add_argument('--batch_size', type=int, default=16, help='sequences per training step')
    p.add_argument('--max_p_len', type=int, default=128, help='passage tokens of a window')
    p.add_argument('--max_a_len', type=int, default=16, help='answer tokens at most')
    p.add_argument('--max_q_len', type=int, default=32, help='question tokens at most')
    p.add_argument('--reader_maxlen', type=int, default=256, help='question + passage tokens of the reader')
    p.add_argument('--answers', type=int, default=4, help='answers (pairs) per passage in free generation')
    p.add_argument('--filter_threshold', type=float, default=0.5, help='round-trip character F1 to keep a pair')
    p.add_argument('--stock_passages', type=int, default=None, help='passages timed with stock bert4keras '
                   '(default 10; quick 1)')
    p.add_argument('--ban_answer_ngram', type=int, default=None,
                   help='question decoding: forbid the answer\'s n-grams of this size in its question (0: off; default '
                   'the generator\'s setting)')
    p.add_argument('--end_with_question_mark', type=int, choices=[0, 1], default=None,
                   help='question decoding: 1 = the question may end only after a question mark (default the '
                   'generator\'s setting)')
    p.add_argument('--export', default=None, metavar='DIR', help='also write DIR/qa_generator and DIR/qa_reader')
    return p


QUESTION_OPTIONS = ('ban_answer_ngram', 'end_with_question_mark')  # stored in the generator's qa_config.json


def load_data(args):
    with open(args.cmrc, encoding='utf-8') as f:
        root = json.load(f)
    train_paras, held_paras = cmrc_split(root)
    train = from_squad(train_paras, args.max_p_len - 2)
    # the reader reads whole paragraphs (in windows, with null-span rows for windows without the answer); every
    # tenth training paragraph is its validation set (best epoch by F1), as in benchmarks/qa_tuning.py
    fit_paras = [p for i, p in enumerate(train_paras) if i % 10]
    val_paras = [p for i, p in enumerate(train_paras) if i % 10 == 0]
    reader_train = from_squad(fit_paras, None if args.reader_passages == 'full' else args.max_p_len - 2)
    reader_valid = from_squad(val_paras, None)
    n_synthetic = args.synthetic if args.synthetic is not None else (200 if args.quick else 20000)
    synthetic = synthetic_peoples_daily(max_len=args.max_p_len - 2, limit=n_synthetic) if n_synthetic else []
    if args.quick:  # a smoke run: minutes, not a measurement
        train, reader_train, reader_valid, held_paras = train[:300], reader_train[:32], reader_valid[:10], \
            held_paras[:6]
    return train, (reader_train, reader_valid), synthetic, held_paras


def gold_pairs(paragraphs):
    """``(passages, [[{'text', 'answer_start', 'question'}]])`` of held-out paragraphs (every question)."""
    passages, golds = [], []
    for para in paragraphs:
        passages.append(para['context'])
        golds.append([{'text': qa['answers'][0]['text'], 'answer_start': qa['answers'][0]['answer_start'],
                       'question': qa['question']} for qa in para['qas'] if qa['answers']])
    return passages, golds


def train_generator(args, ctx, paths, train, synthetic, lengths, settings, seed):
    """Stage 1 (CMRC2018 + synthetic pairs; or loaded with --init_generator), then stage 2 (CMRC2018 only)."""
    if args.init_generator:
        init = args.init_generator
        transformer, train_model, tokenizer, tokens = qa_model.build(
            os.path.join(init, 'bert_config.json'), os.path.join(init, 'bert_model.ckpt'),
            os.path.join(init, 'vocab.txt'), simplify=False)
        steps, history = 'loaded from %s' % init, None
    else:
        transformer, train_model, tokenizer, tokens = qa_model.build(*paths)
        steps = args.steps or (12 if args.quick else 6000)
        history = qa_model.train(train_model, tokenizer, train + synthetic, steps=steps, batch_size=args.batch_size,
                                 lengths=lengths, seed=seed, verbose=2)
        qa_model.save(transformer, ctx.path('generator_stage1'), tokens, settings)
    cmrc_steps = args.cmrc_steps if args.cmrc_steps is not None else (3 if args.quick else 300)
    if cmrc_steps:
        history = qa_model.train(train_model, tokenizer, train, steps=cmrc_steps, batch_size=args.batch_size,
                                 learning_rate=args.cmrc_learning_rate, lengths=lengths, seed=seed + 1,
                                 verbose=2)
    final_loss = float(history.history['loss'][-1]) if history is not None else None
    return transformer, tokenizer, tokens, {'generator_steps': steps, 'cmrc_steps': cmrc_steps,
                                            'final_loss': final_loss}


def train_reader(args, paths, reader_data, seed):
    from bert4keras.tokenizers import Tokenizer
    reader = Reader(build_reader(paths[0], paths[1]), Tokenizer(paths[2], do_lower_case=True),
                    maxlen=args.reader_maxlen)
    epochs = args.reader_epochs or (1 if args.quick else 4)
    if args.reader_synthetic:
        first = synthetic_peoples_daily(max_len=args.max_p_len - 2, limit=args.reader_synthetic)
        reader.fit(first, epochs=1, batch_size=args.batch_size, learning_rate=args.reader_learning_rate,
                   seed=seed, verbose=2)
    train, valid = reader_data
    reader.fit(train, epochs=epochs, batch_size=args.batch_size, learning_rate=args.reader_learning_rate,
               seed=seed, verbose=2, validation=valid)
    return reader, epochs


GENERATOR_METRICS = {
    'question_rouge_l': lambda gold, made: float(np.mean([metrics.rouge_l(q, g) for q, g in zip(made, gold)])),
    'question_bleu4': lambda gold, made: float(np.mean([metrics.bleu4(q, g) for q, g in zip(made, gold)])),
    'degenerate_share': lambda gold, made: float(np.mean([degeneration(q) is not None for q in made]))}
READER_METRICS = {'em': lambda gold, pred: float(np.mean([metrics.exact_match(p, g) for p, g in zip(pred, gold)])),
                  'f1': lambda gold, pred: float(np.mean([metrics.char_f1(p, g) for p, g in zip(pred, gold)]))}


def main(argv=None):
    args = options().parse_args(argv)
    if args.seeds is None:
        args.seeds = 1  # hours of training per seed: one unless asked
    ctx = experiment.start(args)
    lengths = (args.max_p_len, args.max_a_len, args.max_q_len)
    train, reader_train, synthetic, held_paras = load_data(args)
    passages, golds = gold_pairs(held_paras)
    held = [(i, g) for i, gs in enumerate(golds) for g in gs]
    paths = experiment.bert_paths(args)
    settings = {'max_p_len': lengths[0], 'max_a_len': lengths[1], 'max_q_len': lengths[2]}
    from bert4keras_ext.qa.generator import QUESTION_DEFAULTS
    # the generator carries its whole question-decoding setting (not just the overrides), so that a later change
    # of the library defaults does not change what a saved or shipped generator does
    settings['question'] = dict(QUESTION_DEFAULTS, **{k: getattr(args, k) for k in QUESTION_OPTIONS
                                                      if getattr(args, k) is not None})

    def data(seed):
        test = {'generator': (passages, [[{'text': g['text'], 'answer_start': g['answer_start']} for g in gs]
                                         for gs in golds]),
                'reader': ([passages[i] for i, _ in held], [g['question'] for _, g in held])}
        labels = {'generator': [g['question'] for _, g in held], 'reader': [g['text'] for _, g in held]}
        return runner.Split({'generator': train, 'reader': reader_train, 'synthetic': synthetic}, None, test, labels,
                            info={'held-out passages': len(passages), 'gold questions': len(held)})

    made = {}

    def generator_arm(data, seed):
        transformer, tokenizer, tokens, trained = train_generator(args, ctx, paths, data.train['generator'],
                                                                  data.train['synthetic'], lengths, settings, seed)
        gen_dir = qa_model.save(transformer, ctx.path('generator' if seed == ctx.seeds[0] else 'generator_%d' % seed),
                                tokens, settings)
        generator = QAGenerator.load(gen_dir)
        generator.questions(data.test[0][:1], [data.test[1][0][:1]])  # trace the compiled steps once
        aware = generator.questions(*data.test)
        # one question per gold item ('' where the generator refused the answer: scored, and counted degenerate)
        questions = [p['question'] if p['status'] == 'ok' else '' for r in aware for p in r['pairs']]
        made.setdefault('generator', (generator, gen_dir, transformer, tokenizer, trained))
        return {'predictions': questions, 'extra': trained}

    def reader_arm(data, seed):
        reader, epochs = train_reader(args, paths, data.train['reader'], seed)
        reader_dir = reader.save(ctx.path('reader' if seed == ctx.seeds[0] else 'reader_%d' % seed), paths[0])
        made.setdefault('reader', (reader, reader_dir, epochs))
        return {'predictions': [p['answer'] for p in reader.answer(*data.test)], 'extra': {'epochs': epochs}}

    arms = [runner.Arm('generator (answer-aware questions)', generator_arm, metrics=GENERATOR_METRICS,
                       part='generator'),
            runner.Arm('reader (answers to the gold questions)', reader_arm, metrics=READER_METRICS, part='reader')]

    def tables(report, results):
        generator, gen_dir, transformer, tokenizer, trained = made['generator']
        reader, reader_dir, reader_epochs = made['reader']
        first = results['seeds'][0]['results']
        report.add('train', dict(trained, cmrc_examples=len(train), synthetic_examples=len(synthetic),
                                 reader_epochs=reader_epochs, reader_synthetic=args.reader_synthetic,
                                 question_settings=generator.question_settings))
        questions = first['generator (answer-aware questions)']['predictions']
        aware_scores = dict(first['generator (answer-aware questions)']['metrics'], **question_quality(questions))
        reader_scores = dict(first['reader (answers to the gold questions)']['metrics'], n=len(held))
        # free generation, with the round-trip filter
        start = time.time()
        free = generator.generate(passages, k=args.answers, seed=args.seed)
        seconds = time.time() - start
        free_scores = evaluate(free, [[(g['text'], g['question']) for g in gs] for gs in golds], seconds=seconds)
        free_scores.update(question_quality([p['question'] for r in free for p in r['pairs']]))
        free_scores.update(answer_lengths(free))
        kept, total = RoundTripFilter(reader, args.filter_threshold).apply(free)
        split = {name: [dict(r, pairs=[p for p in r['pairs'] if p.get('kept') == want]) for r in free]
                 for name, want in (('kept', True), ('dropped', False))}
        refs = [[(g['text'], g['question']) for g in gs] for gs in golds]
        filtered = {name: evaluate(recs, refs) for name, recs in split.items()}
        # throughput against stock bert4keras on the same model
        n_stock = args.stock_passages or (1 if args.quick else 10)
        start = time.time()
        stock_generate(transformer.model, tokenizer, passages[:n_stock], k=args.answers, max_p_len=lengths[0],
                       max_a_len=lengths[1], max_q_len=lengths[2], seed=args.seed)
        stock_rate = n_stock / (time.time() - start)
        report.add('answer_aware', aware_scores)
        report.add('free', free_scores)
        report.add('round_trip', {'kept': kept, 'total': total, 'threshold': args.filter_threshold, **filtered})
        report.add('reader', reader_scores)
        report.add('throughput', {'ours_passages_per_s': free_scores['passages_per_second'],
                                  'stock_passages_per_s': stock_rate})
        report.add('examples', free[:10])
        report.table('Held-out CMRC2018 passages: %d passages, %d gold questions (first seed\'s models)'
                     % (len(passages), len(held)), ['measure', 'value', 'target (issue #20)'],
                     [['answer-aware question ROUGE-L (char)', '%.3f' % aware_scores['question_rouge_l'], '>= 0.30'],
                      ['answer-aware question BLEU-4 (char)', '%.3f' % aware_scores['question_bleu4'], ''],
                      ['degenerate questions (answer-aware / free generation)', '%.1f%% / %.1f%%' % (
                          100 * aware_scores['degenerate_share'], 100 * free_scores['degenerate_share']), '<= 2%'],
                      ['questions without a question word (answer-aware / free; stricter, not a target)',
                       '%.1f%% / %.1f%%' % (100 * aware_scores['no_question_word_share'],
                                            100 * free_scores['no_question_word_share']), ''],
                      ['distinct questions (free generation)', '%.1f%%' % (100 * free_scores['distinct_share']),
                       '>= 80%'],
                      ['mean answer length (chars)', '%.2f' % free_scores['mean_answer_length'], '>= 2'],
                      ['answer span validity', '%.1f%%' % (100 * free_scores['answer_validity']), '100%'],
                      ['reader EM / F1 on gold questions', '%.3f / %.3f' % (reader_scores['em'],
                                                                           reader_scores['f1']), 'reported'],
                      ['round trip: kept pairs', '%d of %d (%.0f%%)' % (kept, total, 100 * kept / max(total, 1)),
                       'reported'],
                      ['throughput, ours / stock bert4keras', '%.2f / %.3f passages/s (%.1fx)' % (
                          free_scores['passages_per_second'], stock_rate,
                          free_scores['passages_per_second'] / stock_rate), '>= 20x']])
        report.table('Kept vs dropped pairs (round-trip filter, threshold %.2f): quality against the gold pairs'
                     % args.filter_threshold, ['pairs', 'answer F1', 'question ROUGE-L', 'question BLEU-4'],
                     [[name, '%.3f' % s['answer_f1'], '%.3f' % s['question_rouge_l'], '%.3f' % s['question_bleu4']]
                      for name, s in filtered.items()])
        lines = ['| passage (start) | answer | question | kept |', '|---|---|---|---|']
        for rec in free[:10]:
            for pair in rec['pairs'][:1]:
                lines.append('| %s… | %s | %s | %s |' % (rec['passage'][:30].replace('|', ' '), pair['answer'],
                                                         pair['question'], 'yes' if pair.get('kept') else 'no'))
        stage1 = ('%s steps on %d CMRC2018 + %d synthetic People\'s Daily pairs'
                  % (trained['generator_steps'], len(train), len(synthetic)) if not args.init_generator
                  else 'loaded from `%s` (an earlier run\'s stage 1)' % args.init_generator)
        report.text('Training: generator stage 1 %s; stage 2 %d steps on the CMRC2018 pairs only (lr %g); question '
                    'decoding %s. Reader: %d epochs on %s (lr %g%s), the best epoch by F1 on every tenth training '
                    'paragraph. Settings chosen on validation paragraphs (results/qa_generation/tuning_*.md).' % (
                        stage1, trained['cmrc_steps'], args.cmrc_learning_rate,
                        ', '.join('%s=%s' % kv for kv in sorted(generator.question_settings.items())), reader_epochs,
                        'whole paragraphs in windows with null-span rows' if args.reader_passages == 'full'
                        else 'the generator\'s windows', args.reader_learning_rate,
                        ', after one epoch of %d synthetic pairs' % args.reader_synthetic if args.reader_synthetic
                        else ''))
        report.text('Ten fresh examples (held-out passages, free generation):\n\n' + '\n'.join(lines))
        if args.export:
            for src, name in ((gen_dir, 'qa_generator'), (reader_dir, 'qa_reader')):
                target = os.path.join(args.export, name)
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(src, target)
            report.text('Exported to `%s` (qa_generator, qa_reader).' % args.export)

    return runner.run(ctx, 'Article 5: passage -> answer + question generation', data, arms, {}, [], tables=tables,
                      raw_metrics=(), config={'lengths': lengths, 'answers': args.answers,
                                              'filter_threshold': args.filter_threshold})


if __name__ == '__main__':
    main()
