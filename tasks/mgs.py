"""Article 2 (kexue.fm/archives/7521): MLE-guided parameter search (MGS) for non-differentiable task losses.

(a) Imbalanced sentiment (positives:negatives 1:10 in training, balanced test), fine-tuned from the tiny Chinese
    BERT: after a shared MLE warm start, continue with MLE or with MGS on the task loss 1 - macro-F1.
(b) Sequence continuation on People's Daily sentences with a small 'lm' Transformer (10-token prefixes, greedy
    decoding): after MLE pretraining, continue with MLE or with MGS on repetition + non-termination.
Reports held-out task metrics, the wall-time cost of an update relative to an MLE update (same run), and task loss
against training time. The warm start of (a) is one epoch of the package recipe (classification.RECIPE); both arms
then continue with AdamW at 1e-4.

The full run (defaults: 3 seeds; (a) 2,000 negatives + 200 positives, 3 epochs per arm; (b) 3,000 LM steps, 200
updates per arm) took 69 minutes in v1 (3 seeds, another run sharing the cores); v2 chooses each MGS arm's candidate
count and scale on validation from GRID (3 trainings per MGS arm) and adds the mixed arm, about 3.5x v1's cost a
seed: run --seeds 5 with --resume over sessions. --quick is a smoke run of a few minutes (v1 setting, no grid). Through tasks.runner: the test sets are fixed, the training sets redrawn
per seed; MLE and MGS of a seed continue from the same warm start.
"""
import bert4keras_ext  # noqa: F401
import time

import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf, metrics
from bert4keras_ext.models import build_model
from bert4keras_ext.data import imbalanced_subset, train_valid_test_split
from bert4keras_ext.data import corpora
from bert4keras_ext.decoding import Decoder
from bert4keras_ext.training import MGSTrainer
from bert4keras_ext.training.task_losses import continuation_loss, macro_f1_loss
from tasks import classify, experiment, runner

CE = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
METRICS_A = {'macro_f1': lambda y, p: metrics.macro_f1(np.asarray(y), np.asarray(p))}
METRICS_B = {'task_loss': lambda y, p: float(np.mean(p['repetition']) + 1 - np.mean(p['ended'])),
             'repetition': lambda y, p: float(np.mean(p['repetition'])),
             'non_termination': lambda y, p: float(1 - np.mean(p['ended'])),
             'length': lambda y, p: float(np.mean(p['length'])),
             'perplexity': lambda y, p: float(np.exp(-np.sum(p['log_prob']) / np.sum(p['tokens'])))}


MIXED = {'mode': 'alternate', 'mle_every': 2}  # the paper's MGS mixed with MLE: every second update an MLE step
#: v2: the candidate count and the perturbation scale of every MGS arm, chosen on validation (one at a time around
#: the v1 setting K = 4, noise 1.0); --quick runs the v1 setting alone
GRID = [{'candidates': 4, 'noise': 1.0}, {'candidates': 8, 'noise': 1.0}, {'candidates': 4, 'noise': 0.5}]
QUICK = {'on': False}


def mgs_grid(method, metric, direction):
    """``(grid, select)`` of an arm: MLE has none; an MGS arm's GRID is chosen on ``metric`` of validation."""
    if method == 'MLE' or QUICK['on']:
        return None, None
    return GRID, (metric, direction)


def mgs_checks(history):
    """Mechanism checks of an MGS arm from its trainer's history: the candidates differ in task loss, and their
    weights are not one-hot (else the update is one random perturbation, or ignores the task loss)."""
    steps = [r for r in history if r.get('kind') == 'mgs']
    differ = float(np.mean([np.ptp(r['candidate_losses']) > 0 for r in steps])) if steps else 0.0
    top = float(np.mean([max(r['weights']) for r in steps])) if steps else 1.0
    return {'candidates_differ': {'value': differ, 'passed': differ >= 0.5,
                                  'rule': 'share of MGS updates whose candidates differ in task loss >= 0.5'},
            'weights_not_one_hot': {'value': top, 'passed': top < 0.99,
                                    'rule': 'mean largest candidate weight < 0.99'}}


def not_constant(pred):
    share = float(np.max(np.bincount(np.asarray(pred))) / len(pred))
    return {'value': share, 'passed': share < 0.99,
            'rule': 'share of the most frequent predicted test class < 0.99 (not a constant predictor)'}


