import json
import os

import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.checkpoints.tiny import SPECIAL_TOKENS
from bert4keras_ext.pretraining import (DEFAULT_CONFIG, WarmupLinearDecay, build_char_vocab, build_mlm_model,
                                        mask_tokens, pack_sequences, pretrain)

SMALL = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=64)


def test_char_vocab_is_deterministic_and_frequency_ordered():
    texts = ['乙乙乙甲甲丙', '丙乙 丁', 'AB']
    vocab = build_char_vocab(texts, min_count=2)
    assert vocab[:len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    chars = [t for t in vocab if t in '甲乙丙丁']
    assert chars == ['乙', '丙', '甲']  # 4, 2, 2 occurrences (ties by code point); 丁 seen once is dropped
    assert 'a' in vocab and '##b' in vocab
    assert build_char_vocab(list(reversed(texts)), min_count=2) == vocab


def test_pack_sequences_keeps_every_token_in_order():
    rng = np.random.RandomState(0)
    lists = [list(rng.randint(10, 50, size=rng.randint(1, 12))) + [3] for _ in range(40)]
    rows = pack_sequences(lists, maxlen=16, cls_id=2, sep_id=3)
    assert rows.shape[1] == 16 and (rows[:, 0] == 2).all()
    flat = [t for row in rows for t in row[1:] if t != 0]
    assert flat == [t for ids in lists for t in ids]
    # a row is only closed when the next text does not fit
    lengths = (rows > 0).sum(1)
    first_lengths = [len(ids) for ids in lists]
    assert lengths.max() <= 16 and len(rows) < len(lists) and sum(lengths) == sum(first_lengths) + len(rows)


def test_mask_tokens_only_touches_real_tokens():
    rng = np.random.RandomState(1)
    ids = np.zeros((300, 32), 'int32')
    ids[:, 0] = 2
    for r in range(300):
        n = rng.randint(5, 31)
        ids[r, 1:n] = rng.randint(10, 100, size=n - 1)
        ids[r, n] = 3
    special_max = 4
    x, pos, y, w = mask_tokens(ids, np.random.RandomState(2), 100, mask_id=4, special_max_id=special_max,
                               rate=0.15, max_predictions=5)
    real = (ids > special_max).sum(1)
    assert (w.sum(1) == np.minimum(5, np.maximum(1, np.round(real * 0.15)))).all()
    rows = np.arange(300)[:, None]
    chosen = w > 0
    assert (ids[rows, pos][chosen] > special_max).all()
    np.testing.assert_array_equal(y[chosen], ids[rows, pos][chosen])
    changed = x != ids
    assert not changed[ids <= special_max].any()  # specials and padding never change
    inputs_at = x[rows, pos][chosen]
    share_mask = np.mean(inputs_at == 4)
    share_kept = np.mean(inputs_at == y[chosen])
    assert 0.72 < share_mask < 0.88 and 0.05 < share_kept < 0.17
    assert changed.sum() <= chosen.sum()


def test_warmup_linear_decay_shape():
    s = WarmupLinearDecay(1.0, 10, 110)
    values = [float(s(t)) for t in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    assert WarmupLinearDecay(**s.get_config()).get_config() == s.get_config()


def test_position_ids_stay_exact_under_bfloat16():
    """Odd ids above 256 are not bfloat16 numbers: the position input must not be cast."""
    policy = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        cfg = dict(DEFAULT_CONFIG, vocab_size=120, **dict(SMALL, max_position_embeddings=512))
        transformer, model = build_mlm_model(cfg, position_ids=True)
    finally:
        tf.keras.mixed_precision.set_global_policy(policy)
    layer = transformer.layers['Embedding-Position']
    x = np.random.RandomState(0).randint(5, 120, (2, 64)).astype('int32')
    pos = np.tile(np.arange(448, 512, dtype='int32'), (2, 1))
    inputs = model.inputs[:3]
    added = tf.keras.Model(inputs, layer.output).predict((x, np.zeros_like(x), pos), verbose=0)
    before = tf.keras.Model(inputs, layer.input[0]).predict((x, np.zeros_like(x), pos), verbose=0)
    table = layer.embeddings.numpy()
    got = added.astype('float32') - before.astype('float32')
    assert np.abs(got - table[448:512][None]).max() < 5e-3
    assert np.abs(got - table[447:511][None]).max() > 5e-3


def periodic_texts(n, seed):
    cycle = '春夏秋冬东南西北天地人和山水'
    rng = np.random.RandomState(seed)
    texts = []
    for _ in range(n):
        start = rng.randint(len(cycle))
        texts.append(''.join(cycle[(start + i) % len(cycle)] for i in range(rng.randint(8, 20))))
    return texts


def test_pretrain_learns_and_writes_a_loadable_checkpoint(tmp_path):
    """A periodic corpus: the neighbours predict every masked char, so MLM accuracy must leave the unigram level,
    in the report and in the checkpoint read back through the Google loader."""
    out = str(tmp_path / 'ckpt')
    config = dict(SMALL, hidden_size=64, num_hidden_layers=2, intermediate_size=128)
    report = pretrain(out, steps=600, batch_size=16, maxlen=32, config=config, learning_rate=2e-3, heldout=0.2,
                      mask_rate=0.3, texts=periodic_texts(600, 0), verbose=0)
    assert sorted(os.listdir(out)) == ['bert_config.json', 'bert_model.ckpt.data-00000-of-00001',
                                       'bert_model.ckpt.index', 'pretrain_report.json', 'vocab.txt']
    assert report['heldout_unigram_acc'] < 0.12
    assert report['heldout_mlm_acc'] > 2.5 * report['heldout_unigram_acc'], report
    assert tf.keras.mixed_precision.global_policy().name == 'float32'  # the policy is restored
    saved = json.load(open(os.path.join(out, 'bert_config.json')))
    assert saved['hidden_dropout_prob'] == DEFAULT_CONFIG['hidden_dropout_prob']  # fine-tuning dropout kept
    assert saved['hidden_size'] == 64 and saved['vocab_size'] == report['vocab_size']
    transformer, load_report = load_model(out, with_mlm=True, return_keras_model=False)
    assert not load_report.missing and not load_report.unexpected and not load_report.mismatched
    assert transformer.layers['Embedding-Token'].embeddings.dtype == tf.float32
    # the MLM head read back from the checkpoint predicts masked chars of new periodic text
    vocab = open(os.path.join(out, 'vocab.txt'), encoding='utf-8').read().split('\n')
    rows = [[vocab.index('[CLS]')] + [vocab.index(c) for c in t[:12]] + [vocab.index('[SEP]')]
            for t in periodic_texts(300, 1) if len(t) >= 12]
    ids = np.array(rows)
    masked_at = np.random.RandomState(2).randint(1, 13, size=len(ids))
    x = ids.copy()
    x[np.arange(len(x)), masked_at] = vocab.index('[MASK]')
    probs = transformer.model.predict((x, np.zeros_like(x)), verbose=0)
    acc = np.mean(probs[np.arange(len(x)), masked_at].argmax(-1) == ids[np.arange(len(x)), masked_at])
    assert acc > 2.5 / 14, acc  # 14 equally frequent chars: chance is 1/14


def test_pretrain_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='precision'):
        pretrain(str(tmp_path), precision='float16', texts=['甲乙'] * 10)
    with pytest.raises(ValueError, match='max_position_embeddings'):
        pretrain(str(tmp_path / 'a'), maxlen=128, config=SMALL, texts=['甲乙丙丁'] * 400, verbose=0)
    with pytest.raises(ValueError, match='fewer than one batch'):
        pretrain(str(tmp_path / 'b'), maxlen=16, batch_size=32, config=SMALL, texts=['甲乙丙丁'] * 20, verbose=0)
