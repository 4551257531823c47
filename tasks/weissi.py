"""Article 7 (kexue.fm/archives/7681): L2 vs WEISSI on real data.

Two settings on the embedded sentiment reviews: (a) a ReLU char-CNN (positively homogeneous after the embedding),
(b) the tiny pretrained BERT fine-tuned with the penalty on its FeedForward inner kernels. Compared: no
regularization, L2, decoupled weight decay (AdamW) and WEISSI, each strength chosen on the validation set from a
grid and applied to the same kernels. Reported: test accuracy, accuracy under FGSM on the token embeddings, and the
per-layer kernel norms during training (the weight-scale shift under L2). Optimiser: Adam at a constant rate (1e-3
CNN, 3e-4 BERT: the recipe's peak rate) for none / L2 / WEISSI, its AdamW twin on the selected kernels for AdamW, so
that the arms differ only in the regulariser.

The full run (defaults: 3 seeds; CNN 8,000 training reviews x 6 epochs, BERT 2,000 x 3 epochs; strengths: L2 1e-4 /
1e-3, AdamW 1e-3 / 1e-2, WEISSI 1e-3 / 1e-2) takes about 50 minutes on 2 CPU cores; --quick is a smoke run of a
few minutes.
"""
import bert4keras_ext  # noqa: F401  (first: arranges tf-keras before TensorFlow is imported)
import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf
from tasks import experiment, stats
from bert4keras_ext.data import corpora, stratified_sample
from bert4keras_ext.regularizers import WEISSI, attach_regularizer, select_kernels, selective_adamw
from bert4keras_ext.robustness import fgsm_embedding_accuracy
from bert4keras_ext.training import WeightNormHistory

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def regularize(model, method, strength, layers):
    """Attach the method's penalty (or build the AdamW optimizer) for the selected kernels; returns optimizer."""
    kernels = select_kernels(model, layers)
    lr = 1e-3 if layers is None else 3e-4
    if method == 'L2':
        attach_regularizer(model, tf.keras.regularizers.L2(strength), layers)
    elif method == 'WEISSI':
        attach_regularizer(model, WEISSI(strength, 0.1 * strength), layers)
    if method == 'AdamW':
        return selective_adamw(model, kernels, lr, strength), kernels
    return tf.keras.optimizers.Adam(lr), kernels