def classification_arms(args, paths, epochs, methods):
    """(a): MLE and MGS from one warm start per seed; predictions: test classes after the last epoch, ``curve``:
    after every epoch (with the seconds spent in ``extra``)."""
    warm = {}

    def start(data, seed):
        if seed not in warm:
            model, _ = clf.build_classifier(*paths[:2], 2, dict_path=paths[2], dropout=args.dropout)
            clf.fine_tune(model, CE, *data.train['a'], seed=seed, epochs=1)  # the recipe, one epoch
            warm[seed] = (model, model.get_weights())
        model, weights = warm[seed]
        model.set_weights(weights)
        model.compile(tf.keras.optimizers.AdamW(1e-4), CE)
        return clf.build_before_fit(model, None)  # one trace of the train step

    def arm(method):
        def run(data, seed, candidates=4, noise=1.0):
            model = start(data, seed)
            x, y = data.train['a']
            predict = lambda: clf.predict_logits(model, data.test).argmax(-1)  # noqa: E731
            curve, seconds, updates = [predict()], [0.0], 0
            trainer = None if method == 'MLE' else MGSTrainer(
                model, macro_f1_loss, num_candidates=candidates, noise=noise, beta=args.beta, seed=seed,
                **(MIXED if 'MLE' in method else {}))
            for epoch in range(epochs):
                t = time.perf_counter()
                if trainer is None:
                    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=True)
                    updates += int(np.ceil(len(y) / 32))
                else:
                    n0 = len(trainer.history)
                    trainer.fit(x, y, epochs=1, batch_size=32, seed=seed + n0)
                    updates += len(trainer.history) - n0
                seconds.append(seconds[-1] + time.perf_counter() - t)
                curve.append(predict())
            check = {'not_constant': not_constant(curve[-1])}
            if trainer is not None:
                check.update(mgs_checks(trainer.history))
            x_va, y_va = data.valid['a']
            valid = {'macro_f1': metrics.macro_f1(y_va, clf.predict_logits(model, x_va).argmax(-1))}
            return {'predictions': curve[-1], 'curve': curve, 'check': check, 'valid': valid,
                    'extra': {'seconds': seconds, 'seconds_per_update': seconds[-1] / max(updates, 1)}}
        return run

    def constant(data, seed):  # the reference row: the training majority class for every review
        y = data.train['a'][1]
        return {'predictions': np.full(len(data.test[0]), np.bincount(y).argmax()), 'extra': {'seconds_per_update': 0.0}}

    return [runner.Arm('(a) ' + m, arm(m), *mgs_grid(m, 'macro_f1', 'max'), metrics=METRICS_A, part='a')
            for m in methods] + [runner.Arm('(a) constant (majority class)', constant, metrics=METRICS_A, part='a')]


