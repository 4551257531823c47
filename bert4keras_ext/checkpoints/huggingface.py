"""Import Hugging Face-format BERT weights (``config.json`` + ``model.safetensors``) into bert4keras models.

Many Chinese BERTs are published only in this format. The tensors are read with the ``safetensors`` numpy API (no
torch), renamed to the Google checkpoint names that bert4keras' ``variable_mapping`` uses (``Linear`` weights are
``[out, in]`` and get transposed to Keras ``[in, out]`` kernels), and loaded by the same checked loader as Google
checkpoints, so the same :class:`LoadReport` comes back.
"""
import json
import os
import re

import numpy as np

from bert4keras_ext.checkpoints.google import WORD_EMBEDDINGS, check_vocab, load_weights
from bert4keras_ext.models import build_model
from bert4keras_ext.checkpoints.report import CheckpointError

# HF buffers and tied weights that carry no parameters of their own.
IGNORED = re.compile(r'(^|\.)(position_ids|token_type_ids|cls\.predictions\.decoder\.weight|'
                     r'cls\.predictions\.decoder\.bias|lm_head\.decoder\.weight|lm_head\.decoder\.bias)$')
# the encoder's prefix in each architecture's state dict (BertModel has none)
PREFIXES = ('bert.', 'roberta.')

_LAYER = {
    'attention.self.query': 'attention/self/query',
    'attention.self.key': 'attention/self/key',
    'attention.self.value': 'attention/self/value',
    'attention.output.dense': 'attention/output/dense',
    'attention.output.LayerNorm': 'attention/output/LayerNorm',
    'intermediate.dense': 'intermediate/dense',
    'output.dense': 'output/dense',
    'output.LayerNorm': 'output/LayerNorm',
}
_TOP = {
    'embeddings.word_embeddings': 'bert/embeddings/word_embeddings',
    'embeddings.position_embeddings': 'bert/embeddings/position_embeddings',
    'embeddings.token_type_embeddings': 'bert/embeddings/token_type_embeddings',
    'embeddings.LayerNorm': 'bert/embeddings/LayerNorm',
    'pooler.dense': 'bert/pooler/dense',
    'cls.predictions.transform.dense': 'cls/predictions/transform/dense',
    'cls.predictions.transform.LayerNorm': 'cls/predictions/transform/LayerNorm',
    'lm_head.dense': 'cls/predictions/transform/dense',          # RoBERTa's MLM head
    'lm_head.layer_norm': 'cls/predictions/transform/LayerNorm',
}
_PARAM = {'weight': 'kernel', 'bias': 'bias', 'gamma': 'gamma', 'beta': 'beta'}
_CONFIG_KEYS = ('vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size',
                'hidden_act', 'max_position_embeddings', 'type_vocab_size', 'hidden_dropout_prob',
                'attention_probs_dropout_prob', 'initializer_range')


def _google_name(key):
    """``(google_name, transpose)`` for one HF key, or None when the key is not a BERT parameter we know."""
    k = next((key[len(p):] for p in PREFIXES if key.startswith(p)), key)
    if k in ('cls.predictions.bias', 'lm_head.bias'):
        return 'cls/predictions/output_bias', False
    if k == 'cls.seq_relationship.weight':  # HF Linear [2, H] == Google output_weights [2, H]
        return 'cls/seq_relationship/output_weights', False
    if k == 'cls.seq_relationship.bias':
        return 'cls/seq_relationship/output_bias', False
    m = re.match(r'^encoder\.layer\.(\d+)\.(.+)\.(weight|bias|gamma|beta)$', k)
    if m:
        index, module, param = m.groups()
        if module not in _LAYER:
            return None
        base = 'bert/encoder/layer_%s/%s' % (index, _LAYER[module])
    else:
        m = re.match(r'^(.+)\.(weight|bias|gamma|beta)$', k)
        if not m or m.group(1) not in _TOP:
            return None
        module, param = m.groups()
        base = _TOP[module]
    if module.endswith(('LayerNorm', 'layer_norm')):
        return base + '/' + {'weight': 'gamma', 'gamma': 'gamma', 'bias': 'beta', 'beta': 'beta'}[param], False
    if module.endswith('embeddings') and param == 'weight':
        return base, False
    return base + '/' + _PARAM[param], param == 'weight'


def hf_to_google(tensors, source='<tensors>', allow_unknown=False, skipped=None):
    """Rename a HF BERT/RoBERTa state dict ``{key: array}`` to Google checkpoint names (kernels transposed).

    Keys that are not BERT parameters raise :class:`CheckpointError` naming them (``allow_unknown`` skips them and
    appends them to the list ``skipped`` when one is given, e.g. a classifier head's ``classifier.weight``).
    """
    out, unknown = {}, []
    for key, value in tensors.items():
        if IGNORED.search(key):
            continue
        found = _google_name(key)
        if found is None:
            unknown.append(key)
            continue
        name, transpose = found
        value = np.asarray(value)
        out[name] = np.ascontiguousarray(value.T) if transpose else value
    if unknown and not allow_unknown:
        raise CheckpointError('%s has %d key(s) that are not BERT parameters: %s. Is it a BERT checkpoint (not '
                              'RoFormer/ALBERT/...)? Pass allow_unknown=True to skip them.'
                              % (source, len(unknown), ', '.join(sorted(unknown)[:10])))
    if skipped is not None:
        skipped.extend(sorted(unknown))
    return out


