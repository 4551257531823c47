"""Masked-token accuracy of any Google-format BERT checkpoint (its MLM head) on a list of texts."""
import os

import numpy as np
import tensorflow as tf

from bert4keras_ext.checkpoints.tiny import SPECIAL_TOKENS
from bert4keras_ext.pretraining import data as mlm_data


def mlm_accuracy(directory, texts, maxlen=128, seed=0, max_rows=1024, batch_size=32, rate=0.15):
    """Pack ``texts`` (made half width) into rows of ``maxlen`` tokens, mask ``rate`` of the real tokens of each row
    with fixed seeds (80% [MASK], 10% random, 10% kept) and score the checkpoint's MLM head at those positions.

    Returns ``{'mlm_acc', 'mlm_loss', 'unk_share', 'rows', 'masked'}``; ``unk_share`` is the share of [UNK] among
    the texts' tokens (the vocabulary's coverage of this text).
    """
    from bert4keras.tokenizers import Tokenizer
    from bert4keras_ext.checkpoints import load_model
    model, _ = load_model(directory, with_mlm=True)
    tokenizer = Tokenizer(os.path.join(directory, 'vocab.txt'), do_lower_case=True)
    token_lists = [tokenizer.encode(mlm_data.to_halfwidth(t))[0][1:] for t in texts]
    n_tokens = sum(len(t) - 1 for t in token_lists)
    unk = sum(int(np.sum(np.asarray(t) == tokenizer._token_unk_id)) for t in token_lists)
    breaks = [tokenizer.token_to_id(c) for c in mlm_data.SENTENCE_ENDS]
    rows = mlm_data.pack_sequences(token_lists, maxlen, tokenizer._token_start_id, tokenizer._token_end_id,
                                   break_ids=[b for b in breaks if b != tokenizer._token_unk_id])
    if len(rows) > max_rows:
        rows = rows[np.sort(np.random.RandomState(seed + 7).choice(len(rows), max_rows, replace=False))]
    vocab_size = model.output.shape[-1]
    x, pos, y, w = mlm_data.mask_tokens(rows, np.random.RandomState(seed + 12345), vocab_size,
                                        tokenizer.token_to_id('[MASK]'), len(SPECIAL_TOKENS) - 1, rate=rate,
                                        max_predictions=max(1, int(round(maxlen * rate))))
    hits = losses = 0.0
    for i in range(0, len(x), batch_size):
        probs = model([tf.constant(x[i:i + batch_size]), tf.zeros_like(x[i:i + batch_size])], training=False)
        picked = tf.gather(probs, pos[i:i + batch_size], batch_dims=1).numpy()  # [b, k, V]
        weight = w[i:i + batch_size]
        target = y[i:i + batch_size]
        p_true = np.take_along_axis(picked, target[..., None], axis=-1)[..., 0]
        hits += float(np.sum((picked.argmax(-1) == target) * weight))
        losses += float(np.sum(-np.log(np.maximum(p_true, 1e-12)) * weight))
    masked = float(w.sum())
    return {'mlm_acc': hits / masked, 'mlm_loss': losses / masked, 'unk_share': unk / max(1, n_tokens),
            'rows': int(len(rows)), 'masked': int(masked)}
