"""Decoding speed, side by side in one run: bert4keras_ext.decoding.Decoder vs stock bert4keras
AutoRegressiveDecoder (+ model.predict) on the same random-weight UniLM models, and optionally Hugging Face
``generate`` (BertLMHeadModel with a KV cache) in a separate torch environment on the same machine.

    python benchmarks/decoding_speed.py [--sizes tiny base] [--modes greedy beam4 sample4] [--batches 1 16]
        [--peer_python /tmp/peer/bin/python]      # make it with benchmarks/peer/requirements.txt

128-token source, 32 generated tokens (minlen = maxlen = 32, so every decoder does exactly 32 steps), vocab 21128
(Chinese BERT). Stock bert4keras decodes one input at a time; for batch > 1 it is timed on ``--stock_inputs``
inputs and scaled (printed). Warm-up calls (tracing) are excluded from the step times and printed separately
("first call"); "prefill" is one forward pass over the batch's 128-token sources. Greedy and beam search run as one
compiled loop (``LMBackend.loop``), with the logits processors inside it as tensor ops: ``nucleus`` is consistent
nucleus sampling (``TopP(0.9, consistent=True)``, article 1) and ``span`` span-constrained sampling (``MinLength`` +
``SpanConstraint`` to the source, article 5), one sample per input each, so that their ms/step compare with
``greedy`` on the same rows (the ratio is printed; issue #34's target: within 1.2x). ms/step divides by the steps
the longest row took (a span can run out before 32 tokens).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from machine import cpu, limit_isa  # noqa: E402  (benchmarks/machine.py)

SIZES = {
    'tiny': dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
    'base': dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
VOCAB, SRC, GEN, END = 21128, 128, 32, 102


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def agreement(dec32, dec16, inputs):
    """Teacher-force float32's greedy path through both precisions: the largest log-prob difference and the share
    of steps where bfloat16's arg-max is float32's token."""
    paths = [r.ids for r in dec32.greedy(inputs)]
    worst, same, total = 0.0, 0, 0
    s32, s16 = dec32.prefill(inputs), dec16.prefill(inputs)
    for t in range(GEN):
        lp32, lp16 = s32.log_probs, s16.log_probs
        worst = max(worst, float(np.abs(lp32 - lp16).max()))
        alive = [i for i, p in enumerate(paths) if t < len(p)]
        same += sum(int(lp16[i].argmax() == paths[i][t]) for i in alive)
        total += len(alive)
        if not alive or t + 1 == GEN:
            break
        tokens = np.array([p[t] if t < len(p) else END for p in paths], 'int32')
        s32, s16 = dec32.step(s32, tokens), dec16.step(s16, tokens)
    return worst, same / max(total, 1)


def ours_and_stock(size, modes, batches, stock_inputs, rng, bf16=False, prefill_jit=False):
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.checkpoints.tiny import tiny_config
    from bert4keras_ext.decoding import Decoder, MinLength, SpanConstraint, TopK, TopP
    from bert4keras_ext.models import build_model
    from tasks.baselines import bert4keras_decoder
    config = tiny_config(VOCAB, max_position_embeddings=512, **SIZES[size])
    model = build_model(config, application='unilm').model
    src = [[101] + list(rng.randint(1000, VOCAB, size=SRC - 2)) + [END] for _ in range(max(batches))]
    dec = Decoder(model, END, maxlen=GEN, minlen=GEN, prefill_jit=prefill_jit)
    old = bert4keras_decoder(model, END, maxlen=GEN, minlen=GEN)
    rows = []
    if bf16:
        dec16 = Decoder(model, END, maxlen=GEN, minlen=GEN, dtype='bfloat16')
        worst, same = agreement(dec, dec16, src[:4])
        print('%-5s bfloat16 vs float32 on float32\'s greedy paths: max |log-prob difference| %.4f, same arg-max at '
              '%.1f%% of steps' % (size, worst, 100 * same), flush=True)
    for batch in batches:
        inputs = src[:batch]
        dec.prefill(inputs)  # trace
        prefill = min(timed(lambda: dec.prefill(inputs)) for _ in range(2))
        nucleus = [TopP(0.9, consistent=True, end_ids=[END])]
        span = [MinLength(GEN, [END]), SpanConstraint([x[1:-1] for x in inputs], [END])]
        for mode in modes:
            def ours():
                if mode == 'beam4':
                    dec.beam_search(inputs, 4)
                elif mode == 'greedy':
                    dec.greedy(inputs)
                elif mode == 'nucleus':
                    dec.sample(inputs, 1, processors=nucleus, seed=0)
                elif mode == 'span':
                    dec.sample(inputs, 1, processors=span, seed=0)
                else:
                    dec.sample(inputs, 4, processors=[TopK(40)], seed=0)

            def stock_one(x):
                xs = [np.array(x), np.zeros(len(x), int)]
                if mode == 'beam4':
                    old.beam_search(xs, topk=4)
                elif mode == 'greedy':
                    old.beam_search(xs, topk=1)
                elif mode in ('nucleus', 'span'):
                    old.random_sample(xs, 1, topp=0.9)  # stock has neither rule: its plain nucleus sampling
                else:
                    old.random_sample(xs, 4, topk=40)

            first = timed(ours)  # the first call of this shape traces the compiled functions
            t_ours = min(timed(ours), timed(ours))
            dec.profile()  # reset, then one more call split into phases
            total = timed(ours)
            phases = dec.profile()
            steps = max(int(phases.pop('steps', GEN)), 1)
            phases['python_other'] = total - sum(phases.values())
            n_stock = 1 if batch == 1 else min(stock_inputs, batch)
            stock_one(inputs[0])  # warm-up
            t_stock = timed(lambda: [stock_one(x) for x in inputs[:n_stock]]) * batch / n_stock
            rows.append({'size': size, 'mode': mode, 'batch': batch, 'stock_ms_per_step': 1000 * t_stock / GEN,
                         'ours_ms_per_step': 1000 * t_ours / steps, 'ours_steps': steps,
                         'ours_prefill_ms': 1000 * prefill, 'ours_first_call_s': first, 'stock_inputs_timed': n_stock,
                         'ours_phases_ms_per_step': {k: 1000 * v / steps for k, v in phases.items()}})
            if bf16 and mode in ('greedy', 'beam4'):
                run16 = (lambda: dec16.beam_search(inputs, 4)) if mode == 'beam4' else (lambda: dec16.greedy(inputs))
                run16()
                rows[-1]['bf16_ms_per_step'] = 1000 * min(timed(run16), timed(run16)) / GEN
                dec16.prefill(inputs)
                rows[-1]['bf16_prefill_ms'] = 1000 * min(timed(lambda: dec16.prefill(inputs)) for _ in range(2))
            print('%-5s %-7s batch %2d: stock %8.1f ms/step, ours %7.1f ms/step (prefill %.0f ms, first call %.1f s)%s'
                  % (size, mode, batch, rows[-1]['stock_ms_per_step'], rows[-1]['ours_ms_per_step'],
                     rows[-1]['ours_prefill_ms'], first,
                     ', bfloat16 %.1f ms/step' % rows[-1]['bf16_ms_per_step'] if 'bf16_ms_per_step' in rows[-1]
                     else ''), flush=True)
    return rows


def peer(python, sizes, modes, batches):
    """Hugging Face rows from the peer environment (greedy and beam 4 only: the peer samples differently)."""
    script = os.path.join(ROOT, 'benchmarks', 'peer', 'hf_decode.py')
    modes = [m for m in modes if m in ('greedy', 'beam4')]
    out = subprocess.run([python, script, '--sizes'] + sizes + ['--modes'] + modes +
                         ['--batches'] + [str(b) for b in batches] + ['--vocab', str(VOCAB), '--src', str(SRC),
                                                                     '--gen', str(GEN)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit('the peer run failed:\n' + out.stderr[-3000:])
    return {(r['size'], r['mode'], r['batch']): r for r in map(json.loads, out.stdout.strip().splitlines())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', nargs='+', default=['tiny', 'base'], choices=sorted(SIZES))
    p.add_argument('--modes', nargs='+', default=['greedy', 'beam4', 'sample4', 'nucleus', 'span'],
                   choices=['greedy', 'beam4', 'sample4', 'nucleus', 'span'])
    p.add_argument('--batches', type=int, nargs='+', default=[1, 16])
    p.add_argument('--stock_inputs', type=int, default=4, help='inputs timed for stock at batch > 1 (scaled)')
    p.add_argument('--bf16', action='store_true', help="also time Decoder(dtype='bfloat16') (greedy, beam 4) and "
                   'report its agreement with float32')
    p.add_argument('--peer_python', default=None, help='python of an environment with torch + transformers '
                   '(benchmarks/peer/requirements.txt): adds Hugging Face rows measured in the same run')
    p.add_argument('--isa', choices=['avx2'], default=None, help='limit every kernel choice (ours and the peer) to '
                   'this instruction set: an AVX-512 machine then runs an AVX2-only machine\'s kernels (machine.py)')
    p.add_argument('--prefill_jit', action='store_true', help='ours with Decoder(prefill_jit=True): the prompts\' '
                   'forward as XLA programs')
    args = p.parse_args(argv)
    if args.isa:
        limit_isa(args.isa)  # before TensorFlow is imported below
    print('CPU: %s' % cpu(), flush=True)  # the machine kind decides the kernels (AVX2 vs AVX-512 / AMX)
    rng = np.random.RandomState(0)
    rows = []
    for size in args.sizes:
        rows += ours_and_stock(size, args.modes, args.batches, args.stock_inputs, rng, args.bf16, args.prefill_jit)
    hf = peer(args.peer_python, args.sizes, args.modes, args.batches) if args.peer_python else {}
    names = ['prefill', 'loop', 'python_other']
    print('\nWhere our time goes (ms per generated token position, one call split into phases):\n')
    print('| model | mode | batch | ' + ' | '.join(names) + ' |')
    print('|---|---|---|' + '---|' * len(names))
    for r in rows:
        ph = r['ours_phases_ms_per_step']
        print('| %s | %s | %d | ' % (r['size'], r['mode'], r['batch']) +
              ' | '.join('%.2f' % ph.get(n, 0.0) for n in names) + ' |')
    print('\n| model | mode | batch | stock bert4keras ms/step | ours ms/step | ours / ours greedy | '
          'HF ms/step | ours / HF | ours speed-up vs stock | ours prefill ms | HF prefill ms | ours tokens/s | '
          'ours bf16 ms/step | bf16 / HF | bf16 prefill ms |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        h = hf.get((r['size'], r['mode'], r['batch']))
        rows_per_input = 4 if r['mode'] in ('beam4', 'sample4') else 1
        greedy = next((g for g in rows if g['size'] == r['size'] and g['batch'] == r['batch']
                       and g['mode'] == 'greedy'), None)
        tokens_per_s = r['batch'] * rows_per_input * 1000 / r['ours_ms_per_step']
        b16 = r.get('bf16_ms_per_step')
        print('| %s | %s | %d | %.1f | %.1f | %s | %s | %s | %.1fx | %.0f | %s | %.0f | %s | %s | %s |' % (
            r['size'], r['mode'], r['batch'], r['stock_ms_per_step'], r['ours_ms_per_step'],
            '%.2f' % (r['ours_ms_per_step'] / greedy['ours_ms_per_step']) if greedy else '-',
            '%.1f' % h['ms_per_step'] if h else '-', '%.2f' % (r['ours_ms_per_step'] / h['ms_per_step']) if h else '-',
            r['stock_ms_per_step'] / r['ours_ms_per_step'], r['ours_prefill_ms'],
            '%.0f' % h['prefill_ms'] if h else '-', tokens_per_s, '%.1f' % b16 if b16 else '-',
            '%.2f' % (b16 / h['ms_per_step']) if b16 and h else '-',
            '%.0f' % r['bf16_prefill_ms'] if b16 else '-'))


if __name__ == '__main__':
    main()
