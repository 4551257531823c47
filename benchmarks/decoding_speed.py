"""Decoding speed: bert4keras_ext.decoding.Decoder vs stock bert4keras AutoRegressiveDecoder (+ model.predict),
on the same random-weight UniLM models, in one run.

    python benchmarks/decoding_speed.py [--sizes tiny base] [--stock_inputs 4]

128-token source, 32 generated tokens (minlen = maxlen = 32, so both decoders do exactly 32 steps), vocab 21128
(Chinese BERT), beam 4 and sampling n=4, batch 1 and 16. Stock bert4keras decodes one input at a time; for batch 16
it is timed on ``--stock_inputs`` inputs and scaled to 16 (printed). Warm-up calls (tracing) are excluded from both
and the one-time tracing cost of ours is printed separately.
"""
import argparse
import time

import bert4keras_ext  # noqa: F401
import numpy as np

from bert4keras_ext.models import build_model
from bert4keras_ext.checkpoints.tiny import tiny_config
from bert4keras_ext.decoding import Decoder, TopK
from tasks.baselines import bert4keras_decoder

SIZES = {
    'tiny': dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
    'base': dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
VOCAB, SRC, GEN, END = 21128, 128, 32, 102


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', nargs='+', default=['tiny', 'base'])
    p.add_argument('--stock_inputs', type=int, default=4, help='inputs timed for stock at batch 16 (scaled)')
    args = p.parse_args()
    rng = np.random.RandomState(0)
    rows = []
    for size in args.sizes:
        config = tiny_config(VOCAB, max_position_embeddings=512, **SIZES[size])
        model = build_model(config, application='unilm').model
        src = [[101] + list(rng.randint(1000, VOCAB, size=SRC - 2)) + [END] for _ in range(16)]
        dec = Decoder(model, END, maxlen=GEN, minlen=GEN)
        old = bert4keras_decoder(model, END, maxlen=GEN, minlen=GEN)
        for mode in ('beam4', 'sample4'):
            for batch in (1, 16):
                inputs = src[:batch]

                def ours():
                    if mode == 'beam4':
                        dec.beam_search(inputs, 4)
                    else:
                        dec.sample(inputs, 4, processors=[TopK(40)], seed=0)

                trace = timed(ours)  # first call traces for this shape
                t_ours = min(timed(ours), timed(ours))
                n_stock = 1 if batch == 1 else min(args.stock_inputs, batch)

                def theirs():
                    for x in inputs[:n_stock]:
                        xs = [np.array(x), np.zeros(len(x), int)]
                        if mode == 'beam4':
                            old.beam_search(xs, topk=4)
                        else:
                            old.random_sample(xs, 4, topk=40)

                timed(lambda: old.beam_search([np.array(inputs[0]), np.zeros(SRC, int)], topk=4) if mode == 'beam4'
                      else old.random_sample([np.array(inputs[0]), np.zeros(SRC, int)], 4, topk=40))  # warm-up
                t_stock = timed(theirs) * batch / n_stock
                tokens = batch * 4 * GEN
                rows.append((size, mode, batch, t_stock / GEN * 1000, t_ours / GEN * 1000, tokens / t_stock,
                             tokens / t_ours, t_stock / t_ours, trace, n_stock))
                print('%-5s %-7s batch %2d: stock %8.1f ms/step, ours %7.1f ms/step, speed-up %5.1fx '
                      '(ours first call incl. tracing %.1f s; stock timed on %d input(s))'
                      % (size, mode, batch, rows[-1][3], rows[-1][4], rows[-1][7], trace, n_stock), flush=True)
    print('\n| model | mode | batch | stock bert4keras ms/step | ours ms/step | stock tokens/s | ours tokens/s '
          '| speed-up |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        print('| %s | %s | %d | %.1f | %.1f | %.0f | %.0f | %.1fx |' % (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]))


if __name__ == '__main__':
    main()
