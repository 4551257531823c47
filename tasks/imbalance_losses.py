"""Article 8 (kexue.fm/archives/7708): re-weighting vs modified losses on imbalanced binary sentiment.

Positives are made the minority (1:10 and 1:50; --quick: 1:10 only) in training; valid and test keep the natural balance. Every loss of
bert4keras_ext.losses.imbalance fine-tunes the same BERT; "threshold" is plain CE with the decision threshold
chosen on the validation set (the "adjust the result" baseline; it re-uses the CE model's scores). Metrics:
minority-class F1, balanced accuracy, AUC. Every loss trains with the package recipe (classification.RECIPE: AdamW,
warm-up + linear decay, mean pooling), last epoch.

The full run (defaults: 3 seeds, 1,200 negatives, ratios 1:10 and 1:50, 3 epochs, 8 losses) takes about 50 minutes
on 2 CPU cores; --quick is a smoke run of a few minutes.
"""
import numpy as np

import bert4keras_ext  # noqa: F401
from bert4keras_ext import classification as clf, metrics
from tasks import experiment, stats
from bert4keras_ext.data import corpora, imbalanced_subset
from bert4keras_ext.losses import BINARY_LOSSES, plot_gradient_weights


def make_loss(name, positive_rate):
    if name == 'weighted_ce':
        return BINARY_LOSSES[name].from_prior(positive_rate)
    if name == 'logit_adjusted':
        return BINARY_LOSSES[name](positive_rate=positive_rate, tau=1.0)
    return BINARY_LOSSES[name]()


def claim_rows(ratio, rows, y_test=None, first_preds=None):
    """Claims 8a-8c at one imbalance ratio: paired differences over seeds against cross-entropy; with the first
    seed's test predictions (``first_preds[name]``) each row also gets that seed's bootstrap interval over items."""
    def f1(name):
        return [r['f1'] for r in rows[name]]

    def row(claim, text, better, worse):
        items = None
        if first_preds is not None:
            items = (metrics.binary_f1, y_test, first_preds[better], first_preds[worse])
        return stats.claim_row(claim, text, f1(better), f1(worse), items=items)

    out = []
    if 'f1_weighted_ce' in rows and 'cross_entropy' in rows:
        out.append(row('8a', '1:%d minority F1, F1-weighted CE - CE' % ratio, 'f1_weighted_ce', 'cross_entropy'))
    if 'smooth_accuracy' in rows and 'cross_entropy' in rows:
        out.append(row('8b', '1:%d minority F1, CE - smooth accuracy' % ratio, 'cross_entropy', 'smooth_accuracy'))
    for name in ('weighted_ce', 'focal', 'ghm', 'logit_adjusted', 'soft_f1', 'threshold'):
        if name in rows and 'cross_entropy' in rows:
            out.append(row('8c', '1:%d minority F1, %s - CE' % (ratio, name), name, 'cross_entropy'))
    return out


