import json
import math
import os

import numpy as np
import pytest
from safetensors.numpy import save_file

from bert4keras_ext.checkpoints import CheckpointError, load_hf_model, tiny_vocab

H, LAYERS, HEADS, FF, VOCAB, POS = 16, 2, 2, 32, 40, 32


def random_hf_state(seed=0, prefix='bert.'):
    rng = np.random.RandomState(seed)

    def r(*shape):
        return rng.normal(0, 0.3, shape).astype('float32')

    s = {
        prefix + 'embeddings.word_embeddings.weight': r(VOCAB, H),
        prefix + 'embeddings.position_embeddings.weight': r(POS, H),
        prefix + 'embeddings.token_type_embeddings.weight': r(2, H),
        prefix + 'embeddings.LayerNorm.weight': 1 + r(H),
        prefix + 'embeddings.LayerNorm.bias': r(H),
        prefix + 'embeddings.position_ids': np.arange(POS)[None].astype('int64'),
        prefix + 'pooler.dense.weight': r(H, H),
        prefix + 'pooler.dense.bias': r(H),
    }
    for i in range(LAYERS):
        p = prefix + 'encoder.layer.%d.' % i
        for name in ('attention.self.query', 'attention.self.key', 'attention.self.value',
                     'attention.output.dense'):
            s[p + name + '.weight'] = r(H, H)
            s[p + name + '.bias'] = r(H)
        s[p + 'intermediate.dense.weight'] = r(FF, H)
        s[p + 'intermediate.dense.bias'] = r(FF)
        s[p + 'output.dense.weight'] = r(H, FF)
        s[p + 'output.dense.bias'] = r(H)
        for name in ('attention.output.LayerNorm', 'output.LayerNorm'):
            s[p + name + '.weight'] = 1 + r(H)
            s[p + name + '.bias'] = r(H)
    return s


def write_hf_dir(directory, state, vocab_size=VOCAB):
    os.makedirs(directory, exist_ok=True)
    config = {'model_type': 'bert', 'vocab_size': vocab_size, 'hidden_size': H, 'num_hidden_layers': LAYERS,
              'num_attention_heads': HEADS, 'intermediate_size': FF, 'hidden_act': 'gelu',
              'max_position_embeddings': POS, 'type_vocab_size': 2, 'hidden_dropout_prob': 0.1,
              'attention_probs_dropout_prob': 0.1, 'layer_norm_eps': 1e-12}
    json.dump(config, open(os.path.join(directory, 'config.json'), 'w'))
    save_file(state, os.path.join(directory, 'model.safetensors'))
    open(os.path.join(directory, 'vocab.txt'), 'w').write('\n'.join(tiny_vocab(size=VOCAB)) + '\n')
    return str(directory)


# -------- an independent numpy BERT forward pass, written from the BERT paper / HF naming, not from bert4keras

def layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def linear(x, s, name):
    return x @ s[name + '.weight'].T + s[name + '.bias']


def numpy_bert(s, ids, seg, prefix='bert.'):
    x = (s[prefix + 'embeddings.word_embeddings.weight'][ids]
         + s[prefix + 'embeddings.position_embeddings.weight'][np.arange(ids.shape[1])][None]
         + s[prefix + 'embeddings.token_type_embeddings.weight'][seg])
    x = layer_norm(x, s[prefix + 'embeddings.LayerNorm.weight'], s[prefix + 'embeddings.LayerNorm.bias'])
    b, n, d = x.shape[0], x.shape[1], H // HEADS
    for i in range(LAYERS):
        p = prefix + 'encoder.layer.%d.' % i

        def heads(t):
            return t.reshape(b, n, HEADS, d).transpose(0, 2, 1, 3)

        q, k, v = (heads(linear(x, s, p + 'attention.self.' + m)) for m in ('query', 'key', 'value'))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        att = scores / scores.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, H)
        x = layer_norm(x + linear(ctx, s, p + 'attention.output.dense'),
                       s[p + 'attention.output.LayerNorm.weight'], s[p + 'attention.output.LayerNorm.bias'])
        f = linear(gelu(linear(x, s, p + 'intermediate.dense')), s, p + 'output.dense')
        x = layer_norm(x + f, s[p + 'output.LayerNorm.weight'], s[p + 'output.LayerNorm.bias'])
    return x


@pytest.mark.parametrize('prefix', ['bert.', ''])
def test_hf_import_matches_numpy_forward(tmp_path, prefix):
    state = random_hf_state(seed=3, prefix=prefix)
    d = write_hf_dir(tmp_path / 'hf', state)
    model, report = load_hf_model(d)
    assert report.ok and not report.missing
    rng = np.random.RandomState(1)
    ids = rng.randint(1, VOCAB, size=(3, 9))
    seg = (np.arange(9)[None] >= 5).astype('int64').repeat(3, 0)
    ours = model.predict([ids, seg], verbose=0)
    reference = numpy_bert(state, ids, seg, prefix=prefix)
    assert np.abs(ours - reference).max() <= 1e-4


def test_hf_pooler_loaded_when_requested(tmp_path):
    state = random_hf_state(seed=4)
    d = write_hf_dir(tmp_path / 'hf', state)
    transformer, report = load_hf_model(d, with_pool=True, return_keras_model=False)
    assert 'bert/pooler/dense/kernel' in report.loaded
    np.testing.assert_array_equal(transformer.layers['Pooler-Dense'].kernel.numpy(),
                                  state['bert.pooler.dense.weight'].T)


