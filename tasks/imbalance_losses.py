"""Article 8 (kexue.fm/archives/7708): re-weighting vs modified losses on imbalanced binary sentiment.

Positives are made the minority (1:10 and 1:50; --quick: 1:10 only) in training; valid and test keep the natural
balance. Every loss of bert4keras_ext.losses.imbalance fine-tunes the same BERT; "threshold" is plain CE with the
decision threshold chosen on the validation set (the "adjust the result" baseline; it re-uses the CE model's
scores). Metrics: minority-class F1, balanced accuracy, and the threshold-free ROC AUC and test NLL (of
sigmoid(score)). Every loss trains with the package recipe (classification.RECIPE: AdamW, warm-up + linear decay,
mean pooling), last epoch; focal, GHM and the logit-adjusted loss have their own hyper-parameters chosen on
validation F1 (GRIDS; --no_tuning: the defaults). Through tasks.runner: the test reviews are fixed, the imbalanced
training set and the validation reviews are redrawn per seed; claim 8c (every loss against CE at one ratio) is one
family, decided with Holm's correction.

The full run (defaults: 3 seeds, 1,200 negatives, ratios 1:10 and 1:50, 3 epochs, 8 losses) took about 50 minutes
on 2 CPU cores without the grids (about 85 minutes with them, estimated from the trainings). Measured in v2 (10 seeds): 66-116 minutes a seed as one
single-threaded process beside another full run; --quick is a smoke run
of a few minutes.
"""
import numpy as np

import bert4keras_ext  # noqa: F401
from bert4keras_ext import classification as clf, metrics
from bert4keras_ext.data import imbalanced_subset
from bert4keras_ext.losses import BINARY_LOSSES, plot_gradient_weights
from tasks import classify, experiment, runner

def nll(y, score):
    """Mean binary cross-entropy of the labels under sigmoid(score) (threshold-free; nats)."""
    y, z = np.asarray(y, dtype='float64'), np.asarray(score, dtype='float64')
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


METRICS = {'f1': lambda y, p: metrics.binary_f1(np.asarray(y), np.asarray(p['pred'])),
           'bacc': lambda y, p: metrics.balanced_accuracy(np.asarray(y), np.asarray(p['pred'])),
           'auc': lambda y, p: metrics.roc_auc(np.asarray(y), np.asarray(p['score'])),
           'nll': lambda y, p: nll(y, p['score'])}
# each loss's own hyper-parameters, chosen on validation minority F1 in the full runs (docs/claims.md, v2)
GRIDS = {'focal': [{'alpha': a, 'gamma': g} for a in (0.25, 0.75) for g in (1.0, 2.0)],
         'ghm': [{'bins': b} for b in (10, 30)],
         'logit_adjusted': [{'tau': t} for t in (0.5, 1.0, 2.0)]}
COMPARED = ('weighted_ce', 'focal', 'ghm', 'logit_adjusted', 'soft_f1', 'threshold')


def make_loss(name, positive_rate, **params):
    if name == 'weighted_ce':
        return BINARY_LOSSES[name].from_prior(positive_rate)
    if name == 'logit_adjusted':
        return BINARY_LOSSES[name](positive_rate=positive_rate, **dict({'tau': 1.0}, **params))
    return BINARY_LOSSES[name](**params)


def minority_share(loss, y, score):
    """The minority (positive) training examples' share of the gradient mass ``sum |dL/ds_i|`` of ``loss`` at the
    scores ``score`` (the whole training set as one batch, so batch-level losses such as soft F1 count too)."""
    import tensorflow as tf
    s = tf.Variable(np.asarray(score, 'float32')[:, None])
    with tf.GradientTape() as tape:
        value = loss(tf.constant(np.asarray(y, 'float32')), s)
    g = np.abs(tape.gradient(value, s).numpy().ravel())
    return float(g[np.asarray(y) == 1].sum() / max(g.sum(), 1e-30))


