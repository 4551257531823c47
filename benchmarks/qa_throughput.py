"""QA-pair generation throughput, ours vs stock bert4keras doing the same work (issue #20), side by side in one run.

    python benchmarks/qa_throughput.py [--checkpoint GEN] [--passages 52] [--stock_passages 10] [--answers 4]

`tasks.qa_generation` times our generator on whole held-out passages (every window of a passage: k sampled answers
per window, the k best kept, one question each) against stock bert4keras on the same passages cut to their first
128 tokens (k answers, a question each): not the same work. Here both get the same inputs, each held-out passage's
first window (`QAGenerator.windows`), so both sample k answers from one window and write a question per kept answer:
ours batched through the cached decoder with the span constraint and the question-decoding processors, stock one
passage at a time with bert4keras' `AutoRegressiveDecoder` (`tasks.baselines.stock_generate`). Written to
results/qa_generation/throughput.{json,md}.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default=None, help='generator directory (default: the shipped generator)')
    p.add_argument('--passages', type=int, default=52, help='held-out passages timed for ours')
    p.add_argument('--stock_passages', type=int, default=10, help='of them, timed for stock (slow)')
    p.add_argument('--answers', type=int, default=4, help='answers (pairs) per passage')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--output_dir', default=os.path.join(ROOT, 'results', 'qa_generation'))
    args = p.parse_args(argv)

    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.qa.data import cmrc_split
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.qa.generator import QAGenerator, shipped_generator_dir
    from tasks.baselines import stock_generate
    from tasks.experiment import package_commit
    from tasks.qa_generation import CMRC
    with open(CMRC, encoding='utf-8') as f:
        _, held = cmrc_split(json.load(f))
    generator = QAGenerator.load(args.checkpoint)
    firsts = [generator.windows(para['context'])[0][1] for para in held[:args.passages]]
    generator.generate(firsts[:2], k=args.answers, seed=args.seed)  # trace the compiled steps
    start = time.perf_counter()
    ours = generator.generate(firsts, k=args.answers, seed=args.seed)
    ours_rate = len(firsts) / (time.perf_counter() - start)
    stock_in = firsts[:args.stock_passages]
    model, _ = load_model(args.checkpoint or shipped_generator_dir(), application='unilm')  # the same weights

    def stock_run(passages):
        return stock_generate(model, generator.tokenizer, passages, k=args.answers, max_p_len=generator.max_p_len,
                              max_a_len=generator.max_a_len, max_q_len=generator.max_q_len, seed=args.seed)

    stock_run(stock_in[:1])  # warm-up
    start = time.perf_counter()
    stock = stock_run(stock_in)
    stock_rate = len(stock_in) / (time.perf_counter() - start)
    out = {'command': 'python benchmarks/qa_throughput.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
           'commit': package_commit(), 'passages': len(firsts), 'stock_passages': len(stock_in),
           'ours_passages_per_s': ours_rate, 'stock_passages_per_s': stock_rate, 'speedup': ours_rate / stock_rate,
           'ours_pairs_per_passage': sum(len(r['pairs']) for r in ours) / len(ours),
           'stock_pairs_per_passage': sum(len(r['pairs']) for r in stock) / len(stock)}
    out['speedup_pairs'] = out['speedup'] * out['ours_pairs_per_passage'] / out['stock_pairs_per_passage']
    lines = ['## QA-pair generation throughput on the same inputs (first windows of held-out passages)', '',
             'Command: `%s`, package commit `%s`.' % (out['command'], out['commit']), '',
             '| | passages timed | passages/s | pairs per passage | pairs/s |', '|---|---|---|---|---|',
             '| ours (batched, cached, span constraint + question processors) | %d | %.2f | %.2f | %.2f |'
             % (len(firsts), ours_rate, out['ours_pairs_per_passage'], ours_rate * out['ours_pairs_per_passage']),
             '| stock bert4keras (one passage at a time) | %d | %.3f | %.2f | %.3f |'
             % (len(stock_in), stock_rate, out['stock_pairs_per_passage'],
                stock_rate * out['stock_pairs_per_passage']), '',
             '**Speed-up: %.1fx in passages/s, %.1fx in pairs/s** (target of issue #20: >= 20x; stock writes more '
             'pairs per passage: its unconstrained answers are more often distinct, and each pair costs a question '
             'beam search).' % (out['speedup'], out['speedup_pairs'])]
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, 'throughput.json'), 'w', encoding='utf-8') as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(args.output_dir, 'throughput.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
