import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext.checkpoints import (CheckpointError, load_model, make_tiny_checkpoint, save_checkpoint_dir,
                                        tiny_vocab)
from tests.conftest import TINY


def ckpt_tensors(directory):
    reader = tf.train.load_checkpoint(os.path.join(directory, 'bert_model.ckpt'))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}


def copy_dir(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def test_load_assigns_every_checkpoint_tensor(tiny_dir):
    transformer, report = load_model(tiny_dir, with_mlm=True, with_pool=True, with_nsp=True,
                                     return_keras_model=False)
    tensors = ckpt_tensors(tiny_dir)
    assert report.ok and not report.unexpected and not report.missing
    assert sorted(report.loaded) == sorted(tensors)
    # spot-check values through bert4keras' own layer names
    emb = transformer.layers['Embedding-Token'].embeddings.numpy()
    np.testing.assert_array_equal(emb, tensors['bert/embeddings/word_embeddings'])
    nsp = transformer.layers['NSP-Proba'].kernel.numpy()
    np.testing.assert_array_equal(nsp, tensors['cls/seq_relationship/output_weights'].T)
    q = transformer.layers['Transformer-1-MultiHeadSelfAttention'].q_dense.kernel.numpy()
    np.testing.assert_array_equal(q, tensors['bert/encoder/layer_1/attention/self/query/kernel'])


def test_encoder_reports_unused_heads_as_unexpected(tiny_dir):
    _, report = load_model(tiny_dir)
    assert report.ok
    assert 'cls/predictions/output_bias' in report.unexpected
    assert 'bert/pooler/dense/kernel' in report.unexpected
    assert 'cls/predictions/output_bias' not in report.loaded


def test_save_load_save_is_bit_exact(tiny_dir, tmp_path):
    transformer, _ = load_model(tiny_dir, with_mlm=True, with_pool=True, with_nsp=True, return_keras_model=False)
    out = save_checkpoint_dir(transformer, str(tmp_path / 'again'), vocab=os.path.join(tiny_dir, 'vocab.txt'))
    first, second = ckpt_tensors(tiny_dir), ckpt_tensors(out)
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name].dtype == second[name].dtype
        assert first[name].tobytes() == second[name].tobytes(), name
    _, report = load_model(out, with_mlm=True, with_pool=True, with_nsp=True)
    assert report.ok and not report.unexpected


def test_bert4keras_save_weights_as_checkpoint_works(tiny_dir, tmp_path):
    """bert4keras' own method (broken on TF2 upstream) now writes a loadable checkpoint."""
    transformer, _ = load_model(tiny_dir, return_keras_model=False)
    prefix = str(tmp_path / 'm.ckpt')
    transformer.save_weights_as_checkpoint(prefix)
    reader = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(reader.get_tensor('bert/embeddings/word_embeddings'),
                                  transformer.layers['Embedding-Token'].embeddings.numpy())


def test_frozen_layers_still_load(tiny_dir):
    from bert4keras_ext.checkpoints.google import load_weights, read_config
    from bert4keras_ext.models import build_model
    config = read_config(os.path.join(tiny_dir, 'bert_config.json'))
    transformer = build_model(config)
    for layer in transformer.model.layers:
        layer.trainable = False
    report = load_weights(transformer, tiny_dir)
    assert report.ok and len(report.loaded) == 37
    np.testing.assert_array_equal(transformer.layers['Embedding-Token'].embeddings.numpy(),
                                  ckpt_tensors(tiny_dir)['bert/embeddings/word_embeddings'])


def test_keep_tokens_slices_embeddings(tiny_dir):
    keep = [0, 1, 2, 3, 4, 10, 11]
    transformer, report = load_model(tiny_dir, keep_tokens=keep, with_mlm=True, return_keras_model=False)
    assert report.ok
    full = ckpt_tensors(tiny_dir)
    np.testing.assert_array_equal(transformer.layers['Embedding-Token'].embeddings.numpy(),
                                  full['bert/embeddings/word_embeddings'][keep])


