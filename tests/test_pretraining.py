import json
import os

import numpy as np
import pytest
import tensorflow as tf

from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.checkpoints.tiny import SPECIAL_TOKENS
from bert4keras_ext.pretraining import (DEFAULT_CONFIG, PretrainRun, build_char_vocab, build_mlm_model,
                                        gb2312_characters, learning_rate_at, mask_tokens, max_match,
                                        pack_sequences, pretrain, to_halfwidth)

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


def test_long_texts_are_split_not_cut():
    from bert4keras_ext.pretraining.data import split_long
    ids = list(range(10, 50))  # 40 tokens, rows of 16 (14 + [CLS] + [SEP])
    ids[24] = 7  # a sentence end in the second half of the second window (a cut after it)
    assert split_long(ids, 14, break_ids=[7]) == [(0, 14), (14, 25), (25, 39), (39, 40)]
    assert split_long(ids, 14, break_ids=[]) == [(0, 14), (14, 28), (28, 40)]
    rows, starts = pack_sequences([ids + [3]], maxlen=16, cls_id=2, sep_id=3, flag_lists=[[True] * 41],
                                  break_ids=[7])
    flat = [t for row in rows for t in row[1:] if t not in (0, 3)]
    assert flat == ids  # every token kept, in order
    assert (rows[:, 0] == 2).all() and ((rows == 3).sum(1) >= 1).all()


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


