import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bert4keras_ext import metrics
from bert4keras_ext.qa import cli, model as qa_model
from bert4keras_ext.qa.data import from_squad, window_around
from tests.qa.conftest import CHARS, random_text

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


def test_cli_question_flags_reach_the_beam_search(generator_dir, tmp_path, monkeypatch):
    """``--prefer_ended 0`` reaches the question beam search (the flags go through one overrides dict); without it
    the generator's setting (on by default) does; ``--retry_ban_answer_ngram 0`` removes the second search of the
    questions that did not end."""
    from bert4keras_ext.decoding import Decoder
    calls = []
    real = Decoder.beam_search

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Decoder, 'beam_search', spy)
    src = tmp_path / 'p.jsonl'
    src.write_text(json.dumps({'passage': ''.join(CHARS[:20])}, ensure_ascii=False) + '\n', encoding='utf-8')
    out = tmp_path / 'pairs.jsonl'
    base = ['generate', '--checkpoint', generator_dir, '--input', str(src), '--output', str(out), '--answers', '2']
    cli.main(base)
    first = list(calls)  # the gated search, then (for questions that did not end) the fallback search without it
    del calls[:]
    cli.main(base + ['--prefer_ended', '0', '--answer_type_check', '0', '--question_form', '0'])
    assert len(calls) == 2 and 'BanNGrams' in [type(p).__name__ for p in calls[1]['processors']]  # the retry
    del calls[:]
    cli.main(base + ['--prefer_ended', '0', '--answer_type_check', '0', '--question_form', '0',
                     '--retry_ban_answer_ngram', '0'])
    assert len(calls) == 1 and first
    assert first[0]['prefer_ended'] is True and calls[0]['prefer_ended'] == 0

    def gates(c):
        return [type(p).__name__ for p in c['processors']].count('RequireBefore')

    assert gates(first[0]) == 1 and gates(calls[0]) == 0  # the generator's default (on), then --question_form 0


def test_cli_files_stdin_and_bad_json(generator_dir, tmp_path, capsys, monkeypatch):
    src = tmp_path / 'p.jsonl'
    src.write_text(json.dumps({'passage': ''.join(CHARS[:20])}, ensure_ascii=False) + '\n' +
                   json.dumps({'context': ''}) + '\n', encoding='utf-8')
    out = tmp_path / 'pairs.jsonl'
    cli.main(['generate', '--checkpoint', generator_dir, '--input', str(src), '--output', str(out), '--answers', '2'])
    lines = [json.loads(x) for x in out.read_text(encoding='utf-8').splitlines()]
    assert [r['status'] for r in lines][1] == 'empty_passage' and len(lines) == 2
    assert 'records/s' in capsys.readouterr().err
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"passage": "好"}\n{"passage": \n[1, 2]\n{"passage": "的一", "answers": [3]}\n',
                   encoding='utf-8')
    cli.main(['generate', '--checkpoint', generator_dir, '--input', str(bad), '--output', str(out)])
    lines = [json.loads(x) for x in out.read_text(encoding='utf-8').splitlines()]
    assert [r['line'] for r in lines] == [1, 2, 3, 4]  # every record answered, in order
    assert lines[0]['status'] in ('ok', 'no_answer') and lines[1]['status'].startswith('malformed: invalid JSON')
    assert lines[2]['status'].startswith('malformed: expected') and '"answers"' in lines[3]['status']
    with pytest.raises(SystemExit, match=r'^error: input file .*missing.txt does not exist$'):
        cli.main(['generate', '--checkpoint', generator_dir, '--input', str(tmp_path / 'missing.txt')])
    import io
    monkeypatch.setattr('sys.stdin', io.StringIO(''.join(CHARS[:10]) + '\n'))
    cli.main(['generate', '--checkpoint', generator_dir, '--input', '-', '--output', '-', '--answers', '1'])
    assert json.loads(capsys.readouterr().out.splitlines()[0])['passage'] == ''.join(CHARS[:10])