#: the losses whose claim says they help the minority class: their check is that they shift gradient mass to it
SHIFTS_TO_MINORITY = ('f1_weighted_ce', 'weighted_ce', 'focal', 'ghm', 'logit_adjusted', 'soft_f1')


def claims_at(ratio, names):
    """Claims 8a-8c at one ratio (only those whose arms run)."""
    arm = lambda name: '1:%d %s' % (ratio, name)  # noqa: E731
    out = []
    if 'f1_weighted_ce' in names:
        out.append(runner.Claim('8a', '1:%d minority F1, F1-weighted CE - CE' % ratio, 'f1', arm('f1_weighted_ce'),
                                arm('cross_entropy')))
    if 'smooth_accuracy' in names:
        out.append(runner.Claim('8b', '1:%d minority F1, CE - smooth accuracy' % ratio, 'f1', arm('cross_entropy'),
                                arm('smooth_accuracy')))
    out += [runner.Claim('8c', '1:%d minority F1, %s - CE' % (ratio, name), 'f1', arm(name), arm('cross_entropy'),
                         family='8c 1:%d' % ratio) for name in COMPARED if name in names]
    return out


def plot_f1_per_loss(results):
    """Bars of minority-class F1 per loss (mean over seeds, with the seeds' std), one panel per ratio; ``results``
    maps '1:r' to ``{'runs': {loss: [{'f1': ...}, ...]}}``."""
    plt = experiment.plt()
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 3.8), squeeze=False)
    for ax, (ratio, entry) in zip(axes[0], results.items()):
        f1 = {name: experiment.mean_std([100 * r['f1'] for r in runs]) for name, runs in entry['runs'].items()}
        names = sorted(f1, key=lambda n: f1[n][0])
        ax.barh(names, [f1[n][0] for n in names], xerr=[f1[n][1] for n in names], capsize=3,
                color=['tab:red' if n == 'cross_entropy' else 'tab:blue' for n in names])
        ax.set_xlim(left=0)
        ax.set_title(ratio)
        ax.set_xlabel('minority-class F1 (%), mean ± std over seeds')
    fig.tight_layout()
    return fig


