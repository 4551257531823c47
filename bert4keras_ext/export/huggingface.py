"""Weights out to the Hugging Face format: ``config.json`` + ``model.safetensors`` (+ ``vocab.txt``) that
``transformers.BertModel.from_pretrained`` / ``BertForMaskedLM.from_pretrained`` read, the inverse of
:func:`bert4keras_ext.checkpoints.load_hf_model` (no torch needed to write them)."""
import json
import os
import shutil
import types

import numpy as np
import tensorflow as tf

from bert4keras_ext.checkpoints.huggingface import _google_name
from bert4keras_ext.checkpoints.report import CheckpointError


def _hf_keys(num_layers):
    """Every HF BERT parameter key (``BertForPreTraining`` naming)."""
    keys = ['bert.embeddings.%s.weight' % e for e in ('word_embeddings', 'position_embeddings',
                                                       'token_type_embeddings')]
    keys += ['bert.embeddings.LayerNorm.weight', 'bert.embeddings.LayerNorm.bias',
             'bert.pooler.dense.weight', 'bert.pooler.dense.bias',
             'cls.predictions.transform.dense.weight', 'cls.predictions.transform.dense.bias',
             'cls.predictions.transform.LayerNorm.weight', 'cls.predictions.transform.LayerNorm.bias',
             'cls.predictions.bias', 'cls.seq_relationship.weight', 'cls.seq_relationship.bias']
    for i in range(num_layers):
        p = 'bert.encoder.layer.%d.' % i
        for m in ('attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense',
                  'attention.output.LayerNorm', 'intermediate.dense', 'output.dense', 'output.LayerNorm'):
            keys += [p + m + '.weight', p + m + '.bias']
    return keys


def _layer(model, name):
    if isinstance(model, tf.keras.Model):
        try:
            return model.get_layer(name)
        except ValueError:
            return None
    return model.layers.get(model.prefixed(name))


def _google_weights(model):
    """``{google name: array}`` of a bert4keras BERT (builder or its Keras model)."""
    from bert4keras.models import BERT
    n = 0
    while _layer(model, 'Transformer-%d-MultiHeadSelfAttention' % n) is not None:
        n += 1
    if n == 0:
        raise CheckpointError('save_hf_model needs a bert4keras BERT: no Transformer-0-MultiHeadSelfAttention layer')
    mapping = BERT.variable_mapping(types.SimpleNamespace(num_hidden_layers=n))
    out = {}
    for layer_name, names in mapping.items():
        layer = _layer(model, layer_name)
        if layer is None or not layer.weights:
            continue
        for name, value in zip(names, tf.keras.backend.batch_get_value(list(layer.weights))):
            out[name] = np.asarray(value)
    if 'cls/seq_relationship/output_weights' in out:  # Keras kernel [H, 2]; Google (and HF) [2, H]
        out['cls/seq_relationship/output_weights'] = out['cls/seq_relationship/output_weights'].T
    return out, n


def save_hf_model(model, directory, vocab=None, config=None):
    """Write ``model`` (a bert4keras BERT: its Keras model or builder, with or without pooler and MLM head) as a
    Hugging Face BERT directory.

    Args:
        model: e.g. ``load_model(ckpt)[0]`` or a fine-tuned classifier's encoder.
        directory: where to write ``config.json`` and ``model.safetensors``.
        vocab: a vocab.txt path (copied) or a list of tokens.
        config: a Google-format config dict (``bert_config.json``) to take the activation and dropout rates from;
            sizes are read off the weights.

    Returns:
        ``directory``. ``architectures`` is ``BertForMaskedLM`` when the MLM head is present, else ``BertModel``.

    Example::

        save_hf_model(encoder, '/tmp/hf_bert', vocab=ckpt + '/vocab.txt')
        # transformers.BertModel.from_pretrained('/tmp/hf_bert') reads it
    """
    from safetensors.numpy import save_file
    google, layers = _google_weights(model)
    inverse = {}
    for key in _hf_keys(layers):
        name, transpose = _google_name(key)
        inverse[name] = (key, transpose)
    tensors = {}
    for name, value in google.items():
        key, transpose = inverse[name]
        tensors[key] = np.ascontiguousarray(value.T if transpose else value).astype('float32')
    emb = google['bert/embeddings/word_embeddings']
    ffn = google['bert/encoder/layer_0/intermediate/dense/kernel']
    att = _layer(model, 'Transformer-0-MultiHeadSelfAttention')
    config = dict(config or {})
    hf = {'architectures': ['BertForMaskedLM' if 'cls/predictions/output_bias' in google else 'BertModel'],
          'model_type': 'bert', 'vocab_size': int(emb.shape[0]), 'hidden_size': int(emb.shape[1]),
          'num_hidden_layers': layers, 'num_attention_heads': int(att.heads),
          'intermediate_size': int(ffn.shape[1]), 'hidden_act': config.get('hidden_act', 'gelu'),
          'hidden_dropout_prob': config.get('hidden_dropout_prob', 0.1),
          'attention_probs_dropout_prob': config.get('attention_probs_dropout_prob', 0.1),
          'max_position_embeddings': int(google['bert/embeddings/position_embeddings'].shape[0]),
          'type_vocab_size': int(google.get('bert/embeddings/token_type_embeddings', np.zeros((2, 1))).shape[0]),
          'initializer_range': config.get('initializer_range', 0.02), 'layer_norm_eps': 1e-12, 'pad_token_id': 0,
          'position_embedding_type': 'absolute'}
    if hf['hidden_act'] == 'gelu_tanh':
        hf['hidden_act'] = 'gelu_new'
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'config.json'), 'w', encoding='utf-8') as f:
        json.dump(hf, f, indent=2)
    save_file(tensors, os.path.join(directory, 'model.safetensors'), metadata={'format': 'pt'})
    if vocab is not None:
        target = os.path.join(directory, 'vocab.txt')
        if isinstance(vocab, (str, os.PathLike)):
            shutil.copyfile(vocab, target)
        else:
            with open(target, 'w', encoding='utf-8') as f:
                f.write('\n'.join(vocab) + '\n')
    return directory
