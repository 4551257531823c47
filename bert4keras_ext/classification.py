"""Fine-tuning a bert4keras BERT as a text classifier: encoding, model building, training, prediction.

Shared by the classification task scripts (articles 2, 3, 4, 6, 7, 8); the head pools a sentence vector (the mean of
the token vectors by default, or [CLS]) and outputs logits (``num_classes`` of them, or one for a binary sigmoid
head).
"""
import math

import numpy as np
import tensorflow as tf

from bert4keras_ext.layers.masks import TakeFirstToken
from bert4keras_ext.training.optimizers import FusedAdamW

# The fine-tuning recipe of the default model, chosen on validation reviews (never the test reviews) by
# benchmarks/finetune_recipe.py; the grid is in results/base_model/recipe.json. Mean pooling, lr 3e-4 and batch 32
# had the best validation accuracy averaged over 600 and 2,000 training reviews (0.793 / 0.796); training runs 8
# epochs of warm-up + linear decay and keeps the best validation epoch (``restore_best``) when validation data is
# given. ``pooling`` is read by build_classifier, the rest by fine_tune.
RECIPE = dict(learning_rate=3e-4, batch_size=32, epochs=8, warmup=0.1, weight_decay=0.01, restore_best=True,
              pooling='mean')


@tf.keras.utils.register_keras_serializable(package='bert4keras_ext')
class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then linear decay to 0 at ``total_steps`` (BERT's
    fine-tuning schedule)."""

    def __init__(self, peak, warmup_steps, total_steps):
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = (step + 1.0) / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * tf.clip_by_value(tf.minimum(warm, decay), 0.0, 1.0)

    def get_config(self):
        return {'peak': self.peak, 'warmup_steps': self.warmup_steps, 'total_steps': self.total_steps}


def tokenizer_for(dict_path):
    from bert4keras.tokenizers import Tokenizer
    return Tokenizer(dict_path, do_lower_case=True)


def encode(tokenizer, texts, maxlen, second=None):
    """``(token_ids, segment_ids)`` padded to the longest row (at most ``maxlen``); ``second``: optional text
    pairs (segment 1)."""
    from bert4keras.snippets import sequence_padding
    ids, segs = [], []
    for i, t in enumerate(texts):
        if second is None:
            a, b = tokenizer.encode(t, maxlen=maxlen)
        else:
            a, b = tokenizer.encode(t, second[i], maxlen=maxlen)
        ids.append(a)
        segs.append(b)
    return sequence_padding(ids).astype('int32'), sequence_padding(segs).astype('int32')


def build_classifier(config_path, checkpoint_path, num_outputs, dropout=0.1, bias_initializer='zeros',
                     model_class=tf.keras.Model, pooling=None, dict_path=None, **model_kwargs):
    """BERT (loaded with a checked report) + dropout + Dense(num_outputs) logits on a sentence vector.

    Args:
        config_path, checkpoint_path: the Google-format checkpoint.
        num_outputs: logits per example.
        dict_path: the vocab.txt to check against the config and the checkpoint (a size mismatch is an error
            that names the odd one out); default: ``vocab.txt`` beside the config, when there is one.
        pooling: ``'cls'`` (the [CLS] vector) or ``'mean'`` (:class:`~bert4keras_ext.layers.MaskedMeanPool`, the
            mean over real tokens); default ``RECIPE['pooling']``.
        model_class: e.g. :class:`bert4keras_ext.training.FloodingModel`; ``model_kwargs`` go to it.

    Returns:
        ``(model, bert_model)``.

    Example::

        model, bert = build_classifier(ckpt + '/bert_config.json', ckpt + '/bert_model.ckpt', 2)
    """
    import os
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.layers import MaskedMeanPool
    pooling = pooling or RECIPE['pooling']
    if pooling not in ('cls', 'mean'):
        raise ValueError("pooling must be 'cls' or 'mean', got %r" % (pooling,))
    if dict_path is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(config_path)), 'vocab.txt')
        dict_path = beside if os.path.isfile(beside) else None
    bert, report = load_model(config_path=config_path, checkpoint_path=checkpoint_path, dict_path=dict_path,
                              allow_missing=False)
    if pooling == 'cls':
        x = TakeFirstToken(name='CLS')(bert.output)
    else:
        x = MaskedMeanPool(name='mean_pool')([bert.output, bert.inputs[0]])
    x = tf.keras.layers.Dropout(dropout)(x)
    logits = tf.keras.layers.Dense(num_outputs, bias_initializer=bias_initializer, name='logits')(x)
    return model_class(bert.inputs, logits, **model_kwargs), bert


def head_model(hidden, classes, dropout=0.1, name='head', pooling=None):
    """A classification head as its own model, shared by models that must exchange encoders under one head
    (BERT-of-Theseus): sentence vector -> dropout -> Dense logits.

    ``pooling``: ``'cls'`` — input the ``[b, n, hidden]`` sequence, read its [CLS] vector; ``'mean'`` — inputs
    ``[sequence, token_ids]``, the mean over real tokens (:class:`~bert4keras_ext.layers.MaskedMeanPool`); default
    ``RECIPE['pooling']``. Call a mean-pooling head as ``head([sequence, token_ids])``."""
    from bert4keras_ext.layers import MaskedMeanPool
    pooling = pooling or RECIPE['pooling']
    if pooling not in ('cls', 'mean'):
        raise ValueError("pooling must be 'cls' or 'mean', got %r" % (pooling,))
    seq = tf.keras.Input((None, hidden))
    if pooling == 'cls':
        inputs, x = seq, TakeFirstToken()(seq)
    else:
        ids = tf.keras.Input((None,), dtype='int32')
        inputs, x = [seq, ids], MaskedMeanPool()([seq, ids])
    x = tf.keras.layers.Dropout(dropout)(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(classes)(x), name=name)


def throughput(model, x, batch_size=64, repeats=2):
    """Inference examples per second of ``model.predict`` on ``x`` (a list of input arrays): best of ``repeats``
    timed passes after one warm-up batch."""
    import time
    xs = x if isinstance(x, (list, tuple)) else [x]
    model.predict([a[:batch_size] for a in xs], batch_size=batch_size, verbose=0)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(xs, batch_size=batch_size, verbose=0)
        best = min(best, time.perf_counter() - start)
    return len(xs[0]) / best


def _round_up(n, limit, multiple=8):
    """``n`` rounded up to a multiple of 8 (at most ``limit``): few distinct batch shapes, few graph traces."""
    return min(limit, -(-n // multiple) * multiple)


def _is_bert_input(x):
    return isinstance(x, (list, tuple)) and len(x) == 2 and np.ndim(x[0]) == 2


def predict_logits(model, x, batch_size=64):
    """Logits of ``model`` on ``x``. BERT inputs ``[token_ids, segment_ids]`` are predicted in batches of similar
    length, each cut to its longest row (padding is masked, so the logits equal those of the padded input; fewer
    padded positions are computed)."""
    if not _is_bert_input(x):
        return model.predict(x, batch_size=batch_size, verbose=0)
    ids, segs = np.asarray(x[0]), np.asarray(x[1])
    lengths = np.maximum((ids != 0).sum(1), 1)
    order = np.argsort(lengths, kind='stable')
    out = None
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        n = _round_up(int(lengths[idx].max()), ids.shape[1])
        logits = model([ids[idx, :n], segs[idx, :n]], training=False).numpy()
        if out is None:
            out = np.zeros((len(ids),) + logits.shape[1:], logits.dtype)
        out[idx] = logits
    return out


class LengthBatches(tf.keras.utils.Sequence):
    """Training batches of BERT inputs ``[token_ids, segment_ids]`` (right-padded arrays) cut to their longest row.

    Rows are grouped by length within windows of ``window`` batches, so most batches hold rows of similar length;
    the windows, the rows inside them and the batch order are reshuffled every epoch from ``seed`` (reproducible).
    Padding is masked by BERT, so this changes only what is computed, not the model's outputs."""

    def __init__(self, x, y, batch_size, seed=0, sample_weight=None, window=20):
        self.ids, self.segs = np.asarray(x[0]), np.asarray(x[1])
        self.y, self.sample_weight = np.asarray(y), sample_weight
        self.batch_size, self.seed, self.window = int(batch_size), int(seed), int(window)
        self.lengths = np.maximum((self.ids != 0).sum(1), 1)
        self.epoch = 0
        self._plan()

    def _plan(self):
        rng = np.random.RandomState([self.seed, self.epoch])
        order = rng.permutation(len(self.y))
        span = self.batch_size * self.window
        groups = [order[i:i + span] for i in range(0, len(order), span)]
        rows = np.concatenate([g[np.argsort(self.lengths[g], kind='stable')] for g in groups])
        batches = [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        self.batches = [batches[i] for i in rng.permutation(len(batches))]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        idx = self.batches[i]
        n = _round_up(int(self.lengths[idx].max()), self.ids.shape[1])
        x = [self.ids[idx, :n], self.segs[idx, :n]]
        if self.sample_weight is None:
            return x, self.y[idx]
        return x, self.y[idx], np.asarray(self.sample_weight)[idx]

    def on_epoch_end(self):
        self.epoch += 1
        self._plan()


class KeepBest(tf.keras.callbacks.Callback):
    """After each epoch, score ``metric(model, x, y)`` on validation data; at the end restore the best epoch's
    weights. ``self.scores`` holds every epoch's score, ``self.best_epoch`` the chosen one (0-based)."""

    def __init__(self, x, y, metric=None, batch_size=64):
        super().__init__()
        self.x, self.y, self.batch_size = x, np.asarray(y), batch_size
        self.metric = metric or accuracy
        self.scores, self.best_epoch, self._best = [], None, None

    def on_epoch_end(self, epoch, logs=None):
        score = float(self.metric(self.model, self.x, self.y))
        self.scores.append(score)
        if self._best is None or score > self.scores[self.best_epoch]:
            self.best_epoch, self._best = epoch, [w.numpy().copy() for w in self.model.weights]
        if logs is not None:
            logs['val_score'] = score

    def on_train_end(self, logs=None):
        if self._best is not None:
            for w, value in zip(self.model.weights, self._best):
                w.assign(value)


def accuracy(model, x, y, batch_size=64):
    """Accuracy of a logits model (one logit: sigmoid head, else argmax)."""
    logits = predict_logits(model, x, batch_size)
    pred = (logits[:, 0] > 0).astype(int) if logits.shape[-1] == 1 else logits.argmax(-1)
    return float(np.mean(pred == np.asarray(y).reshape(-1)))


def build_before_fit(model, y):
    """Create a compiled model's optimizer slots (and, for a single output of fixed shape, its compiled metrics'
    variables) before ``fit``. A ``tf.function`` whose first call creates variables is traced twice, so ``fit`` on
    a model whose optimizer is still unbuilt traces its train step twice; after this call it traces it once (same
    training: the variables are the ones ``fit`` would create, with the same initial values).

    Args:
        model: a compiled ``tf.keras.Model``.
        y: training labels (one row is used to type the metrics, as ``fit`` would).

    Returns:
        ``model``.

    Example:
        >>> model.compile(tf.keras.optimizers.AdamW(1e-4), loss, metrics=['accuracy'])
        >>> build_before_fit(model, y).fit(x, y)      # model.train_function is traced once
    """
    if not model.built:  # a subclassed model not called yet: fit builds it (and its optimizer) on the first batch
        return model
    model.optimizer.build(model.trainable_variables)
    metrics = getattr(model, 'compiled_metrics', None)
    try:
        shape = model.output_shape
    except AttributeError:  # no single defined output shape: fit builds the metrics
        return model
    if metrics is not None and y is not None and not metrics.built and isinstance(shape, tuple) and None not in shape[1:]:
        y_true = tf.convert_to_tensor(np.asarray(y)[:1])
        metrics.build(tf.zeros((1,) + tuple(shape[1:]), dtype=model.outputs[0].dtype), y_true)
    return model


def fine_tune(model, loss, x, y, recipe=None, seed=0, validation_data=None, metric=None, callbacks=None,
              sample_weight=None, verbose=0, metrics=None, **overrides):
    """Fine-tune with a recipe (default :data:`RECIPE`; keyword overrides win): AdamW (``weight_decay``, not on
    LayerNorm or biases) with linear warm-up over ``warmup`` of the steps and linear decay to 0, ``epochs`` passes
    in batches of ``batch_size``, data shuffled with ``seed``. With ``validation_data`` and ``restore_best`` the
    best epoch by ``metric`` (default accuracy) is kept. ``metrics``: Keras metrics to compile with (e.g.
    ``['accuracy']`` for ``model.evaluate``). Returns ``(history, keep_best_or_None)``."""
    r = dict(RECIPE if recipe is None else recipe, **overrides)
    r.pop('pooling', None)  # a property of the model (build_classifier), not of the training
    unknown = set(r) - set(RECIPE)
    if unknown:
        raise TypeError('unknown recipe keys: %s' % ', '.join(sorted(unknown)))
    n = len(y)
    total = r['epochs'] * math.ceil(n / r['batch_size'])
    tf.keras.utils.set_random_seed(seed)
    optimizer = FusedAdamW(WarmupLinearDecay(r['learning_rate'], int(r['warmup'] * total), total),
                           weight_decay=r['weight_decay'])
    optimizer.exclude_from_weight_decay(var_names=['Norm', 'bias', 'Bias'])
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    build_before_fit(model, y)
    callbacks = list(callbacks or [])
    keep = None
    if validation_data is not None and r['restore_best']:
        keep = KeepBest(*validation_data, metric=metric)
        callbacks.append(keep)
    distributed = tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1
    if _is_bert_input(x) and not distributed:  # batches cut to their longest row: same outputs, less padding
        # (under a multi-replica strategy the padded arrays go to fit: Keras splits each global batch evenly)
        data = LengthBatches(x, y, r['batch_size'], seed=seed, sample_weight=sample_weight)
        history = model.fit(data, epochs=r['epochs'], verbose=verbose, callbacks=callbacks)
    else:
        history = model.fit(x, y, epochs=r['epochs'], batch_size=r['batch_size'], shuffle=True, verbose=verbose,
                            callbacks=callbacks, sample_weight=sample_weight)
    return history, keep


def build_char_cnn(vocab_size, num_outputs, embedding_dim=64, filters=128, kernel_size=3, hidden=64, seed=0):
    """A ReLU char-CNN (positively homogeneous after the embedding): Embedding -> Conv1D(relu) -> global max pool
    -> Dense(relu) -> Dense logits. Inputs: token ids ``[b, n]`` (0 = padding). Each layer has its own initializer
    seed (one seeded instance would give every kernel the same stream of values, only scaled)."""
    def init(k):
        return tf.keras.initializers.GlorotUniform(None if seed is None else seed + k)

    ids = tf.keras.Input((None,), dtype='int32', name='token_ids')
    x = tf.keras.layers.Embedding(vocab_size, embedding_dim, name='char_embedding',
                                  embeddings_initializer=tf.keras.initializers.RandomUniform(-0.05, 0.05, seed))(ids)
    x = tf.keras.layers.Conv1D(filters, kernel_size, padding='same', activation='relu', kernel_initializer=init(1),
                               name='conv')(x)
    x = tf.keras.layers.GlobalMaxPooling1D()(x)
    x = tf.keras.layers.Dense(hidden, activation='relu', kernel_initializer=init(2), name='hidden')(x)
    logits = tf.keras.layers.Dense(num_outputs, kernel_initializer=init(3), name='logits')(x)
    return tf.keras.Model(ids, logits)