def test_unknown_keys_are_named(tmp_path):
    state = random_hf_state()
    state['bert.encoder.layer.0.attention.self.rotary.weight'] = np.zeros((2, 2), 'float32')
    d = write_hf_dir(tmp_path / 'hf', state)
    with pytest.raises(CheckpointError, match=r'model.safetensors has 1 key\(s\) that are not BERT parameters: '
                                              r'bert.encoder.layer.0.attention.self.rotary.weight'):
        load_hf_model(d)
    _, report = load_hf_model(d, allow_unknown=True)
    assert report.ok


def test_missing_safetensors_file(tmp_path):
    d = write_hf_dir(tmp_path / 'hf', random_hf_state())
    os.remove(os.path.join(d, 'model.safetensors'))
    with pytest.raises(CheckpointError, match='model.safetensors does not exist'):
        load_hf_model(d)


def test_hf_vocab_mismatch(tmp_path):
    d = write_hf_dir(tmp_path / 'hf', random_hf_state())
    open(os.path.join(d, 'vocab.txt'), 'a').write('x1\n')
    with pytest.raises(CheckpointError, match='vocab.txt has 41 tokens'):
        load_hf_model(d)


def test_hf_missing_layer_is_an_error(tmp_path):
    state = {k: v for k, v in random_hf_state().items() if 'encoder.layer.1.' not in k}
    d = write_hf_dir(tmp_path / 'hf', state)
    with pytest.raises(CheckpointError, match=r'lacks 16 variable\(s\).*layer_1'):
        load_hf_model(d)


def test_non_bert_config_rejected(tmp_path):
    d = write_hf_dir(tmp_path / 'hf', random_hf_state())
    path = os.path.join(d, 'config.json')
    config = json.load(open(path))
    config['model_type'] = 'gpt2'
    json.dump(config, open(path, 'w'))
    with pytest.raises(CheckpointError, match="describes a 'gpt2' model"):
        load_hf_model(d)


def test_roberta_checkpoint_imports_with_its_position_offset(tmp_path):
    """model_type 'roberta' was accepted but its 'roberta.*' keys failed as unknown. RoBERTa's position ids start
    at pad_token_id + 1 = 2: our position p must read HF row p + 2 (numpy reference on the shifted table)."""
    state = random_hf_state(seed=5, prefix='roberta.')
    state['roberta.embeddings.position_embeddings.weight'] = np.random.RandomState(6).normal(
        0, 0.3, (POS + 2, H)).astype('float32')
    state['roberta.embeddings.token_type_embeddings.weight'] = state[
        'roberta.embeddings.token_type_embeddings.weight'][:1]
    state['lm_head.dense.weight'] = np.eye(H, dtype='float32')
    state['lm_head.dense.bias'] = np.zeros(H, 'float32')
    state['lm_head.layer_norm.weight'] = np.ones(H, 'float32')
    state['lm_head.layer_norm.bias'] = np.zeros(H, 'float32')
    state['lm_head.bias'] = np.zeros(VOCAB, 'float32')
    state['lm_head.decoder.weight'] = state['roberta.embeddings.word_embeddings.weight']
    d = write_hf_dir(tmp_path / 'hf', state)
    path = os.path.join(d, 'config.json')
    config = json.load(open(path))
    config.update(model_type='roberta', max_position_embeddings=POS + 2, type_vocab_size=1, pad_token_id=1)
    json.dump(config, open(path, 'w'))
    model, report = load_hf_model(d)
    assert report.ok and not [k for k in report.unexpected if 'roberta' in k or 'lm_head' in k]
    rng = np.random.RandomState(1)
    ids = rng.randint(2, VOCAB, size=(2, 7))
    seg = np.zeros_like(ids)
    shifted = dict(state)
    shifted['roberta.embeddings.position_embeddings.weight'] = state[
        'roberta.embeddings.position_embeddings.weight'][2:]
    reference = numpy_bert(shifted, ids, seg, prefix='roberta.')
    assert np.abs(model.predict([ids, seg], verbose=0) - reference).max() <= 1e-4
    _, report = load_hf_model(d, with_mlm=True)
    assert 'cls/predictions/transform/dense/kernel' in report.loaded


def test_skipped_keys_are_reported_as_unexpected(tmp_path):
    """allow_unknown=True skipped classifier.weight but the report said 'unexpected: 0'."""
    state = random_hf_state()
    state['classifier.weight'] = np.zeros((2, H), 'float32')
    state['classifier.bias'] = np.zeros(2, 'float32')
    d = write_hf_dir(tmp_path / 'hf', state)
    _, report = load_hf_model(d, allow_unknown=True, with_pool=True)
    assert report.ok and report.unexpected == ['classifier.bias', 'classifier.weight']
    assert 'unexpected: 2' in str(report)


def test_wrong_vocab_size_in_the_config_is_named_as_the_config(tmp_path):
    """A wrong vocab_size was reported as a vocab.txt problem."""
    d = write_hf_dir(tmp_path / 'hf', random_hf_state(), vocab_size=VOCAB + 3)
    with pytest.raises(CheckpointError, match=r'says vocab_size=43 but the checkpoint.s word embeddings have 40 '
                                              r'rows.*set vocab_size to 40'):
        load_hf_model(d)
