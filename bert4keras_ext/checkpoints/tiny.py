"""Tiny random Google-format checkpoints, for tests and demos (no download needed)."""
import os

import numpy as np
import tensorflow as tf

SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']


def tiny_vocab(chars=None, size=None):
    """Special tokens, then ``chars`` (default: common Chinese characters), truncated/padded to ``size``."""
    if chars is None:
        chars = '的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说'
    tokens = list(SPECIAL_TOKENS)
    for c in chars:
        if c not in tokens:
            tokens.append(c)
    if size is not None:
        tokens = tokens[:size]
        tokens += ['[unused%d]' % i for i in range(size - len(tokens))]
    return tokens


def tiny_config(vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=64, hidden_act='gelu', type_vocab_size=2):
    return {
        'vocab_size': vocab_size, 'hidden_size': hidden_size, 'num_hidden_layers': num_hidden_layers,
        'num_attention_heads': num_attention_heads, 'intermediate_size': intermediate_size,
        'hidden_act': hidden_act, 'hidden_dropout_prob': 0.0, 'attention_probs_dropout_prob': 0.0,
        'max_position_embeddings': max_position_embeddings, 'type_vocab_size': type_vocab_size,
        'initializer_range': 0.02,
    }


def make_tiny_checkpoint(directory, vocab=None, seed=0, with_mlm=True, with_pool=True, with_nsp=True,
                         **config_kwargs):
    """Write a random BERT checkpoint directory (bert_config.json, bert_model.ckpt.*, vocab.txt).

    Every weight gets a seeded random value (LayerNorm gammas and all biases included, so a test that loads it
    can tell any two variables apart). Returns the directory.
    """
    from bert4keras_ext.checkpoints.google import save_checkpoint_dir
    from bert4keras_ext.models import build_model
    vocab = list(vocab) if vocab is not None else tiny_vocab(size=64)
    config = tiny_config(len(vocab), **config_kwargs)
    transformer = build_model(config, with_mlm=with_mlm, with_pool=with_pool, with_nsp=with_nsp)
    rng = np.random.RandomState(seed)
    weights = transformer.model.weights
    tf.keras.backend.batch_set_value([(w, rng.normal(0, 0.05, w.shape.as_list()).astype('float32'))
                                      for w in weights])
    os.makedirs(directory, exist_ok=True)
    save_checkpoint_dir(transformer, directory, config=config, vocab=vocab)
    return directory