def plot_f1_per_loss(results):
    """Bars of minority-class F1 per loss (mean over seeds, with the seeds' std), one panel per ratio;
    ``results`` maps '1:r' to ``{'runs': {loss: [{'f1': ...}, ...]}}`` (the run's ``results`` entry)."""
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
    p.add_argument('--losses', nargs='+', default=sorted(BINARY_LOSSES), choices=sorted(BINARY_LOSSES),
                   help='the losses to compare')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    ratios = args.ratios or ([10] if args.quick else [10, 50])
    majority = args.majority or (100 if args.quick else 1200)
    epochs = args.epochs or (1 if args.quick else 3)
    n_eval = 150 if args.quick else 3000
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    # reviews the default BERT's pretraining never read: validation 1,000 and test 3,000 (150 each with --quick)
    pool, valid, test = corpora.sentiment_benchmark_split(n_valid=n_eval // 3 if not args.quick else n_eval,
                                                          n_test=n_eval, seed=args.seed)
    enc = {name: (clf.encode(tokenizer, [t for t, _ in part], args.maxlen), np.array([y for _, y in part]))
           for name, part in (('valid', valid), ('test', test))}

    def fit_scores(name, rate, x_train, y_train, epochs, seed):
        """Fine-tune with loss ``name``; the logits on valid and test."""
        ctx.seed(seed)
        model, _ = clf.build_classifier(config_path, checkpoint_path, 1, dict_path=dict_path)
        clf.fine_tune(model, make_loss(name, rate), x_train, y_train, seed=seed, epochs=epochs)
        return (clf.predict_logits(model, enc['valid'][0]).ravel(),
                clf.predict_logits(model, enc['test'][0]).ravel())

    report = experiment.Report(ctx, 'Article 8: imbalance losses on binary sentiment')
    results, claims = {}, []
    for ratio in ratios:
        texts, labels = imbalanced_subset([t for t, _ in pool], [y for _, y in pool], ratio=ratio, minority=1,
                                          seed=args.seed, max_majority=majority)
        x_train, y_train = clf.encode(tokenizer, texts, args.maxlen), np.array(labels, 'float32')
        rate = float(np.mean(y_train))
        rows, first_preds = {}, {}
        ce_scores = {}
        for name in list(args.losses) + ['threshold']:
            runs = []
            for seed in ctx.seeds:
                if name == 'threshold':  # the CE model of this seed, with the threshold chosen on valid
                    if seed not in ce_scores:
                        ce_scores[seed] = fit_scores('cross_entropy', rate, x_train, y_train, epochs, seed)
                    s_valid, s_test = ce_scores[seed]
                    threshold = metrics.best_threshold(enc['valid'][1], s_valid)
                else:
                    s_valid, s_test = fit_scores(name, rate, x_train, y_train, epochs, seed)
                    if name == 'cross_entropy':
                        ce_scores[seed] = (s_valid, s_test)
                    threshold = 0.0  # logit_adjusted too: the LA rule for balanced error is the unadjusted logit
                pred = (s_test > threshold).astype(int)
                y_test = enc['test'][1]
                first_preds.setdefault(name, pred)  # the first seed's (bootstrap over test items)
                runs.append({'f1': metrics.binary_f1(y_test, pred), 'bacc': metrics.balanced_accuracy(y_test, pred),
                             'auc': metrics.roc_auc(y_test, s_test), 'threshold': threshold})
                print('ratio 1:%d %-16s seed %d: %s' % (ratio, name, seed, runs[-1]), flush=True)
            rows[name] = runs
        results['1:%d' % ratio] = {'positive_rate': rate, 'train_size': len(labels), 'runs': rows}
        table = [[name] + [experiment.fmt_mean_std([r[k] for r in runs]) for k in ('f1', 'bacc', 'auc')]
                 for name, runs in rows.items()]
        table.sort(key=lambda r: -float(r[1].split()[0]))
        report.table('Training positives:negatives = 1:%d (%d training reviews; test %d, balanced)'
                     % (ratio, len(labels), len(enc['test'][1])),
                     ['loss', 'minority F1 (%)', 'balanced acc (%)', 'AUC (%)'], table,
                     note='mean ± std over %d seed(s); CE baseline row: `cross_entropy`.' % len(ctx.seeds))
        claims += claim_rows(ratio, rows, enc['test'][1], first_preds)
    report.table('Claims (docs/claims.md), decided by the paired 95%% interval over %d seed(s)' % len(ctx.seeds),
                 stats.CLAIM_COLUMNS, claims)
    report.add('claims', claims)
    report.add('results', results)

    fig = plot_f1_per_loss(results)
    report.figure(fig, 'f1_per_loss.png', 'Minority-class F1 per loss (test set, natural balance)')
    curves = {n: make_loss(n, 0.1) for n in BINARY_LOSSES if n != 'cross_entropy'}
    fig = plot_gradient_weights(curves)
    report.figure(fig, 'gradient_weights.png', 'Per-sample gradient weight relative to cross-entropy (autodiff)')
    report.write()


if __name__ == '__main__':
    main()
