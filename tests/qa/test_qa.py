import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bert4keras_ext import metrics
from bert4keras_ext.checkpoints import tiny_vocab
from bert4keras_ext.qa import cli, model as qa_model
from bert4keras_ext.qa.data import from_squad, window_around
from bert4keras_ext.qa.generator import QAGenerator

CHARS = [t for t in tiny_vocab(size=40) if not t.startswith('[')]


def random_text(rng, n):
    return ''.join(rng.choice(CHARS, size=n))


@pytest.fixture(scope='module')
def generator_dir(tiny_dir, tmp_path_factory):
    rng = np.random.RandomState(0)
    examples = []
    for _ in range(32):
        passage = random_text(rng, 20)
        a = rng.randint(0, 15)
        examples.append({'passage': passage, 'answer': passage[a:a + 3], 'question': random_text(rng, 6) + '？'})
    transformer, train_model, tokenizer, tokens = qa_model.build(tiny_dir + '/bert_config.json',
                                                                 tiny_dir + '/bert_model.ckpt',
                                                                 tiny_dir + '/vocab.txt')
    history = qa_model.train(train_model, tokenizer, examples, steps=4, batch_size=8, lengths=(16, 6, 10),
                             verbose=0)
    assert np.isfinite(history.history['loss'][-1])
    d = str(tmp_path_factory.mktemp('qa_ckpt'))
    return qa_model.save(transformer, d, tokens, {'max_p_len': 16, 'max_a_len': 6, 'max_q_len': 10})


@pytest.fixture(scope='module')
def generator(generator_dir):
    return QAGenerator.load(generator_dir)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 60))
def test_constrained_answers_are_always_passage_substrings(generator, seed, length):
    rng = np.random.RandomState(seed)
    passages = [random_text(rng, length), random_text(rng, max(5, length // 2))]
    for rec in generator.generate(passages, k=3, seed=seed):
        assert rec['status'] in ('ok', 'no_answer')
        for pair in rec['pairs']:
            assert pair['answer'] in rec['passage']
            assert rec['passage'][pair['answer_start']:pair['answer_start'] + len(pair['answer'])] == pair['answer']


def test_empty_and_long_passages(generator):
    long = ''.join(CHARS) * 3
    recs = generator.generate(['', '   ', long], k=2, seed=0)
    assert recs[0]['status'] == recs[1]['status'] == 'empty_passage'
    assert len(generator.windows(long)) > 1
    assert all(p['answer'] in long for p in recs[2]['pairs'])


def test_cli_files_stdin_and_bad_json(generator_dir, tmp_path, capsys, monkeypatch):
    src = tmp_path / 'p.jsonl'
    src.write_text(json.dumps({'passage': ''.join(CHARS[:20])}, ensure_ascii=False) + '\n' +
                   json.dumps({'context': ''}) + '\n', encoding='utf-8')
    out = tmp_path / 'pairs.jsonl'
    cli.main(['generate', '--checkpoint', generator_dir, '--input', str(src), '--output', str(out), '--answers', '2'])
    lines = [json.loads(x) for x in out.read_text(encoding='utf-8').splitlines()]
    assert [r['status'] for r in lines][1] == 'empty_passage' and len(lines) == 2
    assert 'passages/s' in capsys.readouterr().err
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"passage": "好"}\n{"passage": \n', encoding='utf-8')
    with pytest.raises(SystemExit, match=r'bad.jsonl line 2: invalid JSON'):
        cli.main(['generate', '--checkpoint', generator_dir, '--input', str(bad)])
    import io
    monkeypatch.setattr('sys.stdin', io.StringIO(''.join(CHARS[:10]) + '\n'))
    cli.main(['generate', '--checkpoint', generator_dir, '--input', '-', '--output', '-', '--answers', '1'])
    assert json.loads(capsys.readouterr().out.splitlines()[0])['passage'] == ''.join(CHARS[:10])


def test_windows_and_squad_examples():
    w, s = window_around('0123456789', 7, 2, 4)
    assert w == '6789' and w[s:s + 2] == '78'
    recs = [{'context': '北京是中国的首都。', 'qas': [{'question': '首都是?', 'answers': [{'text': '北京', 'answer_start': 0}]}]}]
    assert from_squad(recs, 64) == [{'passage': '北京是中国的首都。', 'answer': '北京', 'question': '首都是?'}]


def test_generation_metrics():
    assert metrics.exact_match('北京 ', '北京') == 1.0
    assert metrics.char_f1('北京市', '北京') == pytest.approx(0.8)
    assert metrics.bleu4('今天天气很好', '今天天气很好') == pytest.approx(1.0)
    assert metrics.bleu4('', '今天') == 0.0
    with pytest.raises(ValueError, match='add up to 40 tokens but the model has 32 positions'):
        qa_model.train(_FakeModel(), None, [], steps=1, lengths=(20, 10, 12))
    assert 0 < metrics.bleu4('今天天气好', '今天天气很好') < 1
    assert metrics.rouge_l('abc', 'abd') == pytest.approx(2 / 3)
    assert metrics.distinct_n(['aab', 'aab'], 1) == pytest.approx(2 / 6)


class _FakeModel:
    class _Layer:
        embeddings = np.zeros((32, 2))

    def get_layer(self, name):
        return self._Layer()
