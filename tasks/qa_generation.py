"""Article 5 (kexue.fm/archives/7630): a BERT (UniLM) that reads a passage and writes answer + question pairs,
with answers constrained to passage spans. Trains the generator, then compares span-constrained with free
(the article's) answer sampling, and our batched cached decoder with stock bert4keras decoding, on held-out
passages.

Default data (no download): SYNTHETIC pairs from People's Daily — the answer is a tagged person/place/organisation/
time/number, the question is its clause with the entity replaced by 谁/哪里/哪个机构/什么时候/多少. Real data:
--train_data/--valid_data in SQuAD/CMRC2018 or WebQA/SogouQA format.
"""
import bert4keras_ext  # noqa: F401
import os
import time

from tasks import experiment
from bert4keras_ext.data import train_valid_test_split
from bert4keras_ext.qa import model as qa_model
from bert4keras_ext.qa.data import group_by_passage, load_examples, synthetic_peoples_daily
from bert4keras_ext.qa.evaluate import evaluate
from bert4keras_ext.qa.generator import QAGenerator
from tasks.baselines import stock_generate

COLUMNS = ['answer_validity', 'answer_em', 'answer_f1', 'question_bleu4', 'question_rouge_l', 'distinct_1',
           'distinct_2', 'pairs_per_passage', 'passages_per_second']


def main(argv=None):
    p = experiment.parser(__doc__, 'qa_generation')
    p.add_argument('--train_data', default=None, help='SQuAD/CMRC JSON or WebQA/SogouQA JSON for training; '
                   'default: synthetic People\'s Daily pairs')
    p.add_argument('--valid_data', default=None, help='held-out data in the same format (with --train_data)')
    p.add_argument('--steps', type=int, default=None, help='training steps (default 3000; quick 120)')
    p.add_argument('--batch_size', type=int, default=16, help='sequences per training step')
    p.add_argument('--max_p_len', type=int, default=96, help='passage tokens kept')
    p.add_argument('--max_a_len', type=int, default=12, help='answer tokens at most')
    p.add_argument('--max_q_len', type=int, default=32, help='question tokens at most')
    p.add_argument('--answers', type=int, default=4, help='answers sampled per passage')
    p.add_argument('--eval_passages', type=int, default=None, help='held-out passages (default 300; quick 40)')
    p.add_argument('--stock_passages', type=int, default=None, help='passages timed with stock bert4keras')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    steps = args.steps or (120 if args.quick else 3000)
    n_eval = args.eval_passages or (40 if args.quick else 300)
    n_stock = args.stock_passages or (5 if args.quick else 20)
    lengths = (args.max_p_len, args.max_a_len, args.max_q_len)
    if args.train_data:
        train = load_examples(args.train_data, args.max_p_len - 2)
        valid = load_examples(args.valid_data, args.max_p_len - 2) if args.valid_data else []
        source = os.path.basename(args.train_data)
        if not valid:
            train, valid, _ = train_valid_test_split(train, seed=args.seed, valid=0.1, test=0)
    else:
        examples = synthetic_peoples_daily(max_len=args.max_p_len - 2, limit=60000)
        train, valid, _ = train_valid_test_split(examples, seed=args.seed, valid=3000, test=0)
        source = "People's Daily, SYNTHETIC entity questions"
    passages, references = group_by_passage(valid)
    passages, references = passages[:n_eval], references[:n_eval]

    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    ctx.seed(args.seed)
    transformer, train_model, tokenizer, tokens = qa_model.build(config_path, checkpoint_path, dict_path)
    history = qa_model.train(train_model, tokenizer, train, steps=steps, batch_size=args.batch_size,
                             lengths=lengths, seed=args.seed)
    gen_dir = qa_model.save(transformer, ctx.path('generator'), tokens,
                            {'max_p_len': lengths[0], 'max_a_len': lengths[1], 'max_q_len': lengths[2]})
    generator = QAGenerator(transformer.model, tokenizer, *lengths)
    generator.generate(passages[:2], k=args.answers, seed=args.seed)  # trace the compiled steps once

    rows, results = [], {}
    for name, constrained in (('span-constrained answers (ours)', True), ('free answers (article)', False)):
        t = time.time()
        records = generator.generate(passages, k=args.answers, constrained=constrained, seed=args.seed)
        scores = evaluate(records, references, seconds=time.time() - t)
        results[name] = {'scores': scores, 'examples': records[:5]}
        rows.append([name] + ['%.3f' % scores[c] for c in COLUMNS])
    t = time.time()
    stock_records = stock_generate(transformer.model, tokenizer, passages[:n_stock], k=args.answers,
                                   max_p_len=lengths[0], max_a_len=lengths[1], max_q_len=lengths[2],
                                   seed=args.seed)
    stock_scores = evaluate(stock_records, references[:n_stock], seconds=time.time() - t)
    rows.append(['stock bert4keras decoder, free answers (%d passages)' % n_stock] +
                ['%.3f' % stock_scores[c] for c in COLUMNS])
    results['stock'] = stock_scores
    ratio = results['free answers (article)']['scores']['passages_per_second'] / stock_scores['passages_per_second']

    report = experiment.Report(ctx, 'Article 5: passage -> answer + question generation')
    report.add('results', results)
    report.add('train', {'examples': len(train), 'steps': steps, 'final_loss': history.history['loss'][-1]})
    report.table('%s: %d training pairs, %d steps; %d held-out passages' % (source, len(train), steps, len(passages)),
                 ['decoding'] + COLUMNS, rows,
                 note='Generation throughput, our batched cached decoder vs stock bert4keras on the same model and '
                      'the same (free-answer) procedure: **%.1fx** passages/s. Generator checkpoint: `%s`; try '
                      '`python -m bert4keras_ext.qa generate --checkpoint %s --input passages.txt`.'
                      % (ratio, gen_dir, gen_dir))
    shown = results['span-constrained answers (ours)']['examples']
    lines = ['| passage (start) | answer | question |', '|---|---|---|']
    for rec in shown:
        for pair in rec['pairs'][:2]:
            lines.append('| %s… | %s | %s |' % (rec['passage'][:40].replace('|', ' '), pair['answer'],
                                                pair['question']))
    report.text('Generated examples (span-constrained):\n\n' + '\n'.join(lines))
    report.write()


if __name__ == '__main__':
    main()