def test_every_input_line_gets_an_output_line_blank_ones_included(generator_dir, tmp_path):
    """8 plain-text lines with a blank one gave '7/7 records': the blank line had no output record."""
    src = tmp_path / 'passages.txt'
    lines = [''.join(CHARS[i:i + 12]) for i in range(7)]
    lines.insert(3, '')
    src.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    out = tmp_path / 'pairs.jsonl'
    cli.main(['generate', '--checkpoint', generator_dir, '--input', str(src), '--output', str(out), '--answers', '1'])
    records = [json.loads(x) for x in out.read_text(encoding='utf-8').splitlines()]
    assert [r['line'] for r in records] == list(range(1, 9))
    assert records[3]['status'] == 'empty_passage'
    jsonl = tmp_path / 'p.jsonl'
    jsonl.write_text(json.dumps({'passage': lines[0]}) + '\n\n' + json.dumps({'passage': lines[1]}) + '\n',
                     encoding='utf-8')
    cli.main(['generate', '--checkpoint', generator_dir, '--input', str(jsonl), '--output', str(out),
              '--answers', '1'])
    records = [json.loads(x) for x in out.read_text(encoding='utf-8').splitlines()]
    assert [r['status'] == 'empty_passage' for r in records] == [False, True, False]


def test_windows_and_squad_examples():
    w, s = window_around('0123456789', 7, 2, 4)
    assert w == '6789' and w[s:s + 2] == '78'
    recs = [{'context': '北京是中国的首都。', 'qas': [{'question': '首都是?', 'answers': [{'text': '北京', 'answer_start': 0}]}]}]
    assert from_squad(recs, 64) == [{'passage': '北京是中国的首都。', 'answer': '北京', 'question': '首都是?',
                                     'answer_start': 0}]


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


def test_k_answers_per_passage_not_per_window(generator):
    long = ''.join(CHARS) * 4  # several windows
    assert len(generator.windows(long)) > 2
    rec = generator.generate([long], k=2, seed=0)[0]
    assert len(rec['pairs']) <= 2 and len({p['answer'] for p in rec['pairs']}) == len(rec['pairs'])
    with pytest.raises(ValueError, match='k .* must be >= 1'):
        generator.generate([long], k=0)


def test_windows_cover_the_passage_with_offsets(generator):
    text = '的一是在。不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说'
    windows = generator.windows(text)
    assert ''.join(w for _, w in windows) == text
    assert all(text[s:s + len(w)] == w for s, w in windows)


def test_answer_aware_questions_one_per_answer(generator):
    passage = ''.join(CHARS[:14])
    answers = [[CHARS[2] + CHARS[3], {'text': CHARS[5], 'answer_start': 5}, '不在这里的答案', ''], []]
    recs = generator.questions([passage, ''], answers)
    pairs = recs[0]['pairs']
    assert [p['status'] for p in pairs] == ['ok', 'ok', 'answer_not_in_passage', 'empty_answer']
    assert pairs[0]['answer_start'] == 2 and pairs[1]['answer_start'] == 5
    assert all(isinstance(p['question'], str) for p in pairs[:2]) and pairs[2]['question'] is None
    assert recs[1]['status'] == 'empty_passage'
    with pytest.raises(ValueError, match='2 passages but 1 answer lists'):
        generator.questions(['a', 'b'], [[]])


def test_question_decoding_never_repeats_a_bigram(generator):
    """With the default no-repeat bigram rule a character cannot appear three times in a row ("日日日")."""
    rng = np.random.RandomState(5)
    recs = generator.generate([random_text(rng, 14) for _ in range(6)], k=3, seed=1)
    questions = [p['question'] for r in recs for p in r['pairs']]
    assert questions
    for q in questions:
        chars = list(q.replace(' ', ''))
        grams = list(zip(chars, chars[1:]))
        assert len(grams) == len(set(grams)), q
    with pytest.raises(TypeError, match='unknown question settings: beams'):
        generator.generate(['的一是在不了'], k=1, beams=2)


