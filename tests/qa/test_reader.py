import numpy as np
import pytest

from bert4keras_ext.checkpoints import tiny_vocab
from bert4keras_ext.qa.reader import Reader, build_reader

CHARS = [t for t in tiny_vocab(size=40) if not t.startswith('[') and t != '是']


def marked_examples(n, seed, length=18, late=False):
    """The answer is always the only '是' of the passage (a rule a tiny random BERT learns in a few steps); ``late``:
    in the last quarter of the passage."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        chars = list(rng.choice(CHARS, size=length))
        at = rng.randint(3 * length // 4, length - 1) if late else rng.randint(0, length - 3)
        chars[at] = '是'
        passage = ''.join(chars)
        out.append({'passage': passage, 'question': '什么？', 'answer': '是', 'answer_start': at})
    return out


@pytest.fixture(scope='module')
def trained(tiny_dir):
    from bert4keras.tokenizers import Tokenizer
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    reader = Reader(build_reader(tiny_dir + '/bert_config.json', tiny_dir + '/bert_model.ckpt'),
                    Tokenizer(tiny_dir + '/vocab.txt', do_lower_case=True), maxlen=28, max_answer_len=4)
    reader.fit(marked_examples(256, 0), epochs=12, batch_size=16, learning_rate=3e-3)
    return reader


def test_reader_learns_spans_and_maps_them_to_characters(trained):
    test = marked_examples(60, 1)
    scores = trained.evaluate(test)
    assert scores['em'] > 0.8, scores
    out = trained.answer([e['passage'] for e in test[:5]], [e['question'] for e in test[:5]])
    for o, e in zip(out, test[:5]):
        assert o['status'] == 'ok' and e['passage'][o['answer_start']:].startswith(o['answer'])


def test_long_passages_are_read_in_windows(trained):
    """A 70-character passage does not fit maxlen 28: answers in its last quarter are found through the windows,
    and training keeps such examples (it used to drop every answer beyond the first window)."""
    long = marked_examples(30, 3, length=70, late=True)
    windows = trained.windows(long[0]['passage'], long[0]['question'])
    assert len(windows) > 2 and windows[0][0] == 0 and windows[-1][0] + windows[-1][1] == 70
    assert all(b[0] < a[0] + a[1] for a, b in zip(windows, windows[1:]))  # they overlap: every character covered
    assert trained.evaluate(long)['em'] > 0.8
    x, y, kept = trained.training_arrays(long)
    assert kept == 30 and len(y) > 30  # every example's answer window, plus windows without it ...
    assert ((y == 0).all(1)).sum() == len(y) - ((y > 0).all(1)).sum() > 0  # ... whose target is [CLS] (0, 0)
    x, y, kept = trained.training_arrays(long, negatives=0)
    assert kept == 30 and (y > 0).all()


def test_reader_save_load_gives_the_same_answers(trained, tiny_dir, tmp_path):
    test = marked_examples(10, 2)
    before = trained.answer([e['passage'] for e in test], [e['question'] for e in test])
    trained.save(str(tmp_path / 'reader'), tiny_dir + '/bert_config.json')
    loaded = Reader.load(str(tmp_path / 'reader'))
    assert loaded.answer([e['passage'] for e in test], [e['question'] for e in test]) == before
    # weights only: the trained model's optimizer slots (2 per weight under Adam) are not written
    import h5py
    assert trained.model.optimizer is not None
    with h5py.File(str(tmp_path / 'reader' / 'reader.weights.h5'), 'r') as f:
        assert 'layers' in f and 'optimizer' not in f
    with pytest.raises(FileNotFoundError, match='lacks reader.weights.h5'):
        Reader.load(str(tmp_path))


def test_token_spans_and_bad_input(trained):
    ids, segs, spans = trained.encode('我们是人民', '谁？')
    assert len(ids) == len(segs) == len(spans) and segs[-1] == 1
    first, last = trained.token_span(spans, 2, '是人')
    assert [c for s in spans[first:last + 1] for c in s] == [2, 3]
    assert trained.token_span(spans, 4, '民民民') is None  # runs past the passage
    out = trained.answer(['', '我们是人民'], ['谁？', ' '])
    assert [o['status'] for o in out] == ['empty_passage', 'empty_question']
    out = trained.answer(['The Forbidden City', '😀🎉', '我们是人民', '我们是人民'], ['谁？', '谁？', 'Who?', '谁是人？'])
    assert [o['status'] for o in out] == ['not_chinese'] * 3 + ['ok']
    assert all(o['answer'] == '' and o['answer_start'] == -1 for o in out[:3])
    with pytest.raises(ValueError, match='2 passages for 1 questions'):
        trained.answer(['a', 'b'], ['c'])


def test_round_trip_filter_keeps_pairs_the_reader_agrees_with(trained):
    from bert4keras_ext.qa.filter import RoundTripFilter
    passage = marked_examples(1, 3)[0]['passage']
    other = next(c for c in passage if c != '是')
    records = [{'passage': passage, 'pairs': [{'answer': '是', 'question': '什么？'},
                                              {'answer': other, 'question': '什么？'},
                                              {'answer': '是', 'question': None}]}]
    kept, total = RoundTripFilter(trained, threshold=1.0).apply(records)
    pairs = records[0]['pairs']
    assert (kept, total) == (1, 2)
    assert pairs[0]['kept'] and not pairs[1]['kept'] and 'kept' not in pairs[2]
    assert pairs[1]['reader_answer'] == '是' and pairs[1]['roundtrip_f1'] == 0.0
    with pytest.raises(ValueError, match='threshold'):
        RoundTripFilter(trained, threshold=2)


def test_answer_verb_reads_json_lines_with_per_line_status(trained, tiny_dir, tmp_path, capsys):
    import json
    from bert4keras_ext.qa import cli
    directory = trained.save(str(tmp_path / 'reader'), tiny_dir + '/bert_config.json')
    src = tmp_path / 'q.jsonl'
    e = marked_examples(1, 4)[0]
    src.write_text('\n'.join([json.dumps({'passage': e['passage'], 'question': '什么？'}, ensure_ascii=False),
                              json.dumps({'passage': e['passage']}), '{oops']) + '\n', encoding='utf-8')
    cli.main(['answer', '--reader', directory, '--input', str(src), '--output', '-'])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]['answer'] == '是' and lines[0]['status'] == 'ok'
    assert lines[1]['status'] == 'malformed: no "question" string'
    assert lines[2]['status'].startswith('malformed: invalid JSON')
