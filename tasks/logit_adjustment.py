"""Article 4 (kexue.fm/archives/7615): logit adjustment on a naturally long-tailed Chinese task.

Task: the POS tag of a word in its People's Daily sentence (input: word [SEP] context), tags kept with their
natural long tail (sub-sampled to imbalance ratio 100). Compared on a class-balanced test set: plain CE (ERM),
post-hoc adjustment of ERM, the logit-adjusted loss (tau = 1), class-weighted CE (1/p(y)) and balanced
re-sampling. Also: accuracy under the training prior with the other prediction rule, and a tau sweep. Every model
trains with the package recipe (classification.RECIPE: AdamW, warm-up + linear decay, mean pooling), last epoch.

The full run (defaults: 3 seeds, 1,000 training words of the most frequent tag, 3 epochs, 7 trainings per seed)
takes about 45 minutes on 2 CPU cores; --quick is a smoke run of a few minutes.
"""
import numpy as np

import bert4keras_ext  # noqa: F401
from bert4keras_ext import classification as clf, metrics
from tasks import experiment, stats
from bert4keras_ext.data.pos_words import long_tail_task
from bert4keras_ext.losses import LogitAdjustedCrossEntropy, WeightedSoftmaxCrossEntropy, posthoc_adjust

TAUS = [0.0, 0.5, 1.0, 1.5, 2.0]


def group_accuracy(y, pred, groups):
    return {g: metrics.balanced_accuracy(y[np.isin(y, cls)], pred[np.isin(y, cls)]) for g, cls in groups.items()}


