"""Article 6 (kexue.fm/archives/7643): Flooding on a small sentiment training set (so the model overfits).

The paper's grid: weight decay (W: AdamW vs Adam) x early stopping (E: the epoch with the lowest validation loss
vs the last epoch) x flooding (F: flood level b chosen on the validation set from a grid), plus the explicit
gradient penalty of the article's analysis. Test accuracy and test loss; train/test loss curves with and without
flooding (does the test loss show the paper's second descent?). Training follows the package recipe
(classification.RECIPE: warm-up + linear decay, mean pooling) with weight decay 0 except in the W arm.

The full run (defaults: 3 seeds, 1,000 training reviews, 8 epochs, b from 0.02 / 0.05 / 0.1 / 0.2, no W arm) takes
about 50 minutes on 2 CPU cores; --weight_decay_arm adds the W half of the grid (about 35 minutes more).
--quick is a smoke run of a few minutes.
"""
import bert4keras_ext  # noqa: F401  (first: arranges tf-keras before TensorFlow is imported)
import time

import numpy as np
import tensorflow as tf
from bert4keras_ext import classification as clf
from bert4keras_ext.data import corpora, stratified_sample
from bert4keras_ext.training import EvaluateEachEpoch, FloodingModel
from tasks import experiment, stats


def plot_loss_curves(runs, seed):
    """Train and test loss per epoch of one seed's runs without weight decay: no flooding, each flood level (dotted
    lines at the levels), the gradient penalty."""
    plt = experiment.plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for run in [r for r in runs if r['seed'] == seed and not r['W']]:
        name = ('gradient penalty λ=%g' % run['gp'] if run['gp'] else
                'no flooding' if run['b'] is None else 'flooding b=%g' % run['b'])
        ep = np.arange(1, len(run['train_loss']) + 1)
        line, = axes[0].plot(ep, run['train_loss'], marker='o', label=name)
        axes[1].plot(ep, [t['loss'] for t in run['test']], marker='o', label=name, color=line.get_color())
        if run['b'] is not None:
            axes[0].axhline(run['b'], color=line.get_color(), linestyle=':', linewidth=1)
    for ax, title in zip(axes, ('train loss (dotted: flood levels)', 'test loss')):
        ax.set_title(title)
        ax.set_xlabel('epoch')
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    p = experiment.parser(__doc__, 'flooding')
    p.add_argument('--train_size', type=int, default=None, help='training reviews (default 1000; quick 120)')
    p.add_argument('--flood_levels', type=float, nargs='+', default=None,
                   help='grid for b, chosen on validation loss (default 0.02 0.05 0.1 0.2; quick 0.3)')
    p.add_argument('--gradient_penalty', type=float, default=0.01,
                   help='lambda of the explicit gradient-penalty arm')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--epochs', type=int, default=None, help='default 8; quick 2')
    p.add_argument('--weight_decay_arm', action='store_true',
                   help='add the W half of the grid: AdamW with the recipe\'s weight decay (never with --quick)')
    p.add_argument('--learning_rate', type=float, default=clf.RECIPE['learning_rate'],
                   help='peak learning rate (the recipe\'s; high enough for the small set to overfit)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    n_train = args.train_size or (120 if args.quick else 1000)
    epochs = args.epochs or (2 if args.quick else 8)
    wds = (False, True) if args.weight_decay_arm and not args.quick else (False,)
    levels = args.flood_levels or ([0.3] if args.quick else [0.02, 0.05, 0.1, 0.2])
    n_test = 150 if args.quick else 3000
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    # reviews the default BERT's pretraining never read: 1,000 validation, 3,000 test (50 / 150 with --quick)
    pool, valid, test = corpora.sentiment_benchmark_split(n_valid=n_test // 3, n_test=n_test, seed=args.seed)
    train = stratified_sample(pool, n_train, seed=args.seed)  # the pool is in corpus order (negatives first)

    def enc(part):
        return clf.encode(tokenizer, [t for t, _ in part], args.maxlen), np.array([y for _, y in part])

    data = {'train': enc(train), 'valid': enc(valid), 'test': enc(test)}
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    runs = []
    for seed in ctx.seeds:
        for wd in wds:
            for b, gp in [(None, 0.0)] + [(level, 0.0) for level in levels] + [(None, args.gradient_penalty)]:
                if gp and wd:
                    continue
                ctx.seed(seed)
                started = time.perf_counter()
                model, _ = clf.build_classifier(config_path, checkpoint_path, 2, model_class=FloodingModel,
                                                dict_path=dict_path, flood_level=b, gradient_penalty=gp)
                monitor = EvaluateEachEpoch({k: data[k] for k in ('valid', 'test')})
                h, _ = clf.fine_tune(model, loss, *data['train'], seed=seed, epochs=epochs,
                                     learning_rate=args.learning_rate,
                                     weight_decay=clf.RECIPE['weight_decay'] if wd else 0.0, callbacks=[monitor],
                                     metrics=['accuracy'])
                best = monitor.best_epoch('valid')
                run = {'seed': seed, 'W': wd, 'b': b, 'gp': gp, 'train_loss': h.history['raw_loss'],
                       'ascent': h.history['ascent'], 'valid': monitor.history['valid'],
                       'test': monitor.history['test'], 'best_epoch': best}
                runs.append(run)
                run['seconds'] = time.perf_counter() - started
                print('seed %d W=%d b=%s gp=%s: train loss %s; test acc last %.4f, at best valid epoch %d %.4f (%.0f s)'
                      % (seed, wd, b, gp, ' '.join('%.3f' % v for v in run['train_loss']),
                         run['test'][-1]['accuracy'], best, run['test'][best]['accuracy'], run['seconds']), flush=True)

    def pick(seed, wd, early, flooded, gp=False):
        """Test metrics of one grid cell; flooded cells use the b with the best validation loss."""
        cands = [r for r in runs if r['seed'] == seed and r['W'] == wd and bool(r['gp']) == gp
                 and (r['b'] is not None) == flooded]
        ep = (lambda r: r['best_epoch']) if early else (lambda r: -1)
        r = min(cands, key=lambda r: r['valid'][ep(r)]['loss'])
        return r['test'][ep(r)], r['b']

    rows = []
    for wd in wds:
        for early in (False, True):
            for flooded in (False, True):
                cells = [pick(s, wd, early, flooded) for s in ctx.seeds]
                rows.append(['✓' if wd else '', '✓' if early else '', '✓' if flooded else '',
                             experiment.fmt_mean_std([c[0]['accuracy'] for c in cells]),
                             experiment.fmt_mean_std([c[0]['loss'] for c in cells], scale=1, digits=3),
                             ', '.join(str(c[1]) for c in cells) if flooded else ''])
    for early in (False, True):
        cells = [pick(s, False, early, False, gp=True) for s in ctx.seeds]
        rows.append(['', '✓' if early else '', 'GP λ=%g' % args.gradient_penalty,
                     experiment.fmt_mean_std([c[0]['accuracy'] for c in cells]),
                     experiment.fmt_mean_std([c[0]['loss'] for c in cells], scale=1, digits=3), ''])
    claims = []
    for early in (False, True):
        none = [pick(s, False, early, False)[0] for s in ctx.seeds]
        flood = [pick(s, False, early, True)[0] for s in ctx.seeds]
        gp = [pick(s, False, early, False, gp=True)[0] for s in ctx.seeds]
        when = 'best-validation epoch' if early else 'last epoch'
        claims += [
            stats.claim_row('6a', 'test loss, none - flooded (%s)' % when, [c['loss'] for c in none],
                            [c['loss'] for c in flood], scale=1.0, unit=''),
            stats.claim_row('6b', 'test accuracy, flooded - none (%s); holds above -1 point' % when,
                            [c['accuracy'] for c in flood], [c['accuracy'] for c in none], threshold=-0.01),
            stats.claim_row('6c', 'test accuracy, gradient penalty - flooded (%s)' % when,
                            [c['accuracy'] for c in gp], [c['accuracy'] for c in flood], judge=False)]
    report = experiment.Report(ctx, 'Article 6: flooding on small-data sentiment classification')
    report.add('runs', runs)
    report.add('claims', claims)
    report.table('%d training reviews, %d epochs; test %d reviews' % (n_train, epochs, len(test)),
                 ['W (AdamW)', 'E (early stop)', 'F (flooding)', 'test acc (%)', 'test loss', 'b chosen'], rows,
                 note='mean ± std over %d seed(s); b from %s by validation loss.%s'
                      % (len(ctx.seeds), levels, '' if len(wds) == 2 else ' AdamW (W) arm not run.'))
    report.table('Claims (docs/claims.md), decided by the paired 95%% interval over %d seed(s)' % len(ctx.seeds),
                 stats.CLAIM_COLUMNS, claims)
    fig = plot_loss_curves(runs, ctx.seeds[0])
    report.figure(fig, 'loss_curves.png', 'Train and test loss per epoch: no flooding, each flood level b, the '
                  'gradient penalty (seed %d, no W)' % ctx.seeds[0])
    report.write()


if __name__ == '__main__':
    main()
