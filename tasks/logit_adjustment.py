"""Article 4 (kexue.fm/archives/7615): logit adjustment on a naturally long-tailed Chinese task.

Task: the POS tag of a word in its People's Daily sentence (input: word [SEP] context), tags kept with their
natural long tail (sub-sampled to imbalance ratio 100). Compared on a class-balanced test set: plain CE (ERM),
post-hoc adjustment of ERM (τ = 1, and τ chosen on validation), the logit-adjusted loss (τ = 1, and τ chosen on
validation), class-weighted CE (1/p(y)) and balanced re-sampling. Also: accuracy under the training prior with the
other prediction rule, and the τ sweeps. Every model trains with the package recipe (classification.RECIPE: AdamW,
warm-up + linear decay, mean pooling), last epoch. Through tasks.runner: the balanced test set is fixed, the
training and validation words are redrawn per seed; a model trained twice with the same loss and seed (ERM is the
LA loss at τ = 0) is trained once.

The full run (defaults: 3 seeds, 1,000 training words of the most frequent tag, 3 epochs, 7 trainings per seed, up
to 40 validation words per tag) took 55 minutes on 2 CPU cores in v1 (3 seeds); the v2 run uses --seeds 5 (about
90 minutes); --quick is a smoke run of a few minutes.
"""
import numpy as np

import bert4keras_ext  # noqa: F401
from bert4keras_ext import classification as clf, metrics
from bert4keras_ext.data.pos_words import long_tail_task
from bert4keras_ext.losses import LogitAdjustedCrossEntropy, WeightedSoftmaxCrossEntropy, posthoc_adjust
from tasks import experiment, runner

TAUS = [0.0, 0.5, 1.0, 1.5, 2.0]


def make_metrics(prior, groups):
    """Metrics on predictions ``{'pred': class per item (the balanced rule), 'prior_pred': class per item (the other
    rule)}``: balanced accuracy, per-group balanced accuracy, and accuracy with test classes weighted by the
    training prior (``prior_acc``)."""
    def balanced(y, p):
        return metrics.balanced_accuracy(np.asarray(y), np.asarray(p['pred']))

    def group(cls):
        def fn(y, p):
            y, pred = np.asarray(y), np.asarray(p['pred'])
            keep = np.isin(y, cls)
            return metrics.balanced_accuracy(y[keep], pred[keep]) if keep.any() else float('nan')
        return fn

    def prior_acc(y, p):
        y = np.asarray(y)
        weight = prior[y] / np.bincount(y, minlength=len(prior))[y]
        return float(np.sum(weight * (np.asarray(p['prior_pred']) == y)) / weight.sum())

    out = {'balanced_acc': balanced}
    out.update({g + '_acc': group(cls) for g, cls in groups.items()})
    out['prior_acc'] = prior_acc
    return out