def roberta_positions(weights, config, offset):
    """RoBERTa numbers positions from ``padding_idx + 1`` (``offset`` = pad_token_id + 1; 2 for the published
    models): drop the first ``offset`` rows of the position table so that bert4keras' position 0 reads HF's
    position ``offset``, and shrink ``max_position_embeddings`` to match (514 -> 512)."""
    name = 'bert/embeddings/position_embeddings'
    if name in weights and offset:
        weights[name] = weights[name][offset:]
        config['max_position_embeddings'] = int(weights[name].shape[0])
    return weights, config


def read_hf_config(path):
    """A HF ``config.json`` as a Google-style config dict."""
    if not os.path.isfile(path):
        raise CheckpointError('config file %s does not exist: a HF checkpoint directory needs config.json' % path)
    try:
        with open(path, encoding='utf-8') as f:
            hf = json.load(f)
    except json.JSONDecodeError as exc:
        raise CheckpointError('config file %s is not valid JSON (line %d, column %d: %s)'
                              % (path, exc.lineno, exc.colno, exc.msg)) from exc
    model_type = hf.get('model_type', 'bert')
    if model_type not in ('bert', 'roberta'):
        raise CheckpointError('%s describes a %r model; only BERT/RoBERTa-architecture weights can be imported'
                              % (path, model_type))
    missing = [k for k in _CONFIG_KEYS[:6] if k not in hf]
    if missing:
        raise CheckpointError('config file %s lacks %s' % (path, ', '.join(missing)))
    config = {k: hf[k] for k in _CONFIG_KEYS if k in hf}
    config['model_type'] = model_type
    if model_type == 'roberta':
        config['position_offset'] = int(hf.get('pad_token_id', 1)) + 1
    if config['hidden_act'] == 'gelu_new':
        config['hidden_act'] = 'gelu_tanh'
    return config


def read_safetensors(path):
    from safetensors.numpy import load_file
    if not os.path.isfile(path):
        raise CheckpointError('weights file %s does not exist: expected model.safetensors next to config.json '
                              '(PyTorch .bin files are not read; convert them with safetensors first)' % path)
    try:
        return load_file(path)
    except Exception as exc:
        raise CheckpointError('cannot read %s as safetensors (%s): the file may be truncated or not '
                              'safetensors' % (path, exc)) from exc


def load_hf_model(directory, application='encoder', allow_missing=False, allow_mismatch=False,
                  allow_unknown=False, return_keras_model=True, **kwargs):
    """Build a bert4keras BERT from a HF directory (config.json, model.safetensors, optional vocab.txt) and load
    it; returns ``(model, report)`` exactly as :func:`bert4keras_ext.checkpoints.load_model`.

    ``model_type`` 'bert' (``bert.*`` or bare keys) and 'roberta' (``roberta.*`` keys, ``lm_head.*`` MLM head;
    position ids offset by ``pad_token_id + 1``, which is undone here) are read. Keys skipped by
    ``allow_unknown`` (e.g. a task head's ``classifier.*``) are listed in ``report.unexpected``. RoBERTa's layer
    norms use eps 1e-5 where bert4keras' use 1e-12: outputs agree to about 1e-5, not exactly.
    """
    if not os.path.isdir(directory):
        raise CheckpointError('HF checkpoint directory %s does not exist' % directory)
    config_path = os.path.join(directory, 'config.json')
    weights_path = os.path.join(directory, 'model.safetensors')
    config = read_hf_config(config_path)
    skipped = []
    weights = hf_to_google(read_safetensors(weights_path), source=weights_path, allow_unknown=allow_unknown,
                           skipped=skipped)
    offset = config.pop('position_offset', 0)
    config.pop('model_type', None)
    weights, config = roberta_positions(weights, config, offset)
    vocab_path = os.path.join(directory, 'vocab.txt')
    if os.path.isfile(vocab_path) and kwargs.get('keep_tokens') is None:
        rows = weights[WORD_EMBEDDINGS].shape[0] if WORD_EMBEDDINGS in weights else None
        check_vocab(vocab_path, config, config_path, checkpoint_rows=rows)
    transformer = build_model(config, application=application, **kwargs)
    report = load_weights(transformer, weights, allow_missing=allow_missing, allow_mismatch=allow_mismatch)
    report.source = weights_path
    report.unexpected = sorted(set(report.unexpected) | set(skipped))
    return (transformer.model if return_keras_model else transformer), report