def test_outputs_identical_after_reload(tiny_dir, tmp_path):
    model, _ = load_model(tiny_dir, application='unilm')
    transformer, _ = load_model(tiny_dir, application='unilm', return_keras_model=False)
    out = save_checkpoint_dir(transformer, str(tmp_path / 'c'), vocab=os.path.join(tiny_dir, 'vocab.txt'))
    model2, _ = load_model(out, application='unilm')
    ids = np.array([[2, 7, 8, 9, 3, 11, 12]])
    seg = np.array([[0, 0, 0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(model.predict([ids, seg], verbose=0), model2.predict([ids, seg], verbose=0))


# ------------------------------------------------------------------ bad input

def test_missing_directory():
    with pytest.raises(CheckpointError, match='does not exist'):
        load_model('/nonexistent/ckpt_dir')


def test_directory_without_checkpoint(tiny_dir, tmp_path):
    d = tmp_path / 'cfg_only'
    d.mkdir()
    shutil.copy(os.path.join(tiny_dir, 'bert_config.json'), d)
    with pytest.raises(CheckpointError, match=r'no TensorFlow checkpoint \(no \*\.index file\)'):
        load_model(str(d))


def test_directory_without_config(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'nocfg')
    os.remove(os.path.join(d, 'bert_config.json'))
    with pytest.raises(CheckpointError, match='has no bert_config.json'):
        load_model(d)


def test_unreadable_json(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'badjson')
    with open(os.path.join(d, 'bert_config.json'), 'w') as f:
        f.write('{"vocab_size": 40,\n  "hidden_size": }')
    with pytest.raises(CheckpointError, match=r'bert_config.json is not valid JSON \(line 2'):
        load_model(d)


def test_config_missing_field(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'nofield')
    path = os.path.join(d, 'bert_config.json')
    config = json.load(open(path))
    del config['num_attention_heads']
    json.dump(config, open(path, 'w'))
    with pytest.raises(CheckpointError, match='lacks num_attention_heads'):
        load_model(d)


def test_vocab_size_mismatch(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'badvocab')
    with open(os.path.join(d, 'vocab.txt'), 'a') as f:
        f.write('extra1\nextra2\n')
    with pytest.raises(CheckpointError, match=r'vocab.txt has 42 tokens but .*vocab_size=40'):
        load_model(d)


def test_shape_mismatch_is_an_error_naming_the_variable(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'shape')
    path = os.path.join(d, 'bert_config.json')
    config = json.load(open(path))
    config['max_position_embeddings'] = 48
    json.dump(config, open(path, 'w'))
    with pytest.raises(CheckpointError, match=r'bert/embeddings/position_embeddings \(checkpoint \(32, 16\), '
                                              r'model \(48, 16\)\)'):
        load_model(d)
    model, report = load_model(d, allow_mismatch=True)
    assert [m[0] for m in report.mismatched] == ['bert/embeddings/position_embeddings']


def test_missing_variables_error_and_allow(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'deeper')
    path = os.path.join(d, 'bert_config.json')
    config = json.load(open(path))
    config['num_hidden_layers'] = 3
    json.dump(config, open(path, 'w'))
    with pytest.raises(CheckpointError, match=r'lacks 16 variable\(s\).*bert/encoder/layer_2/'):
        load_model(d)
    _, report = load_model(d, allow_missing=True)
    assert len(report.missing) == 16 and all('layer_2' in n for n in report.missing)


def test_nothing_half_loaded_on_error(tiny_dir, tmp_path):
    """When loading fails, no weight of the model was changed."""
    from bert4keras_ext.checkpoints.google import load_weights, read_config
    from bert4keras_ext.models import build_model
    d = copy_dir(tiny_dir, tmp_path / 'half')
    config = read_config(os.path.join(d, 'bert_config.json'))
    config['num_hidden_layers'] = 3
    transformer = build_model(config)
    before = [w.numpy().copy() for w in transformer.model.weights]
    with pytest.raises(CheckpointError):
        load_weights(transformer, d)
    for b, w in zip(before, transformer.model.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_truncated_data_file(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'trunc')
    data = [f for f in os.listdir(d) if '.data-' in f][0]
    with open(os.path.join(d, data), 'r+b') as f:
        f.truncate(100)
    with pytest.raises(CheckpointError, match='truncated'):
        load_model(d)


def test_tiny_checkpoint_is_seeded(tmp_path):
    a = make_tiny_checkpoint(str(tmp_path / 'a'), vocab=tiny_vocab(size=30), seed=5, **TINY)
    b = make_tiny_checkpoint(str(tmp_path / 'b'), vocab=tiny_vocab(size=30), seed=5, **TINY)
    c = make_tiny_checkpoint(str(tmp_path / 'c'), vocab=tiny_vocab(size=30), seed=6, **TINY)
    ta, tb, tc = ckpt_tensors(a), ckpt_tensors(b), ckpt_tensors(c)
    assert all(np.array_equal(ta[k], tb[k]) for k in ta)
    assert not np.array_equal(ta['bert/embeddings/word_embeddings'], tc['bert/embeddings/word_embeddings'])
    assert len(open(os.path.join(a, 'vocab.txt')).read().split()) == 30


def test_mapping_with_a_wrong_weight_count_is_an_error(tiny_dir):
    """zip() used to pair weights with names silently up to the shorter list."""
    from bert4keras_ext.checkpoints.google import load_weights, read_config
    from bert4keras_ext.models import build_model
    transformer = build_model(read_config(os.path.join(tiny_dir, 'bert_config.json')))
    mapping = transformer.variable_mapping()
    name = 'Embedding-Norm'
    mapping[name] = mapping[name][:1]  # gamma and beta in the model, one name in the mapping
    with pytest.raises(CheckpointError, match='layer Embedding-Norm has 2 weights but the mapping names 1'):
        load_weights(transformer, tiny_dir, mapping=mapping)


def test_config_names_a_function_activation_or_refuses(tiny_dir):
    from bert4keras_ext.checkpoints.google import google_config_from_transformer, read_config
    from bert4keras_ext.models import build_model
    transformer = build_model(read_config(os.path.join(tiny_dir, 'bert_config.json')))
    transformer.hidden_act = tf.keras.activations.relu
    assert google_config_from_transformer(transformer)['hidden_act'] == 'relu'
    transformer.hidden_act = lambda x: x * 2
    with pytest.raises(ValueError, match='no Google-format config name'):
        google_config_from_transformer(transformer)


def test_missing_data_file_is_named(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / 'nodata')
    data = [f for f in os.listdir(d) if '.data-' in f][0]
    os.remove(os.path.join(d, data))
    with pytest.raises(CheckpointError, match=r'has its .index file but no data file .*bert_model.ckpt.data-00000-of-00001'):
        load_model(d)


def test_wrong_vocab_size_in_a_google_config_is_named_as_the_config(tiny_dir, tmp_path):
    import json
    import shutil
    d = tmp_path / 'ckpt'
    shutil.copytree(tiny_dir, d)
    config = json.load(open(d / 'bert_config.json'))
    config['vocab_size'] += 5
    json.dump(config, open(d / 'bert_config.json', 'w'))
    with pytest.raises(CheckpointError, match=r'vocab_size=45 but the checkpoint.s word embeddings have 40 rows'):
        load_model(str(d))
