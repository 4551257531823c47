"""Article 2 (kexue.fm/archives/7521): MLE-guided parameter search (MGS) for non-differentiable task losses.

(a) Imbalanced sentiment (positives:negatives 1:10 in training, balanced test), fine-tuned from the tiny Chinese
    BERT: after a shared MLE warm start, continue with MLE or with MGS on the task loss 1 - macro-F1.
(b) Sequence continuation on People's Daily sentences with a small 'lm' Transformer (10-token prefixes, greedy
    decoding): after MLE pretraining, continue with MLE or with MGS on repetition + non-termination.
Reports held-out task metrics, the wall-time cost of an update relative to an MLE update (same run), and task loss
against training time. The warm start of (a) is one epoch of the package recipe (classification.RECIPE); both arms
then continue with AdamW at 1e-4.

The full run (defaults: 3 seeds; (a) 2,000 negatives + 200 positives, 3 epochs per arm; (b) 3,000 LM steps, 200
updates per arm) takes about an hour on 2 CPU cores (69 minutes measured with another full run sharing the cores);
--quick is a smoke run of a few minutes.
"""
import bert4keras_ext  # noqa: F401
import time

import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf, metrics
from tasks import experiment, stats
from bert4keras_ext.models import build_model
from bert4keras_ext.data import corpora, imbalanced_subset, train_valid_test_split
from bert4keras_ext.decoding import Decoder
from bert4keras_ext.training import MGSTrainer
from bert4keras_ext.training.task_losses import continuation_loss, macro_f1_loss

CE = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def timed_epochs(step_fn, epochs, evaluate):
    """Run ``step_fn()`` (one epoch) ``epochs`` times; returns [(seconds so far, metric)] incl. the start."""
    curve, spent = [(0.0, evaluate())], 0.0
    for _ in range(epochs):
        t = time.perf_counter()
        n_updates = step_fn()
        spent += time.perf_counter() - t
        curve.append((spent, evaluate()))
    return curve, spent / max(n_updates * epochs, 1)


def classification(ctx, args, paths, tokenizer, report):
    # test on reviews the default BERT's pretraining never read (3,000; 150 with --quick)
    pool, _, test = corpora.sentiment_benchmark_split(n_valid=0, n_test=150 if args.quick else 3000, seed=args.seed)
    texts, labels = imbalanced_subset([t for t, _ in pool], [y for _, y in pool], ratio=10, minority=1,
                                      seed=args.seed, max_majority=100 if args.quick else 2000)
    x, y = clf.encode(tokenizer, texts, args.maxlen), np.array(labels)
    x_te, y_te = clf.encode(tokenizer, [t for t, _ in test], args.maxlen), np.array([y for _, y in test])
    epochs = 1 if args.quick else 3
    rows, curves = {}, {}
    for seed in ctx.seeds:
        ctx.seed(seed)
        model, _ = clf.build_classifier(*paths[:2], 2, dict_path=paths[2])
        clf.fine_tune(model, CE, x, y, seed=seed, epochs=1)  # shared MLE warm start (the recipe, one epoch)
        warm = model.get_weights()

        def test_loss():
            return macro_f1_loss(model, (x_te, y_te))

        for method in ('MLE', 'MGS'):
            model.set_weights(warm)
            model.compile(tf.keras.optimizers.AdamW(1e-4), CE)
            if method == 'MLE':
                def epoch():
                    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=True)
                    return len(y) // 32
            else:
                trainer = MGSTrainer(model, macro_f1_loss, num_candidates=4, beta=args.beta, seed=seed)

                def epoch():
                    n0 = len(trainer.history)
                    trainer.fit(x, y, epochs=1, batch_size=32, seed=seed + len(trainer.history))
                    return len(trainer.history) - n0
            curve, per_update = timed_epochs(epoch, epochs, test_loss)
            rows.setdefault(method, []).append((curve[-1][1], per_update))
            curves.setdefault(method, []).append(curve)
            print('seed %d (a) %s: test 1 - macro F1 %.4f, %.3f s/update' % (seed, method, curve[-1][1], per_update),
                  flush=True)
    mle_cost = np.mean([r[1] for r in rows['MLE']])
    report.table('(a) imbalanced sentiment 1:10 (%d training reviews), test %d balanced' % (len(y), len(y_te)),
                 ['method', 'test macro-F1 (%)', 'seconds per update', 'cost vs MLE'],
                 [[m, experiment.fmt_mean_std([1 - r[0] for r in rs]), '%.3f' % np.mean([r[1] for r in rs]),
                   '%.1fx' % (np.mean([r[1] for r in rs]) / mle_cost)] for m, rs in rows.items()],
                 note='both continue from the same 1-epoch MLE warm start for %d epochs; mean ± std over %d seed(s)'
                      % (epochs, len(ctx.seeds)))
    claims = [stats.claim_row('2a', '(a) test macro-F1, MGS - MLE', [1 - r[0] for r in rows['MGS']],
                              [1 - r[0] for r in rows['MLE']]),
              stats.claim_row('2b', '(a) seconds per update, MGS - MLE', [r[1] for r in rows['MGS']],
                              [r[1] for r in rows['MLE']], scale=1.0, unit='s', judge=False)]
    return curves, claims


