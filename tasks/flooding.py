"""Article 6 (kexue.fm/archives/7643): Flooding on a small sentiment training set (so the model overfits).

The paper's grid: weight decay (W: AdamW vs Adam) x early stopping (E: the epoch with the lowest validation loss
vs the last epoch) x flooding (F: flood level b chosen on the validation set from a grid), plus the explicit
gradient penalty of the article's analysis. Test accuracy and test loss; train/test loss curves with and without
flooding (does the test loss show the paper's second descent?). Training follows the package recipe
(classification.RECIPE: warm-up + linear decay, mean pooling) with weight decay 0 except in the W arms.

Every arm runs through tasks.runner: training and validation reviews redrawn per seed, the test reviews fixed; each
arm yields two results, ``/last`` (the last epoch) and ``/early`` (the epoch with the lowest validation loss).

The full run (defaults: 3 seeds, 1,000 training reviews, 8 epochs, b from 0.02 / 0.05 / 0.1 / 0.2 / 0.3 / 0.4, no W
arm) takes about 65 minutes on 2 CPU cores (50 with v1's four levels); --weight_decay_arm adds the W half of the grid
(about 45 minutes more). Measured in v2 (5 seeds, with --weight_decay_arm): seed 0 took about 2.5 hours as one
single-threaded process beside another full run (its grid points spread over two sessions; run it with --resume).
--quick is a smoke run of a few minutes.
"""
import bert4keras_ext  # noqa: F401  (first: arranges tf-keras before TensorFlow is imported)
import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf
from bert4keras_ext.training import FloodingModel, decay_shrinkage
from tasks import classify, experiment, runner

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
METRICS = {'accuracy': classify.accuracy, 'loss': classify.cross_entropy}


def flooding_arm(paths, epochs, learning_rate, gradient_penalty=0.0, weight_decay=0.0, dropout=0.1):
    """``run(data, seed, b=None)``: fine-tune with flood level ``b`` (None: no flooding); views ``last`` and
    ``early`` (the epoch of lowest validation loss); the checks: the flood is active (some steps ascend), and with
    ``weight_decay`` the decay shrinks the weights by at least 1%."""
    config_path, checkpoint_path, dict_path = paths

    def run(data, seed, b=None):
        model, _ = clf.build_classifier(config_path, checkpoint_path, 2, model_class=FloodingModel, dropout=dropout,
                                        dict_path=dict_path, flood_level=b, gradient_penalty=gradient_penalty)
        logits = classify.LogitsEachEpoch({'valid': data.valid[0], 'test': data.test})
        h, _ = clf.fine_tune(model, LOSS, *data.train, seed=seed, epochs=epochs, learning_rate=learning_rate,
                             weight_decay=weight_decay, callbacks=[logits])
        y_valid = data.valid[1]
        valid = [{k: fn(y_valid, z) for k, fn in METRICS.items()} for z in logits.logits['valid']]
        best = int(np.argmin([v['loss'] for v in valid]))
        extra = {'train_loss': h.history['raw_loss'], 'ascent_share': h.history['ascent'], 'valid_curve': valid,
                 'best_epoch': best}
        check = {}
        if b is not None:
            share = float(np.mean(h.history['ascent']))
            check['flood_active'] = {'value': share, 'passed': share > 0,
                                     'rule': 'share of training steps with loss below b (ascent) > 0'}
        if weight_decay:  # the W arm: does the decay shrink the weights at all?
            shrink = decay_shrinkage(model.optimizer)
            check['decay_acts'] = {'value': shrink, 'passed': shrink >= 0.01,
                                   'rule': 'weight decay alone shrinks the decayed weights by >= 1% over training'}
        test = logits.logits['test']
        return {'views': {
            'last': {'predictions': classify.rounded(test[-1]), 'valid': valid[-1], 'check': check, 'extra': extra,
                     'curve': test},
            'early': {'predictions': classify.rounded(test[best]), 'valid': valid[best], 'check': check,
                      'extra': {'epoch': best + 1}}}}
    return run