def main(argv=None):
    p = experiment.parser(__doc__, 'weissi')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--settings', nargs='+', default=['cnn', 'bert'], choices=['cnn', 'bert'],
                   help='which models to regularize: the char-CNN, the fine-tuned BERT')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    quick = args.quick
    sizes = {'cnn': 600 if quick else 8000, 'bert': 150 if quick else 2000}
    epochs = {'cnn': 2 if quick else 6, 'bert': 1 if quick else 3}
    full_grid = {'none': [0.0], 'L2': [1e-4, 1e-3], 'AdamW': [1e-3, 1e-2], 'WEISSI': [1e-3, 1e-2]}
    quick_grid = {'none': [0.0], 'L2': [1e-3], 'AdamW': [1e-2], 'WEISSI': [1e-2]}
    grids = {'cnn': quick_grid if quick else full_grid, 'bert': quick_grid if quick else full_grid}
    epsilons = [0.0, 0.001, 0.003, 0.01]
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    # reviews the default BERT's pretraining never read: validation 1,000, test 3,000 (150 / 150 with --quick)
    pool, valid, test = corpora.sentiment_benchmark_split(n_valid=150 if quick else 1000,
                                                          n_test=150 if quick else 3000, seed=args.seed)

    def enc(part):
        return clf.encode(tokenizer, [t for t, _ in part], args.maxlen), np.array([y for _, y in part])

    report = experiment.Report(ctx, 'Article 7: L2 vs WEISSI on sentiment classification')
    all_results, norm_curves = {}, {}
    for setting in args.settings:
        train = stratified_sample(pool, sizes[setting], seed=args.seed)  # the pool is in corpus order
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = enc(train), enc(valid), enc(test)
        if setting == 'cnn':
            x_tr, x_va, x_te = x_tr[0], x_va[0], x_te[0]
        results = {}
        for method, grid in grids[setting].items():
            for seed in ctx.seeds:
                best = None
                for strength in grid:
                    ctx.seed(seed)
                    if setting == 'cnn':
                        model = clf.build_char_cnn(tokenizer._vocab_size, 2, seed=seed)
                        layers, emb = None, model.get_layer('char_embedding').embeddings
                    else:
                        model, bert = clf.build_classifier(config_path, checkpoint_path, 2,
                                                           dict_path=dict_path)
                        # the FeedForward layers hold the penalty on their inner kernels (kept by save/load)
                        layers = [l for l in bert.layers if type(l).__name__ == 'FeedForward']
                        emb = bert.get_layer('Embedding-Token').embeddings
                    opt, kernels = regularize(model, method, strength, layers)
                    model.compile(opt, LOSS, metrics=['accuracy'])
                    norms = WeightNormHistory(kernels)
                    model.fit(x_tr, y_tr, epochs=epochs[setting], batch_size=32, verbose=0, callbacks=[norms])
                    val = model.evaluate(x_va, y_va, verbose=0, return_dict=True)['accuracy']
                    print('%s %-6s seed %d strength %g: valid acc %.4f' % (setting, method, seed, strength, val),
                          flush=True)
                    if best is None or val > best[0]:
                        robust = fgsm_embedding_accuracy(model, emb, x_te, y_te, epsilons, LOSS)
                        best = (val, strength, robust, norms.history)
                val, strength, robust, history = best
                results.setdefault(method, []).append({'seed': seed, 'strength': strength, 'valid_acc': val,
                                                       'test_acc': robust[0.0], 'fgsm': robust})
                if seed == ctx.seeds[0]:
                    norm_curves[(setting, method)] = history
        all_results[setting] = results
        rows = []
        for method, runs in results.items():
            rows.append([method, ', '.join('%g' % r['strength'] for r in runs),
                         experiment.fmt_mean_std([r['test_acc'] for r in runs])] +
                        [experiment.fmt_mean_std([r['fgsm'][e] for r in runs]) for e in epsilons[1:]])
        title = ('ReLU char-CNN, %d training reviews' % sizes[setting] if setting == 'cnn' else
                 'tiny BERT fine-tuned, penalty on FeedForward inner kernels, %d training reviews' % sizes[setting])
        report.table(title, ['method', 'strength (chosen on valid)', 'test acc (%)'] +
                     ['FGSM ε=%g acc (%%)' % e for e in epsilons[1:]], rows,
                     note='mean ± std over %d seed(s); test set %d reviews; WEISSI: λ1 = strength, λ2 = 0.1·λ1.'
                          % (len(ctx.seeds), len(y_te)))
    claims = []
    for setting, results in all_results.items():
        def values(method, eps=0.0):
            return [r['fgsm'][eps] for r in results[method]]
        claims += [
            stats.claim_row('7a', '%s: test accuracy, WEISSI - L2' % setting, values('WEISSI'), values('L2')),
            stats.claim_row('7b', '%s: FGSM accuracy at ε=%g, WEISSI - L2' % (setting, epsilons[2]),
                            values('WEISSI', epsilons[2]), values('L2', epsilons[2])),
            stats.claim_row('7c', '%s: test accuracy, WEISSI - AdamW on the same kernels' % setting,
                            values('WEISSI'), values('AdamW'), judge=False)]
    report.table('Claims (docs/claims.md), decided by the paired 95%% interval over %d seed(s)' % len(ctx.seeds),
                 stats.CLAIM_COLUMNS, claims)
    report.add('claims', claims)
    report.add('results', all_results)
    report.add('norms', {'%s/%s' % k: v for k, v in norm_curves.items()})
    plt = experiment.plt()
    settings = sorted({s for s, _ in norm_curves})
    fig, axes = plt.subplots(len(settings), 4, figsize=(16, 3.4 * len(settings)), squeeze=False)
    for row, setting in zip(axes, settings):
        for ax, method in zip(row, ['none', 'L2', 'AdamW', 'WEISSI']):
            for name, values in norm_curves.get((setting, method), {}).items():
                ax.plot(values, marker='.', label=name.split('/')[0])
            ax.set_title('%s: %s' % (setting, method))
            ax.set_xlabel('epoch')
        row[0].set_ylabel('kernel Frobenius norm')
        row[0].legend(fontsize=7)
    fig.tight_layout()
    report.figure(fig, 'weight_norms.png', 'Per-layer kernel norms during training (seed %d)' % args.seed)
    fig, axes = plt.subplots(1, len(all_results), figsize=(5.5 * len(all_results), 3.8), squeeze=False)
    for ax, (setting, results) in zip(axes[0], all_results.items()):
        for method, runs in results.items():
            ax.plot(epsilons, [100 * np.mean([r['fgsm'][e] for r in runs]) for e in epsilons], marker='o',
                    label=method)
        ax.set_title(setting)
        ax.set_xlabel('FGSM ε on token embeddings')
        ax.set_ylabel('test accuracy (%)')
        ax.legend()
    report.figure(fig, 'robustness.png', 'Test accuracy under FGSM on the token embeddings')
    report.write()


if __name__ == '__main__':
    main()