def sequences(ctx, args, paths, tokenizer, report):
    sents = [s for line in corpora.peoples_daily_text() for s in corpora.split_sentences(line)
             if 16 <= len(s) <= 60]
    train, _, test = train_valid_test_split(sents, seed=args.seed, valid=0, test=30 if args.quick else 500)
    train = train[:1000 if args.quick else 40000]
    end = tokenizer._token_end_id
    ids = [tokenizer.encode(s, maxlen=64)[0][1:] for s in train]  # LM over "sentence [SEP]"
    width = max(map(len, ids))
    x = np.zeros((len(ids), width), 'int32')
    for i, r in enumerate(ids):
        x[i, :len(r)] = r
    seg = np.zeros_like(x)
    prefixes = [tokenizer.encode(s)[0][1:11] for s in test]
    config = dict(vocab_size=tokenizer._vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=512, hidden_act='gelu', max_position_embeddings=128)
    steps = 40 if args.quick else 3000
    rows = {}
    for seed in ctx.seeds:
        ctx.seed(seed)
        lm = build_model(config, application='lm').model
        lm.compile(tf.keras.optimizers.Adam(1e-3), 'sparse_categorical_crossentropy')
        weights = (x[:, 1:] > 0).astype('float32')
        lm.fit([x[:, :-1], seg[:, :-1]], x[:, 1:], sample_weight=weights, batch_size=32,
               epochs=max(1, steps * 32 // len(x)), verbose=0)
        warm = lm.get_weights()
        decoder = Decoder(lm, end, maxlen=args.decode_len, application='lm')

        def evaluate():
            seqs = [r.ids for r in decoder.greedy(prefixes)]
            return (float(np.mean([metrics.repetition(s) for s in seqs])),
                    metrics.non_termination_ratio(seqs, end, args.decode_len))

        task = continuation_loss(decoder, end)
        n_updates = 4 if args.quick else 200
        for method in ('MLE', 'MGS'):
            lm.set_weights(warm)
            lm.compile(tf.keras.optimizers.AdamW(1e-4), 'sparse_categorical_crossentropy')
            rng = np.random.RandomState(seed)
            batches = [rng.choice(len(x), 16, replace=False) for _ in range(n_updates)]
            t = time.perf_counter()
            if method == 'MLE':
                for b in batches:
                    lm.train_on_batch([x[b, :-1], seg[b, :-1]], x[b, 1:], sample_weight=weights[b])
            else:
                trainer = MGSTrainer(lm, task, num_candidates=4, beta=args.beta, seed=seed)
                for b in batches:
                    trainer.train_step([x[b, :-1], seg[b, :-1]], x[b, 1:], weights[b])
            per_update = (time.perf_counter() - t) / n_updates
            rep, nonterm = evaluate()
            rows.setdefault(method, []).append((rep, nonterm, per_update))
            print('seed %d (b) %s: repetition %.4f non-termination %.4f, %.3f s/update'
                  % (seed, method, rep, nonterm, per_update), flush=True)
    mle_cost = np.mean([r[2] for r in rows['MLE']])
    report.table('(b) People\'s Daily continuation: %d held-out 10-token prefixes, greedy, L = %d'
                 % (len(prefixes), args.decode_len),
                 ['method', 'repetition (%)', 'non-termination r_L (%)', 'seconds per update', 'cost vs MLE'],
                 [[m, experiment.fmt_mean_std([r[0] for r in rs]), experiment.fmt_mean_std([r[1] for r in rs]),
                   '%.3f' % np.mean([r[2] for r in rs]), '%.1fx' % (np.mean([r[2] for r in rs]) / mle_cost)]
                  for m, rs in rows.items()],
                 note='2-layer hidden-128 LM, %d MLE pretraining steps, then %d updates of each method on batches '
                      'of 16; task loss of MGS = repetition + non-termination of the batch\'s continuations.'
                      % (steps, 4 if args.quick else 200))
    return [stats.claim_row('2a', '(b) repetition + non-termination, MLE - MGS', [r[0] + r[1] for r in rows['MLE']],
                            [r[0] + r[1] for r in rows['MGS']]),
            stats.claim_row('2b', '(b) seconds per update, MGS - MLE', [r[2] for r in rows['MGS']],
                            [r[2] for r in rows['MLE']], scale=1.0, unit='s', judge=False)]


def main(argv=None):
    p = experiment.parser(__doc__, 'mgs')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--beta', type=float, default=20.0, help='MGS inverse temperature')
    p.add_argument('--decode_len', type=int, default=40, help='tokens decoded per prefix (sequence experiment)')
    p.add_argument('--experiments', nargs='+', default=['classification', 'sequences'],
                   choices=['classification', 'sequences'], help='which of the two experiments to run')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    paths = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(paths[2])
    report = experiment.Report(ctx, 'Article 2: MLE-guided parameter search (MGS) vs MLE')
    claims = []
    if 'classification' in args.experiments:
        curves, rows = classification(ctx, args, paths, tokenizer, report)
        claims += rows
        plt = experiment.plt()
        fig, ax = plt.subplots(figsize=(6, 4))
        for method, runs in curves.items():
            ax.plot([t for t, _ in runs[0]], [v for _, v in runs[0]], marker='o', label=method)
        ax.set_xlabel('training time after the warm start (s)')
        ax.set_ylabel('test task loss (1 - macro F1)')
        ax.legend()
        report.figure(fig, 'task_loss_vs_time.png', '(a) task loss against training time (seed %d)' % args.seed)
    if 'sequences' in args.experiments:
        claims += sequences(ctx, args, paths, tokenizer, report)
    report.table('Claims (docs/claims.md), decided by the paired 95%% interval over %d seed(s)' % len(ctx.seeds),
                 stats.CLAIM_COLUMNS, claims)
    report.add('claims', claims)
    report.write()


if __name__ == '__main__':
    main()