def plot_loss_curves(results, seed):
    """Train and test loss per epoch of one seed's arms without weight decay (dotted lines: the chosen flood
    levels)."""
    plt = experiment.plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    entry = next(s for s in results['seeds'] if s['seed'] == seed)['results']
    for name, r in entry.items():
        if not name.endswith('/last') or name.startswith('AdamW'):
            continue
        b = r['chosen'].get('b')
        label = name[:-len('/last')] + (' b=%g' % b if b is not None else '')
        ep = np.arange(1, len(r['extra']['train_loss']) + 1)
        line, = axes[0].plot(ep, r['extra']['train_loss'], marker='o', label=label)
        axes[1].plot(ep, [c['loss'] for c in r['curve']], marker='o', label=label, color=line.get_color())
        if b is not None:
            axes[0].axhline(b, color=line.get_color(), linestyle=':', linewidth=1)
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
                   help='grid for b, chosen on validation loss (default 0.02 0.05 0.1 0.2 0.3 0.4; quick 0.3)')
    p.add_argument('--gradient_penalty', type=float, default=0.01,
                   help='lambda of the explicit gradient-penalty arm')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--epochs', type=int, default=None, help='default 8; quick 2')
    p.add_argument('--test_size', type=int, default=None, help='test reviews (default 3000; quick 150)')
    p.add_argument('--weight_decay_arm', action='store_true',
                   help='add the W half of the grid: AdamW with the recipe\'s weight decay (never with --quick)')
    p.add_argument('--weight_decay', type=float, default=clf.RECIPE['weight_decay'],
                   help='decoupled weight decay of the W arms (default: the recipe\'s 0.01, which shrinks the '
                   'weights by only ~0.04%% over the default run: its decay_acts check fails; about 0.3 or more '
                   'passes it)')
    p.add_argument('--learning_rate', type=float, default=clf.RECIPE['learning_rate'],
                   help='peak learning rate (the recipe\'s; high enough for the small set to overfit)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    n_train = args.train_size or (120 if args.quick else 1000)
    epochs = args.epochs or (2 if args.quick else 8)
    # v2: the grid goes past 0.2, the level v1 chose in every seed (docs/claims.md)
    levels = args.flood_levels or ([0.3] if args.quick else [0.02, 0.05, 0.1, 0.2, 0.3, 0.4])
    n_test = args.test_size or (150 if args.quick else 3000)
    paths = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(paths[2])

    def data(seed):
        train, valid, test = classify.sentiment_sets(n_train, n_test // 3, n_test, seed, base_seed=args.seed)
        x_test, y_test = classify.encode_pairs(tokenizer, test, args.maxlen)
        return runner.Split(classify.encode_pairs(tokenizer, train, args.maxlen),
                            classify.encode_pairs(tokenizer, valid, args.maxlen), x_test, y_test,
                            info={'train': len(train), 'valid': len(valid), 'test': len(test)})

    flood_grid = [{'b': b} for b in levels]

    def train(**kwargs):
        return flooding_arm(paths, epochs, args.learning_rate, dropout=args.dropout, **kwargs)

    arms = [runner.Arm('none', train()),
            runner.Arm('flooded', train(), flood_grid, ('loss', 'min')),
            runner.Arm('gradient penalty', train(gradient_penalty=args.gradient_penalty))]
    if args.weight_decay_arm and not args.quick:
        wd = args.weight_decay
        arms += [runner.Arm('AdamW', train(weight_decay=wd)),
                 runner.Arm('AdamW flooded', train(weight_decay=wd), flood_grid, ('loss', 'min'))]
    claims = []
    for view, when in (('last', 'last epoch'), ('early', 'best-validation epoch')):
        claims += [
            runner.Claim('6a', 'test loss, none - flooded (%s)' % when, 'loss', 'none/' + view, 'flooded/' + view,
                         scale=1.0, unit=''),
            runner.Claim('6b', 'test accuracy, flooded - none (%s); holds above -1 point' % when, 'accuracy',
                         'flooded/' + view, 'none/' + view, threshold=-0.01),
            runner.Claim('6c', 'test accuracy, gradient penalty - flooded (%s)' % when, 'accuracy',
                         'gradient penalty/' + view, 'flooded/' + view, judge=False)]

    def tables(report, results):
        fig = plot_loss_curves(results, ctx.seeds[0])
        report.figure(fig, 'loss_curves.png', 'Train and test loss per epoch: no flooding, flooding at the chosen '
                      'b, the gradient penalty (seed %d, no W)' % ctx.seeds[0])

    return runner.run(ctx, 'Article 6: flooding on small-data sentiment classification', data, arms, METRICS,
                      claims, tables=tables,
                      config={'train_size': n_train, 'epochs': epochs, 'flood_levels': levels, 'test_size': n_test,
                              'gradient_penalty': args.gradient_penalty, 'learning_rate': args.learning_rate,
                              'weight_decay_arm': bool(args.weight_decay_arm and not args.quick),
                              'weight_decay': args.weight_decay if args.weight_decay_arm and not args.quick else None})


if __name__ == '__main__':
    main()
