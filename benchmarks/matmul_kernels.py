"""Which kernels run the base model's matrix products (issue #32: where the AVX2 path loses): one 128-token product of
each base-size shape (768 x 768, 768 x 3072, 3072 x 768), float32, in TensorFlow eager (oneDNN), a graph
(oneDNN) and XLA, and in torch (the peer environment), in GFLOPS, best of 3 x 50 calls.

    python benchmarks/matmul_kernels.py --peer_python /tmp/peer/bin/python [--isa avx2]

With ``--isa avx2`` every library chooses the kernels of an AVX2-only CPU (machine.py ``limit_isa``).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu, limit_isa  # noqa: E402

SHAPES = [(128, 768, 768), (128, 768, 3072), (128, 3072, 768)]


def best_seconds(fn, reps=50):
    fn()
    best = float('inf')
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def tensorflow_rows():
    import tensorflow as tf
    rows = []
    for m, k, n in SHAPES:
        a = tf.constant(np.random.randn(m, k).astype('float32'))
        w = tf.constant(np.random.randn(k, n).astype('float32'))
        graph = tf.function(lambda: tf.matmul(a, w))
        xla = tf.function(lambda: tf.matmul(a, w), jit_compile=True)
        for name, fn in (('eager', lambda: tf.matmul(a, w).numpy()), ('graph', lambda: graph().numpy()),
                         ('xla', lambda: xla().numpy())):
            rows.append({'shape': [m, k, n], 'path': 'tf ' + name, 'gflops': 2 * m * k * n / best_seconds(fn) / 1e9})
    return rows


def torch_rows(threads=2):
    import torch
    torch.set_num_threads(threads)
    rows = []
    for m, k, n in SHAPES:
        a, w = torch.randn(m, k), torch.randn(k, n)
        rows.append({'shape': [m, k, n], 'path': 'torch',
                     'gflops': 2 * m * k * n / best_seconds(lambda: torch.matmul(a, w)) / 1e9})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--peer_python', default=None, help='python with torch (benchmarks/peer/requirements.txt)')
    p.add_argument('--isa', choices=['avx2'], default=None, help='limit the kernels to this instruction set')
    p.add_argument('--torch_only', action='store_true', help=argparse.SUPPRESS)  # the peer side of one run
    args = p.parse_args(argv)
    if args.isa:
        limit_isa(args.isa)
    if args.torch_only:
        print(json.dumps(torch_rows()))
        return
    print('CPU: %s' % cpu(), flush=True)
    rows = tensorflow_rows()
    if args.peer_python:
        out = subprocess.run([args.peer_python, os.path.abspath(__file__), '--torch_only'], capture_output=True,
                             text=True, timeout=600, env=os.environ.copy())
        if out.returncode:
            raise SystemExit('the peer run failed:\n' + out.stderr[-2000:])
        rows += json.loads(out.stdout.strip().splitlines()[-1])
    print('\n| product (128 tokens) | ' + ' | '.join(sorted({r['path'] for r in rows})) + ' |')
    paths = sorted({r['path'] for r in rows})
    print('|---|' + '---|' * len(paths))
    for shape in SHAPES:
        got = {r['path']: r['gflops'] for r in rows if r['shape'] == list(shape)}
        print('| %d x %d | ' % shape[1:] + ' | '.join('%.0f' % got[p] if p in got else '-' for p in paths) + ' |')
    print('\nGFLOPS, float32, best of 3 x 50 calls; TensorFlow with its default threads, torch with 2.')


if __name__ == '__main__':
    main()