def main(argv=None):
    p = experiment.parser(__doc__, 'logit_adjustment')
    p.add_argument('--head', type=int, default=None, help='training examples of the most frequent tag (default 1000; quick 60)')
    p.add_argument('--ratio', type=float, default=100,
                   help='imbalance: training examples of the most / of the least frequent tag')
    p.add_argument('--maxlen', type=int, default=48, help='tokens per sentence window')
    p.add_argument('--epochs', type=int, default=None, help='training epochs (default 3; quick 1)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    head = args.head or (60 if args.quick else 1000)
    epochs = args.epochs or (1 if args.quick else 3)
    per_test = 8 if args.quick else 50
    loss_taus = [] if args.quick else [0.5, 1.5, 2.0]
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    train, valid, test, tags, counts = long_tail_task(head=head, ratio=args.ratio, per_class_test=per_test,
                                                      per_class_valid=10, seed=args.seed)
    k = len(tags)
    prior = counts / counts.sum()
    order = np.argsort(-counts)
    groups = {'head': order[:k // 3], 'middle': order[k // 3:2 * k // 3], 'tail': order[2 * k // 3:]}

    def encode(part):
        x = clf.encode(tokenizer, [w for w, _, _ in part], args.maxlen, second=[c for _, c, _ in part])
        return x, np.array([y for _, _, y in part])

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = encode(train), encode(valid), encode(test)
    # accuracy "under the training prior": weight each test class by its training frequency
    prior_weight = prior[y_te] / np.bincount(y_te, minlength=k)[y_te]

    def prior_accuracy(pred):
        return float(np.sum(prior_weight * (pred == y_te)) / prior_weight.sum())

    def evaluate(logits, adjusted_rule):
        pred_bal = logits.argmax(1)
        pred_prior = adjusted_rule(logits).argmax(1)
        row = {'balanced_acc': metrics.balanced_accuracy(y_te, pred_bal), 'prior_acc': prior_accuracy(pred_prior)}
        row.update({g + '_acc': v for g, v in group_accuracy(y_te, pred_bal, groups).items()})
        return row

    methods, claims_data = {}, {'erm': [], 'la': [], 'posthoc_valid_tau': [], 'loss_tau1': [], 'loss_best': []}
    sweep = {'posthoc': {t: [] for t in TAUS}, 'loss': {t: [] for t in [0.0, 1.0] + loss_taus}}
    for seed in ctx.seeds:
        valid_logits = {}

        def fit(loss, x=x_tr, y=y_tr, key=None):
            ctx.seed(seed)
            model, _ = clf.build_classifier(config_path, checkpoint_path, k, dict_path=dict_path)
            clf.fine_tune(model, loss, x, y, seed=seed, epochs=epochs)
            if key is not None:
                valid_logits[key] = clf.predict_logits(model, x_va)
            return clf.predict_logits(model, x_te)

        def add(name, row):
            methods.setdefault(name, []).append(row)
            print('seed %d %-22s %s' % (seed, name, {a: round(b, 4) for a, b in row.items()}), flush=True)

        def bacc_valid(logits):
            return metrics.balanced_accuracy(y_va, logits.argmax(1))

        erm = fit(LogitAdjustedCrossEntropy(prior, tau=0.0), key=0.0)
        add('ERM (plain CE)', evaluate(erm, lambda z: z))
        add('ERM + post-hoc (tau=1)', evaluate(posthoc_adjust(erm, prior, 1.0).numpy(), lambda z: z + np.log(prior)))
        for t in TAUS:
            sweep['posthoc'][t].append(metrics.balanced_accuracy(y_te, posthoc_adjust(erm, prior, t).numpy().argmax(1)))
        tau_post = max(TAUS, key=lambda t: bacc_valid(posthoc_adjust(valid_logits[0.0], prior, t).numpy()))
        claims_data['posthoc_valid_tau'].append(
            metrics.balanced_accuracy(y_te, posthoc_adjust(erm, prior, tau_post).numpy().argmax(1)))
        sweep['loss'][0.0].append(methods['ERM (plain CE)'][-1]['balanced_acc'])
        la = fit(LogitAdjustedCrossEntropy(prior, tau=1.0), key=1.0)
        add('LA loss (tau=1)', evaluate(la, lambda z: z + np.log(prior)))
        sweep['loss'][1.0].append(methods['LA loss (tau=1)'][-1]['balanced_acc'])
        for t in loss_taus:
            sweep['loss'][t].append(metrics.balanced_accuracy(
                y_te, fit(LogitAdjustedCrossEntropy(prior, tau=t), key=t).argmax(1)))
        best_tau = max(valid_logits, key=lambda t: bacc_valid(valid_logits[t]))
        claims_data['erm'].append(sweep['loss'][0.0][-1])
        claims_data['la'].append(sweep['loss'][1.0][-1])
        claims_data['loss_tau1'].append(sweep['loss'][1.0][-1])
        claims_data['loss_best'].append(sweep['loss'][best_tau][-1])
        if args.quick:  # a smoke run: the claims' arms only (ERM, LA loss, post-hoc), not the baselines
            continue
        add('class-weighted CE (1/p)', evaluate(fit(WeightedSoftmaxCrossEntropy.from_prior(prior)),
                                                lambda z: z + np.log(prior)))
        rng = np.random.RandomState(seed)
        per_class = int(np.ceil(len(y_tr) / k))
        idx = np.concatenate([rng.choice(np.flatnonzero(y_tr == c), per_class, replace=True) for c in range(k)])
        rng.shuffle(idx)
        add('balanced re-sampling', evaluate(fit(LogitAdjustedCrossEntropy(prior, tau=0.0),
                                                 x=[a[idx] for a in x_tr], y=y_tr[idx]), lambda z: z + np.log(prior)))

    claims = [
        stats.claim_row('4a', 'balanced accuracy, LA loss (τ=1) - ERM', claims_data['la'], claims_data['erm']),
        stats.claim_row('4b', 'balanced accuracy, ERM + post-hoc (τ chosen on validation) - ERM',
                        claims_data['posthoc_valid_tau'], claims_data['erm']),
        stats.claim_row('4c', 'balanced accuracy, LA loss τ=1 - the τ of %s best on validation; holds above -1 point'
                        % sorted(sweep['loss']), claims_data['loss_tau1'], claims_data['loss_best'],
                        threshold=-0.01)]
    report = experiment.Report(ctx, 'Article 4: logit adjustment on long-tailed POS tags (People\'s Daily)')
    report.add('claims', claims)
    report.add('tags', tags)
    report.add('train_counts', counts.tolist())
    report.add('methods', methods)
    report.add('tau_sweep', {a: {str(t): v for t, v in b.items()} for a, b in sweep.items()})
    cols = ['balanced_acc', 'head_acc', 'middle_acc', 'tail_acc', 'prior_acc']
    report.table('%d tags, %d training words (imbalance %.0f:1), balanced test %d per tag'
                 % (k, len(y_tr), counts.max() / counts.min(), per_test),
                 ['method', 'balanced acc (%)', 'head (%)', 'middle (%)', 'tail (%)',
                  'acc under train prior, other rule (%)'],
                 [[name] + [experiment.fmt_mean_std([r[c] for r in rows]) for c in cols]
                  for name, rows in methods.items()],
                 note='mean ± std over %d seed(s). Balanced/head/middle/tail: predict argmax f(x) (post-hoc: '
                      'f(x) - log p(y)); last column: the other rule (argmax f(x) + log p(y) for LA-trained models, '
                      'plain argmax for ERM), scored with test classes weighted by the training prior.'
                      % len(ctx.seeds))
    report.table('Claims (docs/claims.md), decided by the paired 95%% interval over %d seed(s)' % len(ctx.seeds),
                 stats.CLAIM_COLUMNS, claims)
    plt = experiment.plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in sweep.items():
        ts = sorted(values)
        ax.plot(ts, [100 * np.mean(values[t]) for t in ts], marker='o', label=name)
    ax.set_xlabel('tau')
    ax.set_ylabel('balanced accuracy (%)')
    ax.legend()
    report.figure(fig, 'tau_sweep.png', 'Balanced accuracy vs tau: post-hoc adjustment of ERM and the LA loss')
    report.write()


if __name__ == '__main__':
    main()
