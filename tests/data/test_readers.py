import json

import pytest

from bert4keras_ext.data import DataFormatError, read_clue, read_lines, read_squad, read_webqa


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_clue_jsonl(tmp_path):
    path = write(tmp_path, 'train.json', '{"sentence": "今天天气好", "label": "1"}\n\n{"sentence": "糟糕", "label": 0}\n')
    records = read_clue(path)
    assert records == [{'text': '今天天气好', 'label': '1'}, {'text': '糟糕', 'label': '0'}]
    assert records.skipped == 0


def test_clue_bad_line_names_file_and_line(tmp_path):
    path = write(tmp_path, 'bad.json', '{"sentence": "a", "label": "1"}\n{"sentence": "b", "label": \n'
                                       '{"text": "c", "label": "1"}\n')
    with pytest.raises(DataFormatError, match=r'bad.json line 2: invalid JSON'):
        read_clue(path)
    records = read_clue(path, skip_bad=True)
    assert len(records) == 1 and records.skipped == 2
    assert 'line 3: record has no "sentence" field' in records.problems[1]


def test_clue_wrong_type(tmp_path):
    path = write(tmp_path, 'bad.json', '{"sentence": 5, "label": "1"}\n')
    with pytest.raises(DataFormatError, match=r'line 1: field "sentence" must be str, found int'):
        read_clue(path)


def test_webqa_array_with_line_numbers(tmp_path):
    data = [{'question': '谁?', 'passages': [{'passage': '张三来了', 'answer': '张三'}]},
            {'question': '哪里?', 'passages': [{'passage': '在北京', 'answer': '北京'}, {'passage': 'x'}]}]
    path = write(tmp_path, 'webqa.json', '[\n' + ',\n'.join(json.dumps(d, ensure_ascii=False) for d in data) + '\n]')
    with pytest.raises(DataFormatError, match=r'webqa.json line 3: passages\[1\] has no "answer" field'):
        read_webqa(path)
    records = read_webqa(path, skip_bad=True)
    assert records.skipped == 1 and records[0]['passages'][0]['answer'] == '张三'


def test_webqa_jsonlines(tmp_path):
    path = write(tmp_path, 'sogou.json', json.dumps({'question': 'q', 'passages': []}) + '\n')
    assert read_webqa(path) == [{'question': 'q', 'passages': []}]


def test_webqa_unclosed_array(tmp_path):
    path = write(tmp_path, 'x.json', '[{"question": "q", "passages": []}')
    with pytest.raises(DataFormatError, match='not closed'):
        read_webqa(path)


def test_squad_and_answer_offsets(tmp_path):
    doc = {'data': [{'paragraphs': [{'id': 'p1', 'context': '北京是中国的首都。',
                                     'qas': [{'id': 'q1', 'question': '首都是?',
                                              'answers': [{'text': '北京', 'answer_start': 0}]}]}]}]}
    path = write(tmp_path, 'squad.json', json.dumps(doc, ensure_ascii=False))
    records = read_squad(path)
    assert records[0]['qas'][0]['answers'][0] == {'text': '北京', 'answer_start': 0}
    doc['data'][0]['paragraphs'][0]['qas'][0]['answers'][0]['answer_start'] = 3
    path = write(tmp_path, 'squad_bad.json', json.dumps(doc, ensure_ascii=False))
    with pytest.raises(DataFormatError, match=r"qa q1 answer '北京' is not at answer_start=3"):
        read_squad(path)
    assert read_squad(path, skip_bad=True).skipped == 1


def test_squad_not_squad(tmp_path):
    path = write(tmp_path, 'x.json', '[1, 2]')
    with pytest.raises(DataFormatError, match='SQuAD/CMRC2018 format'):
        read_squad(path)


def test_real_cmrc2018_trial():
    import os
    path = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'cmrc2018',
                        'cmrc2018_trial.json')
    if not os.path.isfile(path):
        pytest.skip('shared CMRC2018 trial set not present')
    with pytest.raises(DataFormatError, match='TRIAL_210_QUERY_0'):  # one real answer has a wrong offset
        read_squad(path)
    records = read_squad(path, skip_bad=True)
    assert len(records) == 256 and records.skipped == 5  # 5 of the 1,002 questions have a wrong answer_start
    assert sum(len(p['qas']) for p in records) == 1002 - 5


def test_lines_and_missing_file(tmp_path):
    path = write(tmp_path, 'a.txt', 'one\n\n two \n')
    assert read_lines(path) == ['one', 'two']
    with pytest.raises(DataFormatError, match='does not exist'):
        read_lines(str(tmp_path / 'none.txt'))