def test_learning_rate_warms_up_stays_then_decays():
    values = [learning_rate_at(t, 1.0, 10, 110, 60) for t in (0, 4, 9, 10, 59, 60, 85, 110, 200)]
    np.testing.assert_allclose(values, [0.1, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    assert learning_rate_at(110, 1.0, 10, 110, 60, final_ratio=0.1) == pytest.approx(0.1)


def test_halfwidth_and_gb2312_vocabulary():
    assert to_halfwidth('１９９８年ＡＢｃ，　好') == '1998年ABc， 好'  # Chinese punctuation stays full width
    chars = gb2312_characters()
    assert len(chars) == 6763 and '啊' == chars[0] and '椭' in chars and '牠' not in chars
    vocab = build_char_vocab(['乙乙甲'], min_count=1, extra_chars='丙乙丁')
    assert vocab[-4:] == ['乙', '甲', '丙', '丁']  # corpus chars by frequency first, then the extra ones once


def test_max_match_prefers_the_longest_word():
    lexicon = {'中华', '中华人民共和国', '成立'}
    assert max_match('中华人民共和国成立了', lexicon, max_word=8) == ['中华人民共和国', '成立', '了']
    assert max_match('中华人民共和国成立了', lexicon, max_word=6)[:2] == ['中华', '人']  # 7 chars: too long
    assert max_match('', {'a'}) == []


def test_whole_word_masking_masks_whole_words():
    rng = np.random.RandomState(0)
    ids = rng.randint(10, 100, size=(200, 24)).astype('int32')
    ids[:, 0], ids[:, -1] = 2, 3
    starts = rng.random_sample(ids.shape) < 0.5
    starts[:, :2] = True
    starts[:, -1] = True
    x, pos, y, w = mask_tokens(ids, np.random.RandomState(1), 100, mask_id=4, special_max_id=4, rate=0.25,
                               max_predictions=6, word_starts=starts)
    for r in range(len(ids)):
        chosen = set(pos[r][w[r] > 0].tolist())
        assert 0 < len(chosen) <= 6
        word = np.cumsum(starts[r])  # word number of every position
        for c in chosen:  # every position of a chosen word is chosen too
            assert set(np.flatnonzero(word == word[c]).tolist()) <= chosen | {0, 23}
        masked = [c for c in chosen if x[r, c] == 4]
        for c in masked:  # the 80/10/10 choice is made per word
            assert all(x[r, d] == 4 for d in np.flatnonzero(word == word[c]) if d in chosen)


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
                                       'bert_model.ckpt.index', 'pretrain_log.jsonl', 'pretrain_report.json',
                                       'vocab.txt']
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


def _toy_run(directory, **kw):
    cycle = '春夏秋冬东南西北天地人和山水'
    rng = np.random.RandomState(0)
    docs = [[cycle[(s + i) % 14] for i in range(rng.randint(8, 20))] for s in rng.randint(0, 14, 300)]
    settings = dict(steps=30, batch_size=8, maxlen=32, config=SMALL, precision='float32', eval_every=10,
                    log_every=5, whole_word=True)
    settings.update(kw)
    return PretrainRun(directory, documents=docs, verbose=0, **settings)


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    whole = _toy_run(str(tmp_path / 'whole'))
    whole.train()
    part = _toy_run(str(tmp_path / 'part'))
    part.train(max_steps=12)  # stops between two log lines: the log is cut back to the checkpoint on resume
    with open(os.path.join(str(tmp_path / 'part'), 'log.jsonl'), 'a') as f:
        f.write(json.dumps({'step': 13, 'train_loss': 0.0}) + '\n')  # a line written after the checkpoint
    del part
    resumed = PretrainRun(str(tmp_path / 'part'), verbose=0)  # no documents needed: data.npz is reused
    assert int(resumed.step.numpy()) == 12 and not resumed.finished
    resumed.train()
    assert resumed.finished
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(whole.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    strip = lambda log: [{k: v for k, v in e.items() if 'hours' not in k} for e in log]  # noqa: E731
    # the window that straddles the resume (13-15) averages fewer steps; every other line is identical
    assert ([e for e in strip(whole.log()) if e['step'] != 15]
            == [e for e in strip(resumed.log()) if e['step'] not in (12, 15)])
    assert [e['step'] for e in resumed.log()] == [5, 10, 12, 15, 20, 25, 30]


def test_resume_refuses_other_settings_but_allows_a_longer_schedule(tmp_path):
    run = _toy_run(str(tmp_path / 'r'), decay_start=20)
    run.train(max_steps=5)
    with pytest.raises(ValueError, match='batch_size=8'):
        _toy_run(str(tmp_path / 'r'), batch_size=4, decay_start=20)
    longer = _toy_run(str(tmp_path / 'r'), steps=60, decay_start=40)
    assert longer.settings['steps'] == 60 and int(longer.step.numpy()) == 5


def test_a_decayed_run_refuses_a_schedule_that_rewinds_its_learning_rate(tmp_path):
    """Once the decay has begun, a new schedule would change the rate of steps already taken (a finished run
    would jump back to the peak rate): refused, and the stored schedule is kept."""
    run = _toy_run(str(tmp_path / 'r'))  # decay from step 3
    run.train(max_steps=5)
    with pytest.raises(ValueError, match='past a decay start'):
        _toy_run(str(tmp_path / 'r'), steps=60, decay_start=40)
    again = _toy_run(str(tmp_path / 'r'))
    assert (again.settings['steps'], again.settings['decay_start']) == (30, 3)


def test_pretrain_cli_keeps_stored_settings_unless_given():
    from tasks.pretrain_tiny_bert import explicitly_given, options
    p = options()
    assert explicitly_given(p, ['--export', 'x']) == {'export'}
    assert explicitly_given(p, ['--steps', '30000', '--hours', '1']) == {'steps', 'hours'}
    assert p.parse_args([]).steps == 30000  # the defaults are back after the check


def test_batches_are_a_function_of_seed_and_step(tmp_path):
    run = _toy_run(str(tmp_path / 'r'))
    first = run.batch(7)
    run.batch(100)  # another epoch in between
    again = run.batch(7)
    for a, b in zip(first[0] + first[1:], again[0] + again[1:]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run.batch(8)[0][0], first[0][0])


def test_shipped_model_loads_with_an_empty_report():
    """The default model shipped as package data (skipped until it is shipped, issue #17)."""
    from bert4keras_ext.pretraining import shipped_bert_dir
    directory = shipped_bert_dir()
    if directory is None:
        pytest.skip('no model shipped in bert4keras_ext/assets/tiny_bert_zh yet')
    transformer, report = load_model(directory, with_mlm=True, return_keras_model=False)
    assert not report.missing and not report.unexpected and not report.mismatched and report.loaded
    with open(os.path.join(directory, 'pretrain_report.json'), encoding='utf-8') as f:
        recorded = json.load(f)
    assert recorded['vocab_size'] == transformer.vocab_size and 'settings' in recorded