def test_questions_never_copy_answer_ngrams_and_end_after_a_mark(generator_dir):
    from bert4keras_ext.qa.generator import QAGenerator
    g = QAGenerator.load(generator_dir, question={'ban_answer_ngram': 1, 'end_with_question_mark': True})
    g.question_marks = ('的',)  # the tiny vocabulary has no question mark: any token works as the end mark
    passage = ''.join(CHARS[:14])
    recs = g.questions([passage], [[CHARS[2] + CHARS[3], CHARS[7] + CHARS[8] + CHARS[9]]])
    for pair in recs[0]['pairs']:
        assert pair['question'] and not set(pair['answer']) & set(pair['question']), pair
        n_tokens = len(g.tokenizer.tokenize(pair['question'])) - 2
        assert pair['question'].endswith('的') or n_tokens >= g.max_q_len, pair
    plain = QAGenerator.load(generator_dir, question={'ban_answer_ngram': 0, 'end_with_question_mark': False})
    assert plain.question_processors(plain.question_settings, [[5]]) != []  # the other defaults stay on
    assert not any(type(p).__name__ in ('BanNGrams', 'EndOnlyAfter')
                   for p in plain.question_processors(plain.question_settings, [[5]]))


def test_question_form_rules():
    from bert4keras_ext.qa import question_form as qf
    assert qf.lacks_subject('因为什么？') and qf.lacks_subject('什么时候？') and qf.lacks_subject('他是谁？')
    assert not qf.lacks_subject('谁发明了电话？') and qf.subject_chars('故宫是哪一年建成的？') == '故宫一年建成'
    assert qf.lacks_subject('') and qf.lacks_subject(None)
    assert not qf.has_interrogative('佩内塔七次参加美网？') and qf.has_interrogative('佩内塔参加了几次美网？')
    # the decoding-time characters stand for every question word of the degenerate check
    words = [m for m in qf.QUESTION_MARKERS if m not in ('？', '?')]
    assert all(any(c in qf.INTERROGATIVE_CHARS for c in w) for w in words)
    assert set(qf.INTERROGATIVE_CHARS) <= set(qf.NON_SUBJECT_CHARS)