def main(argv=None):
    p = experiment.parser(__doc__, 'imbalance_losses')
    p.add_argument('--ratios', type=int, nargs='+', default=None, help='negatives per positive (default 10 50; '
                                                                       'quick 10)')
    p.add_argument('--majority', type=int, default=None, help='negatives in training (default 1200; quick 100)')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--epochs', type=int, default=None, help='training epochs per loss (default 3; quick 1)')
    p.add_argument('--test_size', type=int, default=None, help='test reviews (default 3000; quick 150)')
    p.add_argument('--losses', nargs='+', default=sorted(BINARY_LOSSES), choices=sorted(BINARY_LOSSES),
                   help='the losses to compare')
    p.add_argument('--no_tuning', action='store_true',
                   help='every loss at its default hyper-parameters (always so with --quick); otherwise focal (alpha, '
                   'gamma), GHM (bins) and the logit-adjusted loss (tau) are chosen on validation F1 from %s: 7 more '
                   'trainings per ratio and seed' % GRIDS)
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    ratios = args.ratios or ([10] if args.quick else [10, 50])
    majority = args.majority or (100 if args.quick else 1200)
    epochs = args.epochs or (1 if args.quick else 3)
    n_test = args.test_size or (150 if args.quick else 3000)
    n_valid = n_test if args.quick else n_test // 3
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)

    def data(seed):
        pool, valid, test = classify.sentiment_sets(0, n_valid, n_test, seed, base_seed=args.seed)
        train = {}
        for ratio in ratios:
            texts, labels = imbalanced_subset([t for t, _ in pool], [y for _, y in pool], ratio=ratio, minority=1,
                                              seed=seed, max_majority=majority)
            train[ratio] = (clf.encode(tokenizer, texts, args.maxlen), np.array(labels, 'float32'))
        x_test, y_test = classify.encode_pairs(tokenizer, test, args.maxlen)
        return runner.Split(train, classify.encode_pairs(tokenizer, valid, args.maxlen), x_test, y_test,
                            info={'train': {'1:%d' % r: len(train[r][1]) for r in ratios}, 'valid': len(valid),
                                  'test': len(test)})

    cache = {}

    def scores(data, seed, ratio, name, params):
        key = (seed, ratio, name, tuple(sorted(params.items())))
        if key not in cache:
            x, y = data.train[ratio]
            model, _ = clf.build_classifier(config_path, checkpoint_path, 1, dict_path=dict_path, dropout=args.dropout)
            clf.fine_tune(model, make_loss(name, float(np.mean(y)), **params), x, y, seed=seed, epochs=epochs)
            check = {}
            if name in SHIFTS_TO_MINORITY:  # at this model's own training scores: the loss vs CE
                s_train = clf.predict_logits(model, x).ravel()
                ours = minority_share(make_loss(name, float(np.mean(y)), **params), y, s_train)
                ce = minority_share(make_loss('cross_entropy', float(np.mean(y))), y, s_train)
                check = {'shifts_to_minority': {
                    'value': ours - ce, 'passed': bool(ours > ce),
                    'rule': 'the minority examples\' share of the gradient mass at the trained model\'s training '
                            'scores is above cross-entropy\'s at the same scores'}}
            cache[key] = (clf.predict_logits(model, data.valid[0]).ravel(),
                          clf.predict_logits(model, data.test).ravel(), check)
        return cache[key]

    def loss_arm(ratio, name):
        def run(data, seed, **params):
            if name == 'threshold':  # the CE model of this seed, its threshold chosen on validation
                s_valid, s_test, _ = scores(data, seed, ratio, 'cross_entropy', {})
                threshold, check = float(metrics.best_threshold(data.valid[1], s_valid)), {}
            else:
                s_valid, s_test, check = scores(data, seed, ratio, name, params)
                threshold = 0.0  # logit_adjusted too: the LA rule for balanced error is the unadjusted logit
            return {'predictions': {'score': classify.rounded(s_test), 'pred': (s_test > threshold).astype(int)},
                    'valid': {'f1': metrics.binary_f1(data.valid[1], (s_valid > threshold).astype(int))},
                    'chosen': {'threshold': threshold} if name == 'threshold' else {}, 'check': check}
        return run

    names = list(args.losses) + ['threshold']
    tune = not (args.quick or args.no_tuning)
    arms = [runner.Arm('1:%d %s' % (ratio, name), loss_arm(ratio, name),
                       GRIDS.get(name) if tune else None, ('f1', 'max') if tune and name in GRIDS else None)
            for ratio in ratios for name in names]
    claims = [c for ratio in ratios for c in claims_at(ratio, names)]

    def tables(report, results):
        per_ratio = {'1:%d' % r: {'runs': {n: [{'f1': v} for v in runner.metric_values(results, '1:%d %s' % (r, n),
                                                                                         'f1')] for n in names}}
                     for r in ratios}
        report.figure(plot_f1_per_loss(per_ratio), 'f1_per_loss.png',
                      'Minority-class F1 per loss (test set, natural balance)')
        curves = {n: make_loss(n, 0.1) for n in BINARY_LOSSES if n != 'cross_entropy'}
        report.figure(plot_gradient_weights(curves), 'gradient_weights.png',
                      'Per-sample gradient weight relative to cross-entropy (autodiff)')

    return runner.run(ctx, 'Article 8: imbalance losses on binary sentiment', data, arms, METRICS, claims,
                      tables=tables, raw_metrics=('nll',),
                      config={'ratios': ratios, 'majority': majority, 'epochs': epochs, 'test_size': n_test,
                              'valid_size': n_valid, 'losses': names, 'grids': GRIDS if tune else {}})


if __name__ == '__main__':
    main()
