"""bfloat16 vs float32 decoding steps with and without XLA, side by side in one run (issue #19): base-size UniLM,
random weights, 128-token source, 32 greedy steps at batch 1, best of 2 calls.

    python benchmarks/decoding_precision.py

Chose the default of ``Decoder(jit_compile=None)``: XLA for float32 steps, none for bfloat16 steps.
"""
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.checkpoints.tiny import tiny_config
    from bert4keras_ext.decoding import Decoder
    from bert4keras_ext.models import build_model
    from benchmarks.decoding_speed import END, GEN, SIZES, SRC, VOCAB
    model = build_model(tiny_config(VOCAB, max_position_embeddings=512, **SIZES['base']), application='unilm').model
    rng = np.random.RandomState(0)
    src = [[101] + list(rng.randint(1000, VOCAB, size=SRC - 2)) + [END]]
    print('| XLA step | dtype | greedy ms/step |\n|---|---|---|')
    for jit in (True, False):
        for dtype in ('float32', 'bfloat16'):
            dec = Decoder(model, END, maxlen=GEN, minlen=GEN, jit_compile=jit, dtype=dtype)
            dec.greedy(src)  # trace
            best = float('inf')
            for _ in range(2):
                start = time.perf_counter()
                dec.greedy(src)
                best = min(best, time.perf_counter() - start)
            print('| %s | %s | %.1f |' % ('on' if jit else 'off', dtype, 1000 * best / GEN), flush=True)


if __name__ == '__main__':
    main()