def main(argv=None):
    p = experiment.parser(__doc__, 'logit_adjustment')
    p.add_argument('--head', type=int, default=None,
                   help='training examples of the most frequent tag (default 1000; quick 60)')
    p.add_argument('--ratio', type=float, default=100,
                   help='imbalance: training examples of the most / of the least frequent tag')
    p.add_argument('--maxlen', type=int, default=48, help='tokens per sentence window')
    p.add_argument('--epochs', type=int, default=None, help='training epochs (default 3; quick 1)')
    p.add_argument('--per_class_test', type=int, default=None, help='test words per tag (default 50; quick 8)')
    p.add_argument('--per_class_valid', type=int, default=40,
                   help='validation words per tag, at most (τ is chosen on them; v1 had 10)')
    p.add_argument('--min_valid', type=int, default=10,
                   help='a tag is kept when it has the test words, this many validation words and the tail\'s '
                   'training floor (10: v1\'s tag set, so the larger validation split leaves the tags and the test '
                   'set as they were)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    head = args.head or (60 if args.quick else 1000)
    epochs = args.epochs or (1 if args.quick else 3)
    per_test = args.per_class_test or (8 if args.quick else 50)
    loss_taus = [] if args.quick else [0.5, 1.5, 2.0]
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)

    def draw(seed):
        return long_tail_task(head=head, ratio=args.ratio, per_class_test=per_test,
                              per_class_valid=args.per_class_valid, seed=args.seed, sample_seed=seed,
                              min_valid=args.min_valid)

    _, _, _, tags, counts = draw(args.seed)  # the tags and training counts do not depend on the draw
    k = len(tags)
    prior = counts / counts.sum()
    order = np.argsort(-counts)
    groups = {'head': order[:k // 3], 'middle': order[k // 3:2 * k // 3], 'tail': order[2 * k // 3:]}
    metric_fns = make_metrics(prior, groups)

    def encode(part):
        x = clf.encode(tokenizer, [w for w, _, _ in part], args.maxlen, second=[c for _, c, _ in part])
        return x, np.array([y for _, _, y in part])

    def data(seed):
        train, valid, test, _, _ = draw(seed)
        x_test, y_test = encode(test)
        return runner.Split(encode(train), encode(valid), x_test, y_test,
                            info={'tags': k, 'train': len(train), 'valid': len(valid), 'test': len(test)})

    cache = {}

    def fit(data, seed, key, loss, resample=False):
        """Logits on valid and test of a model trained with ``loss`` (once per seed and key)."""
        if (seed, key) not in cache:
            x, y = data.train
            if resample:  # balanced re-sampling: every tag drawn equally often, with replacement
                rng = np.random.RandomState(seed)
                per_class = int(np.ceil(len(y) / k))
                idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=True) for c in range(k)])
                rng.shuffle(idx)
                x, y = [a[idx] for a in x], y[idx]
            model, _ = clf.build_classifier(config_path, checkpoint_path, k, dict_path=dict_path, dropout=args.dropout)
            clf.fine_tune(model, loss, x, y, seed=seed, epochs=epochs)
            cache[(seed, key)] = (clf.predict_logits(model, data.valid[0]), clf.predict_logits(model, data.test))
        return cache[(seed, key)]

    tail = groups['tail']

    def outcome(data, seed, z_valid, z_test, la_rule):
        """``la_rule``: the model was trained towards balanced error, so its prior-rule prediction adds log p(y);
        such an arm's check: it predicts the tail tags more often than ERM on the same test words."""
        other = (lambda z: z + np.log(prior)) if la_rule else (lambda z: z)
        out = {'predictions': {'pred': z_test.argmax(1), 'prior_pred': other(z_test).argmax(1)},
               'valid': {'balanced_acc': metrics.balanced_accuracy(data.valid[1], z_valid.argmax(1))}}
        if la_rule:
            erm = fit(data, seed, ('la', 0.0), LogitAdjustedCrossEntropy(prior, tau=0.0))[1].argmax(1)
            share, erm_share = float(np.isin(out['predictions']['pred'], tail).mean()), float(np.isin(erm, tail).mean())
            out['check'] = {'moves_to_tail': {
                'value': share - erm_share, 'passed': share > erm_share,
                'rule': 'share of test predictions in the tail third of the tags > ERM\'s (same seed)'}}
        return out

    def la_loss(data, seed, tau):
        z_valid, z_test = fit(data, seed, ('la', tau), LogitAdjustedCrossEntropy(prior, tau=tau))
        return outcome(data, seed, z_valid, z_test, la_rule=tau > 0)

    def posthoc(data, seed, tau):
        z_valid, z_test = fit(data, seed, ('la', 0.0), LogitAdjustedCrossEntropy(prior, tau=0.0))
        return outcome(data, seed, posthoc_adjust(z_valid, prior, tau).numpy(),
                       posthoc_adjust(z_test, prior, tau).numpy(), la_rule=tau > 0)

    def weighted(data, seed):
        return outcome(data, seed, *fit(data, seed, 'weighted', WeightedSoftmaxCrossEntropy.from_prior(prior)),
                       la_rule=True)

    def resampled(data, seed):
        return outcome(data, seed, *fit(data, seed, 'resampled', LogitAdjustedCrossEntropy(prior, tau=0.0),
                                        resample=True), la_rule=True)

    select = ('balanced_acc', 'max')
    arms = [runner.Arm('ERM (plain CE)', la_loss, [{'tau': 0.0}]),
            runner.Arm('ERM + post-hoc (τ=1)', posthoc, [{'tau': 1.0}]),
            runner.Arm('ERM + post-hoc (τ on valid)', posthoc, [{'tau': t} for t in TAUS], select),
            runner.Arm('LA loss (τ=1)', la_loss, [{'tau': 1.0}]),
            runner.Arm('LA loss (τ on valid)', la_loss, [{'tau': t} for t in sorted([0.0, 1.0] + loss_taus)],
                       select)]
    if not args.quick:  # a smoke run: the claims' arms only
        arms += [runner.Arm('class-weighted CE (1/p)', weighted), runner.Arm('balanced re-sampling', resampled)]
    claims = [
        runner.Claim('4a', 'balanced accuracy, LA loss (τ=1) - ERM', 'balanced_acc', 'LA loss (τ=1)',
                     'ERM (plain CE)'),
        runner.Claim('4b', 'balanced accuracy, ERM + post-hoc (τ chosen on validation) - ERM', 'balanced_acc',
                     'ERM + post-hoc (τ on valid)', 'ERM (plain CE)'),
        runner.Claim('4c', 'balanced accuracy, LA loss τ=1 - the τ best on validation; holds above -1 point',
                     'balanced_acc', 'LA loss (τ=1)', 'LA loss (τ on valid)', threshold=-0.01)]

    def tables(report, results):
        report.add('tags', tags)
        report.add('train_counts', counts.tolist())
        plt = experiment.plt()
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in ('ERM + post-hoc (τ on valid)', 'LA loss (τ on valid)'):
            sweep = {}
            for s in results['seeds']:
                for point in s['results'][name]['grid']:
                    sweep.setdefault(point['params']['tau'], []).append(point['metrics']['balanced_acc'])
            ts = sorted(sweep)
            ax.plot(ts, [100 * np.mean(sweep[t]) for t in ts], marker='o', label=name.split(' (')[0])
        ax.set_xlabel('tau')
        ax.set_ylabel('test balanced accuracy (%)')
        ax.legend()
        report.figure(fig, 'tau_sweep.png', 'Test balanced accuracy vs τ: post-hoc adjustment of ERM and the LA loss '
                      '(mean over seeds; τ itself is chosen on validation)')

    return runner.run(ctx, 'Article 4: logit adjustment on long-tailed POS tags (People\'s Daily)', data, arms,
                      metric_fns, claims, tables=tables,
                      config={'head': head, 'ratio': args.ratio, 'epochs': epochs, 'per_class_test': per_test,
                              'per_class_valid': args.per_class_valid, 'min_valid': args.min_valid, 'taus': TAUS,
                              'loss_taus': loss_taus})


if __name__ == '__main__':
    main()
