"""Article 7 (kexue.fm/archives/7681): L2 vs WEISSI on real data.

Two settings on the embedded sentiment reviews: (a) a ReLU char-CNN (positively homogeneous after the embedding),
(b) the tiny pretrained BERT fine-tuned with the penalty on its FeedForward inner kernels. Compared: no
regularization, L2, decoupled weight decay (AdamW) and WEISSI, each strength chosen on the validation set from a
grid and applied to the same kernels. Reported: test accuracy, accuracy under FGSM on the token embeddings, and the
per-layer kernel norms during training (the weight-scale shift under L2). Optimiser: Adam at a constant rate (1e-3
CNN, 3e-4 BERT: the recipe's peak rate) for none / L2 / WEISSI, its AdamW twin on the selected kernels for AdamW, so
that the arms differ only in the regulariser.

v2 adds SGD with momentum 0.9 (none / L2 / WEISSI; the rate chosen on validation by the unregularised SGD arm from
SGD_RATES and reused by the other SGD arms of the seed) and three strengths per regulariser (L2 1e-4 / 1e-3 / 1e-2,
AdamW 1e-3 / 1e-2 / 1e-1, WEISSI 1e-3 / 1e-2 / 1e-1). The full run (defaults: 3 seeds; CNN 8,000 training reviews x
6 epochs, BERT 2,000 x 3 epochs) took 32 minutes in v1 (14 trainings a seed); v2 has 38 trainings a seed (measured: seed 0
took about 2 h 50 min as one single-threaded process beside another full run; plan on hours a seed and run it with
--resume over sessions); --quick is a smoke run of
a few minutes. Through tasks.runner: the test reviews are fixed, the training and validation reviews redrawn per
seed; every arm stores its per-item test predictions at each FGSM ε.
"""
import bert4keras_ext  # noqa: F401  (first: arranges tf-keras before TensorFlow is imported)
import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf
from bert4keras_ext.regularizers import WEISSI, attach_regularizer, select_kernels, selective_adamw
from bert4keras_ext.robustness import fgsm_embedding_predictions
from bert4keras_ext.training import WeightNormHistory
from tasks import classify, experiment, runner

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def regularize(model, method, strength, layers, sgd_lr=None):
    """Attach the method's penalty (or build the AdamW optimizer) for the selected kernels; returns (optimizer,
    kernels). ``sgd_lr``: SGD with momentum 0.9 at this rate instead of Adam (v2: L2 where it is not distorted)."""
    kernels = select_kernels(model, layers)
    lr = 1e-3 if layers is None else 3e-4
    if method == 'L2':
        attach_regularizer(model, tf.keras.regularizers.L2(strength), layers)
    elif method == 'WEISSI':
        attach_regularizer(model, WEISSI(strength, 0.1 * strength), layers)
    if sgd_lr is not None:
        return tf.keras.optimizers.SGD(sgd_lr, momentum=0.9), kernels
    if method == 'AdamW':
        return selective_adamw(model, kernels, lr, strength), kernels
    return tf.keras.optimizers.Adam(lr), kernels


#: SGD-with-momentum rates tried by the unregularised SGD arm of each seed (chosen on validation accuracy); the L2 and
#: WEISSI SGD arms of that seed use the chosen rate
SGD_RATES = {'cnn': [0.01, 0.03, 0.1], 'bert': [0.003, 0.01, 0.03]}


EPSILONS = [0.0, 0.001, 0.003, 0.01]
METRICS = {'acc' if e == 0 else 'fgsm %g' % e: (lambda e: lambda y, p: float(np.mean(np.asarray(p[str(e)]) ==
                                                                                   np.asarray(y))))(e)
           for e in EPSILONS}


def plot_norms(results, seed):
    """Per-layer kernel norms during training, one panel per (setting, method) of one seed."""
    plt = experiment.plt()
    entry = next(s for s in results['seeds'] if s['seed'] == seed)['results']
    settings = sorted({name.split()[0] for name in entry})
    fig, axes = plt.subplots(len(settings), 4, figsize=(16, 3.4 * len(settings)), squeeze=False)
    for row, setting in zip(axes, settings):
        for ax, method in zip(row, ['none', 'L2', 'AdamW', 'WEISSI']):
            r = entry.get('%s %s' % (setting, method))
            for name, values in (r['extra']['norms'] if r else {}).items():
                ax.plot(values, marker='.', label=name.split('/')[0])
            ax.set_title('%s: %s' % (setting, method))
            ax.set_xlabel('epoch')
        row[0].set_ylabel('kernel Frobenius norm')
        row[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_robustness(results):
    plt = experiment.plt()
    names = list(results['seeds'][0]['results'])
    settings = sorted({n.split()[0] for n in names})
    fig, axes = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 3.8), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for name in [n for n in names if n.split()[0] == setting]:
            ax.plot(EPSILONS, [100 * np.mean(runner.metric_values(results, name, m)) for m in METRICS], marker='o',
                    label=name.split(' ', 1)[1])
        ax.set_title(setting)
        ax.set_xlabel('FGSM ε on token embeddings')
        ax.set_ylabel('test accuracy (%)')
        ax.legend()
    return fig