def test_question_form_setting_ends_questions_only_with_a_question_word_and_a_subject(generator_dir, monkeypatch):
    """The promise of ``question_form``: a question that ended holds an interrogative character and at least
    MIN_SUBJECT_CHARS subject characters. The tiny vocabulary has no question words or question mark, so two of
    its characters stand for the interrogatives and 的 for the question mark; a processor placed first makes the
    mark and the end token the model's favourites, so that questions end as soon as they may."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LogitsProcessor
    from bert4keras_ext.qa import question_form as qf
    from bert4keras_ext.qa.generator import QAGenerator
    monkeypatch.setattr(qf, 'INTERROGATIVE_CHARS', '人国')

    class EndEarly(LogitsProcessor):
        def __init__(self, ids):
            self.ids = ids

        def __call__(self, scores, output_ids, step, rows):
            boost = tf.reduce_any(tf.range(tf.shape(scores)[1])[None, :] == tf.constant(self.ids)[:, None], 0)
            return scores + tf.where(boost, 30.0, 0.0)[None, :]

    rng = np.random.RandomState(3)
    passages = [random_text(rng, 14) for _ in range(6)]

    def generate(on):
        g = QAGenerator.load(generator_dir, question={'question_form': on, 'ban_answer_ngram': 0})
        g.question_marks = ('的',)
        real = g.question_processors
        marks = [g.tokenizer.token_to_id('的'), g.sep]
        monkeypatch.setattr(g, 'question_processors', lambda *a, **k: [EndEarly(marks)] + real(*a, **k))
        if on:
            assert 'RequireBefore' in [type(p).__name__ for p in real(g.question_settings)]
        recs = g.questions(passages, [[p[2:5], p[8:10]] for p in passages])
        return [pair['question'] for r in recs for pair in r['pairs']]

    made = {on: generate(on) for on in (False, True)}
    assert made[False] and all(q.endswith('的') and len(q) == 2 for q in made[False]), made[False]  # no gate
    for q in made[True]:
        assert q.endswith('的') and qf.has_interrogative(q) and not qf.lacks_subject(q), q
    # where no question of that form fits in max_q_len, the ungated search's (ended) question is kept
    monkeypatch.setattr(qf, 'MIN_SUBJECT_CHARS', 100)
    assert generate(True) == made[False]



def test_retry_ban_answer_ngram_searches_unended_questions_again_with_the_ban(generator_dir, monkeypatch):
    """The promise of ``retry_ban_answer_ngram``: a question that did not end (here: the answer copied up to
    max_q_len, forced by a processor that favours the answer's tokens over the end mark) is searched once more with
    the answer n-gram ban, and that search's ended question replaces it; without the retry it stays unended."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LogitsProcessor
    from bert4keras_ext.qa.generator import QAGenerator

    class Favour(LogitsProcessor):
        def __init__(self, ids, boosts):
            self.ids, self.boosts = ids, boosts

        def __call__(self, scores, output_ids, step, rows):
            hit = tf.range(tf.shape(scores)[1])[None, :] == tf.constant(self.ids)[:, None]
            return scores + tf.reduce_sum(tf.where(hit, tf.constant(self.boosts)[:, None], 0.0), 0)[None, :]

    rng = np.random.RandomState(5)
    passages = [''.join(rng.permutation(CHARS)[:14]) for _ in range(2)]
    answers = [[p[3:6]] for p in passages]

    def generate(retry):
        g = QAGenerator.load(generator_dir, max_q_len=6,
                             question={'retry_ban_answer_ngram': retry, 'ban_answer_ngram': 0, 'question_form': False})
        g.question_marks = ('的',)
        real = g.question_processors

        def processors(settings, answer_ids=None, answer_texts=None):
            ids = [g.tokenizer.token_to_id('的'), g.sep] + sorted({i for a in answer_ids for i in a})
            boosts = [20.0, 20.0] + [50.0] * (len(ids) - 2)
            return [Favour(ids, boosts)] + real(settings, answer_ids, answer_texts)

        monkeypatch.setattr(g, 'question_processors', processors)
        # one passage a call: Favour boosts every answer of the batch in every row
        recs = [r for p, a in zip(passages, answers) for r in g.questions([p], [a])]
        return [(pair['answer'], pair['question']) for r in recs for pair in r['pairs']]

    for answer, question in generate(0):  # the answer's characters up to the limit, no end mark
        assert not question.endswith('的') and set(question.replace(' ', '')) <= set(answer), (answer, question)
    for answer, question in generate(1):  # searched again without the answer's characters: the question ends
        assert question.endswith('的') and not set(answer) & set(question), (answer, question)

def test_degenerate_questions_and_quality():
    from bert4keras_ext.qa.evaluate import answer_lengths, degeneration, question_quality
    assert degeneration('') == 'empty' and degeneration('日日日日？') == 'repeated_char'
    assert degeneration('“公司') == 'no_question_form' and degeneration('天问一号何时发射？') is None
    assert degeneration('谁发明了电话') is None  # a question word is enough
    assert degeneration('1000年发生了什么？') is None and degeneration('二〇〇〇年发生了什么？') is None  # numbers
    q = question_quality(['什么时候？', '什么时候？', '谁？', '在哈哈哈2000000'])
    assert q['degenerate_share'] == 0.25 and q['distinct_share'] == 0.75
    assert q['no_question_word_share'] == 0.25  # '在哈哈哈2000000'
    assert q['no_subject_share'] == 0.75  # '什么时候？' twice and '谁？'
    assert question_quality(['北京的面积？'])['no_question_word_share'] == 1.0  # a question mark alone
    assert q['degenerate_kinds'] == {'repeated_char': 1}
    lengths = answer_lengths([{'pairs': [{'answer': '北京'}, {'answer': '一'}]}, {'pairs': []}])
    assert lengths == {'mean_answer_length': 1.5, 'answer_length_histogram': {'2': 1, '1': 1}}


def test_shipped_models_generate_and_answer_without_a_checkpoint(tmp_path):
    """A fresh install: `generate` and `answer` with no --checkpoint / --reader use the shipped models (skipped until
    they are shipped, issue #20). Answers are passage spans of >= 2 characters, and the reader answers inside the
    passage."""
    import os
    from bert4keras_ext.qa.generator import shipped_generator_dir
    from bert4keras_ext.qa.reader import shipped_reader_dir
    try:
        shipped_generator_dir()
    except FileNotFoundError:
        pytest.skip('no generator shipped in bert4keras_ext/assets/qa_generator yet')
    assert shipped_reader_dir(required=False) and os.path.isdir(shipped_reader_dir())
    passage = '1998年1月，国务院总理李鹏在北京人民大会堂会见了来访的法国外交部长韦德里纳，双方就中法关系交换了意见。'
    src = tmp_path / 'p.txt'
    src.write_text(passage + '\n', encoding='utf-8')
    out = tmp_path / 'pairs.jsonl'
    cli.main(['generate', '--input', str(src), '--output', str(out), '--answers', '2'])
    record = json.loads(out.read_text(encoding='utf-8').strip())
    assert record['status'] == 'ok' and record['pairs']
    for pair in record['pairs']:
        assert len(pair['answer']) >= 2 and pair['answer'] in passage and pair['question']
    q = tmp_path / 'q.jsonl'
    q.write_text(json.dumps({'passage': passage, 'question': record['pairs'][0]['question']}, ensure_ascii=False)
                 + '\n', encoding='utf-8')
    answers = tmp_path / 'a.jsonl'
    cli.main(['answer', '--input', str(q), '--output', str(answers)])
    got = json.loads(answers.read_text(encoding='utf-8').strip())
    assert got['status'] == 'ok' and got['answer'] in passage


def test_cli_trim_answers_flag_reaches_the_generator(generator_dir, tmp_path, monkeypatch):
    """``--trim_answers 1`` turns trimming on for generated pairs (their answers are cut and keep 'untrimmed'); the
    default leaves them whole."""
    from bert4keras_ext.qa import generator as generator_module
    monkeypatch.setattr(generator_module, 'trim_answer', lambda q, a: (1, len(a)) if len(a) >= 2 else (0, len(a)))
    src = tmp_path / 'p.jsonl'
    src.write_text(json.dumps({'passage': ''.join(CHARS[:20])}, ensure_ascii=False) + '\n', encoding='utf-8')
    out = tmp_path / 'pairs.jsonl'
    base = ['generate', '--checkpoint', generator_dir, '--input', str(src), '--output', str(out), '--answers', '3']
    pairs = {}
    for flag in ([], ['--trim_answers', '1']):
        cli.main(base + flag)
        pairs[bool(flag)] = json.loads(out.read_text(encoding='utf-8').splitlines()[0])['pairs']
    long = [p for p in pairs[False] if len(p['answer']) >= 2]
    assert long and not any('untrimmed' in p for p in pairs[False])
    cut = [p for p in pairs[True] if 'untrimmed' in p]
    assert [p['untrimmed']['answer'] for p in cut] == [p['answer'] for p in long]
    assert [p['answer'] for p in cut] == [p['answer'][1:] for p in long]


def test_negative_answer_ngram_bans_are_refused_before_any_search(generator):
    """``ban_answer_ngram`` and ``retry_ban_answer_ngram`` take n >= 0 (0: off); a negative n is a clear error at
    once, not a failure in the retry search later."""
    for name in ('ban_answer_ngram', 'retry_ban_answer_ngram'):
        with pytest.raises(ValueError, match=name):
            generator.questions([''.join(CHARS[:12])], [[CHARS[3]]], **{name: -1})