def sequence_arms(args, tokenizer, steps, n_updates, methods):
    """(b): a small LM pretrained by MLE per seed, then MLE or MGS on repetition + non-termination."""
    end = tokenizer._token_end_id
    config = dict(vocab_size=tokenizer._vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=512, hidden_act='gelu', max_position_embeddings=128)
    warm = {}

    def start(data, seed):
        x = data.train['b']
        if seed not in warm:
            lm = build_model(config, application='lm').model
            lm.compile(tf.keras.optimizers.Adam(1e-3), 'sparse_categorical_crossentropy')
            clf.build_before_fit(lm, None)
            lm.fit([x[:, :-1], np.zeros_like(x[:, :-1])], x[:, 1:], sample_weight=(x[:, 1:] > 0).astype('float32'),
                   batch_size=32, epochs=max(1, steps * 32 // len(x)), verbose=0)
            # one decoder per model: its loops are traced once and read the model's current weights
            warm[seed] = (lm, lm.get_weights(), Decoder(lm, end, maxlen=args.decode_len, application='lm'))
        lm, weights, decoder = warm[seed]
        lm.set_weights(weights)
        lm.compile(tf.keras.optimizers.AdamW(1e-4), 'sparse_categorical_crossentropy')
        return clf.build_before_fit(lm, None), decoder

    def continuations(decoder, prefixes):
        seqs = [r.ids for r in decoder.greedy(prefixes)]
        ended = [metrics.non_termination_ratio([q], end, args.decode_len) == 0 for q in seqs]
        return seqs, ended

    def arm(method):
        def run(data, seed, candidates=4, noise=1.0):
            lm, decoder = start(data, seed)
            x = data.train['b']
            seg, weights = np.zeros_like(x), (x[:, 1:] > 0).astype('float32')
            rng = np.random.RandomState(seed)
            batches = [rng.choice(len(x), 16, replace=False) for _ in range(n_updates)]
            t = time.perf_counter()
            if method == 'MLE':
                for b in batches:
                    lm.train_on_batch([x[b, :-1], seg[b, :-1]], x[b, 1:], sample_weight=weights[b])
            else:
                trainer = MGSTrainer(lm, continuation_loss(decoder, end), num_candidates=candidates, noise=noise,
                                     beta=args.beta, seed=seed, **(MIXED if 'MLE' in method else {}))
                for b in batches:
                    trainer.train_step([x[b, :-1], seg[b, :-1]], x[b, 1:], weights[b])
            per_update = (time.perf_counter() - t) / n_updates
            seqs, ended = continuations(decoder, data.test['prefixes'])
            held = data.test['sentences']  # perplexity of the held-out sentences (the prefixes' own sentences)
            probs = lm.predict([held[:, :-1], np.zeros_like(held[:, :-1])], verbose=0, batch_size=64)
            picked = np.log(np.maximum(np.take_along_axis(probs, held[:, 1:, None], -1)[..., 0], 1e-30))
            picked = picked * (held[:, 1:] > 0)
            v_seqs, v_ended = continuations(decoder, data.valid['b'])
            valid = {'task_loss': float(np.mean([metrics.repetition(q) for q in v_seqs]) + 1 - np.mean(v_ended))}
            return {'predictions': {'repetition': [metrics.repetition(q) for q in seqs], 'ended': ended,
                                    'length': [len(q) for q in seqs], 'log_prob': picked.sum(1).tolist(),
                                    'tokens': (held[:, 1:] > 0).sum(1).tolist()},
                    'valid': valid, 'check': mgs_checks(trainer.history) if method != 'MLE' else {},
                    'extra': {'seconds_per_update': per_update}}
        return run
    return [runner.Arm('(b) ' + m, arm(m), *mgs_grid(m, 'task_loss', 'min'), metrics=METRICS_B, part='b')
            for m in methods]


def cost_ratio(part):
    """Claim 2b's rule: the ratio of mean seconds per update, MGS over MLE, reported (no threshold)."""
    def decide(results):
        cost = {m: np.mean([s['results']['%s %s' % (part, m)]['extra']['seconds_per_update']
                            for s in results['seeds']]) for m in ('MLE', 'MGS')}
        return '%.2fx (%.3f s vs %.3f s)' % (cost['MGS'] / cost['MLE'], cost['MGS'], cost['MLE']), 'reported'
    return decide


def main(argv=None):
    p = experiment.parser(__doc__, 'mgs')
    p.add_argument('--maxlen', type=int, default=64, help='tokens per review')
    p.add_argument('--beta', type=float, default=20.0, help='MGS inverse temperature')
    p.add_argument('--decode_len', type=int, default=40, help='tokens decoded per prefix (sequence experiment)')
    p.add_argument('--experiments', nargs='+', default=['classification', 'sequences'],
                   choices=['classification', 'sequences'], help='which of the two experiments to run')
    p.add_argument('--majority', type=int, default=None, help='(a) negatives in training (default 2000; quick 100)')
    p.add_argument('--test_size', type=int, default=None, help='(a) test reviews (default 3000; quick 150)')
    p.add_argument('--lm_steps', type=int, default=None, help='(b) MLE pretraining steps (default 3000; quick 40)')
    p.add_argument('--prefixes', type=int, default=None, help='(b) held-out prefixes (default 500; quick 30)')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    paths = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(paths[2])
    majority = args.majority or (100 if args.quick else 2000)
    n_test = args.test_size or (150 if args.quick else 3000)
    epochs = 1 if args.quick else 3
    steps = args.lm_steps or (40 if args.quick else 3000)
    n_updates = 4 if args.quick else 200
    n_prefix = args.prefixes or (30 if args.quick else 500)
    n_valid = 30 if args.quick else 600          # (a) validation reviews (the MGS arms' choice)
    n_valid_prefix = 20 if args.quick else 200   # (b) validation prefixes
    QUICK['on'] = args.quick
    run_a, run_b = 'classification' in args.experiments, 'sequences' in args.experiments
    if run_b:
        sents = [s for line in corpora.peoples_daily_text() for s in corpora.split_sentences(line)
                 if 16 <= len(s) <= 60]
        lm_pool, _, lm_test = train_valid_test_split(sents, seed=args.seed, valid=0, test=n_prefix)
        prefixes = [tokenizer.encode(s)[0][1:11] for s in lm_test]
        held = [tokenizer.encode(s, maxlen=64)[0][1:] for s in lm_test]   # "sentence [SEP]", as in training
        sentences = np.zeros((len(held), max(map(len, held))), 'int32')
        for i, r in enumerate(held):
            sentences[i, :len(r)] = r
        # v2: validation prefixes (the MGS arms' choice) from the pool, kept out of every training draw
        cut = np.random.RandomState(args.seed + 7).permutation(len(lm_pool))
        valid_prefixes = [tokenizer.encode(lm_pool[i])[0][1:11] for i in cut[:n_valid_prefix]]
        lm_pool = [lm_pool[i] for i in sorted(cut[n_valid_prefix:])]
    n_lm = 1000 if args.quick else 40000

    def data(seed):
        train, valid, test, labels, info = {}, {}, {}, {}, {}
        if run_a:
            pool, valid_reviews, reviews = classify.sentiment_sets(0, n_valid, n_test, seed, base_seed=args.seed)
            valid['a'] = classify.encode_pairs(tokenizer, valid_reviews, args.maxlen)
            info['(a) valid'] = len(valid_reviews)
            texts, ys = imbalanced_subset([t for t, _ in pool], [y for _, y in pool], ratio=10, minority=1,
                                          seed=seed, max_majority=majority)
            train['a'] = (clf.encode(tokenizer, texts, args.maxlen), np.array(ys))
            test['a'], labels['a'] = classify.encode_pairs(tokenizer, reviews, args.maxlen)
            info['(a) train'], info['(a) test'] = len(ys), len(reviews)
        if run_b:
            order = np.random.RandomState(seed).permutation(len(lm_pool))[:n_lm]
            ids = [tokenizer.encode(lm_pool[i], maxlen=64)[0][1:] for i in order]  # LM over "sentence [SEP]"
            x = np.zeros((len(ids), max(map(len, ids))), 'int32')
            for i, r in enumerate(ids):
                x[i, :len(r)] = r
            train['b'], test['b'], labels['b'] = x, {'prefixes': prefixes, 'sentences': sentences}, None
            valid['b'] = valid_prefixes
            info['(b) train'], info['(b) prefixes'], info['(b) valid prefixes'] = len(x), len(prefixes), \
                len(valid_prefixes)
        return runner.Split(train, valid, test, labels, info=info)

    # a smoke run: the pure arms only; the full run adds the mixed MGS + MLE arm
    methods = ('MLE', 'MGS') if args.quick else ('MLE', 'MGS', 'MGS + MLE')
    arms = (classification_arms(args, paths, epochs, methods) if run_a else []) + \
        (sequence_arms(args, tokenizer, steps, n_updates, methods) if run_b else [])
    claims = []
    for part, run_part, metric, text in (('(a)', run_a, 'macro_f1', 'test macro-F1, %s - %s'),
                                         ('(b)', run_b, 'task_loss', 'repetition + non-termination, %s - %s')):
        if not run_part:
            continue
        for method in methods[1:]:  # each MGS variant against MLE, in the direction docs/claims.md states
            better, worse = (method, 'MLE') if part == '(a)' else ('MLE', method)
            claims.append(runner.Claim('2a', '%s %s' % (part, text % (better, worse)), metric,
                                       '%s %s' % (part, better), '%s %s' % (part, worse)))
        claims.append(runner.CustomClaim('2b', '%s seconds per update, MGS / MLE (same run)' % part, cost_ratio(part)))

    def tables(report, results):
        rows, costs = [], {}
        for s in results['seeds']:
            for name, r in s['results'].items():
                costs.setdefault(name, []).append(r['extra']['seconds_per_update'])
        for part in ('(a)', '(b)'):
            mle = costs.get(part + ' MLE')
            if mle:
                for name in [part + ' ' + m for m in methods]:
                    rows.append([name, '%.3f' % np.mean(costs[name]), '%.1fx' % (np.mean(costs[name]) / np.mean(mle))])
        report.table('Claim 2b: wall seconds per update (same run)', ['arm', 'seconds per update', 'cost vs MLE'],
                     rows, note='reported, not judged: MGS evaluates 4 candidates per update')
        report.add('seconds_per_update', {k: v for k, v in costs.items()})
        if run_a:
            plt = experiment.plt()
            fig, ax = plt.subplots(figsize=(6, 4))
            first = results['seeds'][0]['results']
            for name in ('(a) MLE', '(a) MGS'):
                ax.plot(first[name]['extra']['seconds'], [1 - c['macro_f1'] for c in first[name]['curve']],
                        marker='o', label=name)
            ax.set_xlabel('training time after the warm start (s)')
            ax.set_ylabel('test task loss (1 - macro F1)')
            ax.legend()
            report.figure(fig, 'task_loss_vs_time.png', '(a) task loss against training time (seed %d)'
                          % ctx.seeds[0])

    return runner.run(ctx, 'Article 2: MLE-guided parameter search (MGS) vs MLE', data, arms, {}, claims,
                      tables=tables, raw_metrics=('task_loss', 'length', 'perplexity'),
                      config={'majority': majority, 'test_size': n_test, 'epochs': epochs, 'lm_steps': steps,
                              'updates': n_updates, 'prefixes': n_prefix, 'beta': args.beta,
                              'decode_len': args.decode_len, 'experiments': args.experiments,
                              'grid': None if args.quick else GRID, 'valid': n_valid, 'valid_prefixes': n_valid_prefix})


if __name__ == '__main__':
    main()