def main(argv=None):
    p = experiment.parser(__doc__, 'weissi')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--settings', nargs='+', default=['cnn', 'bert'], choices=['cnn', 'bert'],
                   help='which models to regularize: the char-CNN, the fine-tuned BERT')
    p.add_argument('--train_sizes', type=int, nargs=2, default=None, metavar=('CNN', 'BERT'),
                   help='training reviews of the two settings (default 8000 2000; quick 600 150)')
    p.add_argument('--test_size', type=int, default=None, help='test reviews (default 3000; quick 150)')
    p.add_argument('--optimizers', nargs='+', default=None, choices=['adam', 'sgdm'],
                   help='Adam (none / L2 / AdamW / WEISSI) and SGD with momentum (none / L2 / WEISSI; its rate chosen '
                   'on validation by the unregularised arm); default both, quick adam')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    quick = args.quick
    sizes = dict(zip(('cnn', 'bert'), args.train_sizes or ((600, 150) if quick else (8000, 2000))))
    epochs = {'cnn': 2 if quick else 6, 'bert': 1 if quick else 3}
    # v2: three strengths each, so that a choice at either end shows as "(grid edge)" (v1: two)
    full_grid = {'none': [0.0], 'L2': [1e-4, 1e-3, 1e-2], 'AdamW': [1e-3, 1e-2, 1e-1], 'WEISSI': [1e-3, 1e-2, 1e-1]}
    quick_grid = {'none': [0.0], 'L2': [1e-3], 'AdamW': [1e-2], 'WEISSI': [1e-2]}
    grid = quick_grid if quick else full_grid
    sgd_grid = {'none': [0.0], 'L2': full_grid['L2'], 'WEISSI': full_grid['WEISSI']} if not quick else \
        {'none': [0.0], 'L2': [1e-3], 'WEISSI': [1e-2]}
    optimizers = args.optimizers or (['adam'] if quick else ['adam', 'sgdm'])
    n_test = args.test_size or (150 if quick else 3000)
    n_valid = n_test if quick else n_test // 3
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)

    def data(seed):
        train = {}
        for setting in args.settings:
            part, valid, test = classify.sentiment_sets(sizes[setting], n_valid, n_test, seed, base_seed=args.seed)
            train[setting] = classify.encode_pairs(tokenizer, part, args.maxlen)
        x_test, y_test = classify.encode_pairs(tokenizer, test, args.maxlen)
        # the FGSM attack ascends the loss of the true label: the arms see the test labels (selection does not)
        return runner.Split(train, classify.encode_pairs(tokenizer, valid, args.maxlen), x_test, y_test,
                            info={'train': dict(sizes), 'valid': len(valid), 'test': len(test)},
                            arms_see_test_labels=True)

    unregularised = {}  # (setting, optimizer, seed) -> final kernel norms of the 'none' arm (it runs first)
    sgd_rate = {}       # (setting, seed) -> the SGD rate the unregularised SGD arm chose on validation

    def norm_check(setting, seed, method, norms, opt_name):
        final = {k: v[-1] for k, v in norms.items()}
        if method == 'none':
            unregularised[(setting, opt_name, seed)] = final
            return {}
        base = unregularised.get((setting, opt_name, seed))
        moved = max(abs(final[k] / base[k] - 1) for k in final) if base else float('nan')
        return {'moves_norms': {'value': moved, 'passed': bool(moved >= 0.05),
                                'rule': 'largest relative change of a penalised kernel norm vs the unregularised arm '
                                        '(same seed, same start) >= 5%'}}

    def arm(setting, method, opt_name='adam'):
        def run(data, seed, strength):
            if opt_name == 'sgdm' and method == 'none':  # choose the rate here; the other SGD arms reuse it
                tried = [(train(data, seed, strength, rate), rate) for rate in SGD_RATES[setting]]
                best, rate = max(tried, key=lambda t: t[0]['valid']['acc'])
                sgd_rate[(setting, seed)] = rate
                best['chosen'] = {'sgd_lr': rate}
                best['extra']['sgd_valid'] = {str(r): o['valid']['acc'] for o, r in tried}
                return best
            if opt_name != 'sgdm':
                return train(data, seed, strength, None)
            out = train(data, seed, strength, sgd_rate[(setting, seed)])
            out['chosen'] = {'sgd_lr': sgd_rate[(setting, seed)]}  # chosen by the unregularised SGD arm
            return out

        def train(data, seed, strength, rate):
            tf.keras.utils.set_random_seed(seed)  # every rate of the SGD sweep starts where the others do
            (x_tr, y_tr), (x_va, y_va), x_te = data.train[setting], data.valid, data.test
            if setting == 'cnn':
                x_tr, x_va, x_te = x_tr[0], x_va[0], x_te[0]
                model = clf.build_char_cnn(tokenizer._vocab_size, 2, seed=seed)
                layers, emb = None, model.get_layer('char_embedding').embeddings
            else:
                model, bert = clf.build_classifier(config_path, checkpoint_path, 2, dict_path=dict_path,
                                                   dropout=args.dropout)
                # the FeedForward layers hold the penalty on their inner kernels (kept by save/load)
                layers = [l for l in bert.layers if type(l).__name__ == 'FeedForward']
                emb = bert.get_layer('Embedding-Token').embeddings
            opt, kernels = regularize(model, method, strength, layers, sgd_lr=rate)
            model.compile(opt, LOSS, metrics=['accuracy'])
            clf.build_before_fit(model, y_tr)  # one trace of the train step
            norms = WeightNormHistory(kernels)
            model.fit(x_tr, y_tr, epochs=epochs[setting], batch_size=32, verbose=0, callbacks=[norms])
            val = model.evaluate(x_va, y_va, verbose=0, return_dict=True)['accuracy']
            preds = fgsm_embedding_predictions(model, emb, x_te, data.test_labels, EPSILONS, LOSS)
            return {'predictions': {str(e): v for e, v in preds.items()}, 'valid': {'acc': val},
                    'check': norm_check(setting, seed, method, norms.history, opt_name),
                    'extra': {'norms': norms.history}}
        return run

    arms = []
    for setting in args.settings:
        for opt_name in optimizers:
            prefix = setting if opt_name == 'adam' else '%s sgdm' % setting
            arms += [runner.Arm('%s %s' % (prefix, method), arm(setting, method, opt_name),
                                [{'strength': s} for s in strengths], ('acc', 'max') if len(strengths) > 1 else None)
                     for method, strengths in (grid if opt_name == 'adam' else sgd_grid).items()]
    claims = []
    for setting in args.settings:
        if 'sgdm' in optimizers:
            s = setting + ' sgdm'
            claims += [runner.Claim('7a', '%s: test accuracy, WEISSI - L2 (SGD with momentum)' % setting, 'acc',
                                    s + ' WEISSI', s + ' L2'),
                       runner.Claim('7b', '%s: FGSM accuracy at ε=%g, WEISSI - L2 (SGD with momentum)'
                                    % (setting, EPSILONS[2]), 'fgsm %g' % EPSILONS[2], s + ' WEISSI', s + ' L2')]
        if 'adam' not in optimizers:
            continue
        claims += [
            runner.Claim('7a', '%s: test accuracy, WEISSI - L2' % setting, 'acc', setting + ' WEISSI',
                         setting + ' L2'),
            runner.Claim('7b', '%s: FGSM accuracy at ε=%g, WEISSI - L2' % (setting, EPSILONS[2]),
                         'fgsm %g' % EPSILONS[2], setting + ' WEISSI', setting + ' L2'),
            runner.Claim('7c', '%s: test accuracy, WEISSI - AdamW on the same kernels' % setting, 'acc',
                         setting + ' WEISSI', setting + ' AdamW', judge=False)]

    def tables(report, results):
        report.figure(plot_norms(results, ctx.seeds[0]), 'weight_norms.png',
                      'Per-layer kernel norms during training (seed %d)' % ctx.seeds[0])
        report.figure(plot_robustness(results), 'robustness.png', 'Test accuracy under FGSM on the token embeddings')

    return runner.run(ctx, 'Article 7: L2 vs WEISSI on sentiment classification', data, arms, METRICS, claims,
                      tables=tables, config={'sizes': sizes, 'epochs': epochs, 'grid': grid, 'test_size': n_test,
                                             'optimizers': optimizers, 'sgd_grid': sgd_grid, 'sgd_rates': SGD_RATES,
                                             'valid_size': n_valid, 'epsilons': EPSILONS,
                                             'weissi': 'lambda1 = strength, lambda2 = 0.1 lambda1'})


if __name__ == '__main__':
    main()
