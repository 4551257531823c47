"""bfloat16 vs float32 decoding steps with and without XLA, side by side in one run (issue #19): base-size UniLM,
random weights, 128-token source, 32 greedy steps at batch 1, best of 2 calls.

    python benchmarks/decoding_precision.py [--skip_decoder]

Chose the default of ``Decoder(jit_compile=None)``: XLA for float32 steps, none for bfloat16 steps.

The second table is the floor under it: one bare batch-1 matrix-vector product of the base model's shapes
(768 x 3072, the feed-forward; 768 x 21128, the output embedding) in TensorFlow, float32 vs bfloat16, plain and XLA,
with the weight bytes it reads per second, next to this machine's memory bandwidth (numpy copying 512 MB). A
bfloat16 step can only beat float32 by reading half the bytes; when TensorFlow's bfloat16 product reads its weights
no faster per call than the float32 one, a bfloat16 decoder cannot be faster either.
"""
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def matvec_floor(repeats=300):
    """Rows ``(shape, dtype, xla, microseconds per product, weight GB/s)`` and numpy's copy bandwidth (GB/s)."""
    import tensorflow as tf
    rows = []
    for k, n in ((768, 3072), (768, 21128)):
        for dtype in (tf.float32, tf.bfloat16):
            w = tf.Variable(tf.cast(tf.random.normal((k, n), stddev=0.02), dtype))
            x = tf.cast(tf.random.normal((1, k)), dtype)
            for xla in (False, True):
                fn = tf.function(lambda a: tf.matmul(a, w), jit_compile=xla)
                fn(x).numpy()
                best = float('inf')
                for _ in range(3):
                    start = time.perf_counter()
                    for _ in range(repeats):
                        out = fn(x)
                    out.numpy()
                    best = min(best, (time.perf_counter() - start) / repeats)
                nbytes = k * n * dtype.size
                rows.append(('%dx%d' % (k, n), dtype.name, xla, 1e6 * best, nbytes / best / 1e9))
    a = np.ones(64 * 2 ** 20, 'float64')  # 512 MB
    b = np.empty_like(a)
    best = float('inf')
    for _ in range(3):
        start = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - start)
    return rows, 2 * a.nbytes / best / 1e9  # read + write


def main():
    import bert4keras_ext  # noqa: F401
    rows, bandwidth = matvec_floor()
    print('| batch-1 product | dtype | XLA | us per product | weight GB/s |\n|---|---|---|---|---|')
    for shape, dtype, xla, us, gbs in rows:
        print('| %s | %s | %s | %.0f | %.1f |' % (shape, dtype, 'on' if xla else 'off', us, gbs), flush=True)
    print('\nnumpy copy of 512 MB: %.1f GB/s (read + write): the machine\'s memory bandwidth\n' % bandwidth)
    if '--skip_decoder' in sys.argv[1:]:
        return
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
