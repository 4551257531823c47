"""Validation grids for the QA generator's second stage, its question decoding and the reader (issue #20), on
VALIDATION paragraphs: every tenth CMRC2018 training paragraph (never the held-out fifth of `cmrc_split`, which only
the final benchmark reads). Written to results/qa_generation/tuning_{generator,reader,decoding}.{json,md}.

    python benchmarks/qa_tuning.py --stage1 DIR [--stage2_steps 0 150 300 600] [--reader_grid ...]
    python benchmarks/qa_tuning.py --decode_only GENERATOR_DIR [--decode_grid ...]

Stage 1 is a generator trained on CMRC2018 + synthetic People's Daily pairs (`tasks.qa_generation` without
`--cmrc_steps`); stage 2 continues it on the CMRC2018 pairs only, so its questions take the CMRC style instead of
the synthetic cloze style. The grid measures, at each stage-2 step count, answer-aware question ROUGE-L against the
gold validation questions and the degenerate / distinct question shares of free generation. The reader grid
compares learning rate, epochs and a first pass over synthetic pairs by validation EM/F1.

Caveat (said in the output): a stage-1 generator trained on all training paragraphs has seen the validation
paragraphs; the stage-2 comparison is between step counts on top of the same stage 1, so the bias is shared.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import bert4keras_ext  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

READER_GRID = {  # name: (learning rate, synthetic pairs in a first pass, CMRC epochs, passages)
    # 'windows': the generator's 126-character windows around each answer; 'full': whole paragraphs, read in
    # overlapping windows, with one answer-less window per example as a null-span target
    'lr1e-4_e4': (1e-4, 0, 4, 'windows'),
    'lr3e-4_e10': (3e-4, 0, 10, 'windows'),
    'syn5000_lr3e-4_e10': (3e-4, 5000, 10, 'windows'),
    'full_lr1e-4_e4': (1e-4, 0, 4, 'full'),
    'full_lr3e-4_e4': (3e-4, 0, 4, 'full'),
}


def validation_split(train_paras, every=10):
    """``(fit, validation)`` paragraphs: every ``every``-th training paragraph is validation."""
    return ([p for i, p in enumerate(train_paras) if i % every],
            [p for i, p in enumerate(train_paras) if i % every == 0])


DECODE_GRID = {  # name: question-decoding settings over QUESTION_DEFAULTS (every key given, so that the grid
    # means the same whatever the library's defaults are)
    'neither': {'ban_answer_ngram': 0, 'end_with_question_mark': False},
    'ban_answer_3gram': {'ban_answer_ngram': 3, 'end_with_question_mark': False},
    'end_with_question_mark': {'ban_answer_ngram': 0, 'end_with_question_mark': True},
    'both': {'ban_answer_ngram': 3, 'end_with_question_mark': True},
}


def no_question_word(questions):
    """Share of questions without a question word (a question mark alone does not count): a stricter check than
    the degenerate share, for settings that force a question mark."""
    from bert4keras_ext.qa.evaluate import has_question_word
    return sum(not has_question_word(q) for q in questions) / max(len(questions), 1)


def generator_scores(directory, passages, golds, seed=0, **question):
    from bert4keras_ext.qa.evaluate import answer_aware_scores, question_quality
    from bert4keras_ext.qa.generator import QAGenerator
    generator = QAGenerator.load(directory, question=question)
    aware = generator.questions(passages, [[{'text': g['text'], 'answer_start': g['answer_start']} for g in gs]
                                           for gs in golds])
    scores = answer_aware_scores(aware, [g['question'] for gs in golds for g in gs])
    free = generator.generate(passages, k=4, seed=seed)
    questions = [p['question'] for r in free for p in r['pairs']]
    quality = question_quality(questions)
    return {'rouge_l': scores['question_rouge_l'], 'bleu4': scores['question_bleu4'],
            'aware_degenerate': scores['degenerate_share'], 'free_degenerate': quality['degenerate_share'],
            'free_distinct': quality['distinct_share'], 'free_no_question_word': no_question_word(questions),
            'aware_no_question_word': no_question_word([p['question'] for r in aware for p in r['pairs']]),
            'examples': [(p['answer'], p['question']) for r in free[:4] for p in r['pairs'][:2]]}


def decoding_grid(args, passages, golds):
    """Question-decoding settings on one generator (``--decode_only``): tuning_decoding.{json,md}."""
    out = {'generator': args.decode_only, 'settings': {}}
    for name in args.decode_grid:
        out['settings'][name] = dict(generator_scores(args.decode_only, passages, golds, args.seed,
                                                      **DECODE_GRID[name]), question=DECODE_GRID[name])
        print(name, {k: v for k, v in out['settings'][name].items() if k != 'examples'}, flush=True)
    lines = ['## Question decoding on validation paragraphs (generator `%s`)' % os.path.basename(args.decode_only),
             '', 'Command: `python benchmarks/qa_tuning.py %s`' % ' '.join(sys.argv[1:]), '',
             '| settings | ROUGE-L | BLEU-4 | degenerate (aware / free) | no question word (aware / free) | '
             'distinct (free) |', '|---|---|---|---|---|---|']
    for name, s in out['settings'].items():
        lines.append('| %s | %.3f | %.3f | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %.1f%% |' % (
            name, s['rouge_l'], s['bleu4'], 100 * s['aware_degenerate'], 100 * s['free_degenerate'],
            100 * s['aware_no_question_word'], 100 * s['free_no_question_word'], 100 * s['free_distinct']))
    with open(os.path.join(args.output_dir, 'tuning_decoding.json'), 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    with open(os.path.join(args.output_dir, 'tuning_decoding.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--stage1', help='the stage-1 generator directory')
    p.add_argument('--decode_only', metavar='DIR', help='only compare question-decoding settings on this generator')
    p.add_argument('--decode_grid', nargs='*', default=list(DECODE_GRID), choices=list(DECODE_GRID))
    p.add_argument('--stage2_steps', type=int, nargs='*', default=[0, 150, 300, 600])
    p.add_argument('--stage2_lr', type=float, default=1e-4)
    p.add_argument('--reader_grid', nargs='*', default=list(READER_GRID), choices=list(READER_GRID))
    p.add_argument('--no_generator_grid', action='store_true', help='only the reader grid')
    p.add_argument('--batch_size', type=int, default=16)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--work_dir', default=os.path.expanduser('~/.cache/bert4keras_ext/qa_tuning'))
    p.add_argument('--output_dir', default=os.path.join(ROOT, 'results', 'qa_generation'))
    args = p.parse_args(argv)
    if not (args.stage1 or args.decode_only):
        p.error('give --stage1 (generator and reader grids) or --decode_only DIR')

    from bert4keras.tokenizers import Tokenizer
    from bert4keras_ext.qa import model as qa_model
    from bert4keras_ext.qa.data import cmrc_split, from_squad, synthetic_peoples_daily
    from bert4keras_ext.qa.reader import Reader, build_reader
    from tasks import experiment
    from tasks.qa_generation import CMRC, gold_pairs

    with open(CMRC, encoding='utf-8') as f:
        train_paras, _ = cmrc_split(json.load(f))
    fit_paras, val_paras = validation_split(train_paras)
    if args.decode_only:
        passages, golds = gold_pairs(val_paras)
        os.makedirs(args.output_dir, exist_ok=True)
        return decoding_grid(args, passages, golds)
    with open(os.path.join(args.stage1, 'qa_config.json'), encoding='utf-8') as f:
        settings = json.load(f)
    lengths = (settings['max_p_len'], settings['max_a_len'], settings['max_q_len'])
    fit = from_squad(fit_paras, lengths[0] - 2)
    fit_full = from_squad(fit_paras, None)  # whole paragraphs (the reader's 'full' rows)
    passages, golds = gold_pairs(val_paras)
    out = {'validation_paragraphs': len(val_paras), 'validation_questions': sum(map(len, golds)),
           'fit_examples': len(fit), 'stage1': args.stage1, 'stage2_lr': args.stage2_lr, 'generator': {},
           'reader': {}}
    t0 = time.time()

    # generator: stage-2 steps on top of stage 1, evaluated at each count of the grid
    steps_done = 0
    cfg = os.path.join(args.stage1, 'bert_config.json')
    transformer, train_model, tokenizer, tokens = qa_model.build(
        cfg, os.path.join(args.stage1, 'bert_model.ckpt'), os.path.join(args.stage1, 'vocab.txt'), simplify=False)
    for n in ([] if args.no_generator_grid else sorted(args.stage2_steps)):
        if n > steps_done:
            qa_model.train(train_model, tokenizer, fit, steps=n - steps_done, batch_size=args.batch_size,
                           learning_rate=args.stage2_lr, lengths=lengths, seed=args.seed + steps_done, verbose=2)
            steps_done = n
        directory = qa_model.save(transformer, os.path.join(args.work_dir, 'stage2_%d' % n), tokens, settings)
        out['generator'][n] = generator_scores(directory, passages, golds, args.seed)
        print('stage 2 steps %d: %s' % (n, {k: v for k, v in out['generator'][n].items() if k != 'examples'}),
              flush=True)

    # reader grid
    val_examples = [dict(passage=p, answer=g['text'], answer_start=g['answer_start'], question=g['question'])
                    for p, gs in zip(passages, golds) for g in gs]
    paths = experiment.bert_paths(argparse.Namespace(config_path=None, checkpoint_path=None, dict_path=None))
    for name in args.reader_grid:
        lr, n_syn, epochs, passages_kind = READER_GRID[name]
        tf.keras.utils.set_random_seed(args.seed)
        reader = Reader(build_reader(paths[0], paths[1]), Tokenizer(paths[2], do_lower_case=True))
        start = time.time()
        if n_syn:
            synthetic = synthetic_peoples_daily(max_len=lengths[0] - 2, limit=n_syn)
            reader.fit(synthetic, epochs=1, batch_size=args.batch_size, learning_rate=lr, seed=args.seed)
        history = reader.fit(fit_full if passages_kind == 'full' else fit, epochs=epochs,
                             batch_size=args.batch_size, learning_rate=lr, seed=args.seed, validation=val_examples)
        out['reader'][name] = dict(reader.evaluate(val_examples), seconds=time.time() - start,
                                   epoch_metric=[float(v) for v in history.history.get('val_score', [])])
        print('reader %s: %s' % (name, out['reader'][name]), flush=True)
    out['seconds'] = time.time() - t0
    write_grids(args, argv, out)


def write_grids(args, argv, out):
    """tuning_generator.{json,md} and tuning_reader.{json,md} (a part that was not run is not written)."""
    os.makedirs(args.output_dir, exist_ok=True)
    head = ['Command: `python benchmarks/qa_tuning.py %s` (%.0f s for both grids)'
            % (' '.join(argv if argv is not None else sys.argv[1:]), out['seconds']), '',
            'Validation: %d paragraphs, %d questions (every tenth training paragraph; never the held-out ones).'
            % (out['validation_paragraphs'], out['validation_questions']), '']
    parts = {}
    if out['generator']:
        lines = ['## QA generator: stage-2 steps on validation paragraphs', ''] + head + [
            'Stage 1 (`%s`) trained on all training paragraphs, these included; the rows share that bias.'
            % out['stage1'], '', '| stage-2 steps (lr %g) | ROUGE-L | BLEU-4 | degenerate (aware / free) | '
            'no question word (aware / free) | distinct (free) |' % out['stage2_lr'], '|---|---|---|---|---|---|']
        for n, s in out['generator'].items():
            lines.append('| %d | %.3f | %.3f | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %.1f%% |' % (
                n, s['rouge_l'], s['bleu4'], 100 * s['aware_degenerate'], 100 * s['free_degenerate'],
                100 * s['aware_no_question_word'], 100 * s['free_no_question_word'], 100 * s['free_distinct']))
        parts['generator'] = lines
    if out['reader']:
        lines = ['## QA reader on validation paragraphs', ''] + head + [
            '| reader (lr, synthetic first pass, epochs) | EM | F1 | seconds |', '|---|---|---|---|']
        for name, s in out['reader'].items():
            lines.append('| %s | %.3f | %.3f | %.0f |' % (name, s['em'], s['f1'], s['seconds']))
        parts['reader'] = lines
    for part, lines in parts.items():
        keep = {k: v for k, v in out.items() if k not in ('generator', 'reader')}
        keep[part] = out[part]
        with open(os.path.join(args.output_dir, 'tuning_%s.json' % part), 'w', encoding='utf-8') as f:
            json.dump(keep, f, ensure_ascii=False, indent=1)
        with open(os.path.join(args.output_dir, 'tuning_%s.md' % part), 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')
        print('\n'.join(lines))


if __name__ == '__main__':
    main()
