"""What the Chinese QA models can read (bert4keras_ext.qa.text), and the generator's statuses for the rest."""
import pytest
from bert4keras.tokenizers import Tokenizer

from bert4keras_ext.qa import text


@pytest.mark.parametrize('passage, share', [
    ('故宫位于北京', 1.0),
    ('iPhone 12 发布于2020年', 4 / 7),                 # a Latin word or a number is one unit
    ('故宫 The Palace Museum', 2 / 5),
    ('The Forbidden City was built in 1420.', 0.0),
    ('😀😀🎉', 0.0),                                     # emoji are content, not Chinese
    ('𠮷野家', 1.0),                                      # supplementary-plane ideographs are Chinese
    ('，。！？ ', None),                                    # punctuation and spaces only
])
def test_chinese_share_counts_units(passage, share):
    assert text.chinese_share(passage) == (None if share is None else pytest.approx(share))


def test_language_status():
    assert text.language_status('故宫位于北京 The Palace Museum') is None
    assert text.language_status('iPhone 12 发布于2020年') is None
    for bad in ('The Forbidden City was built in 1420.', '😀😀', '。。', '', 'Beijing 北京 is the capital of China'):
        assert text.language_status(bad) == 'not_chinese', bad


@pytest.fixture
def tokenizer(tiny_dir):
    return Tokenizer(tiny_dir + '/vocab.txt', do_lower_case=True)


def test_unknown_characters_become_the_passages_rare_character_or_a_marker(tokenizer):
    ids = tokenizer.encode('我𠮷人')[0][1:-1]
    unk = tokenizer._token_unk_id
    assert ids.count(unk) == 1
    assert tokenizer.decode(ids) == '我人'                                   # what plain decoding does
    assert text.unknown_characters(tokenizer, '𠮷我们𠮷😀') == ['𠮷', '😀']
    assert text.decode_keeping_unknown(tokenizer, ids, '𠮷是我们的人') == '我𠮷人'   # one rare character
    assert text.decode_keeping_unknown(tokenizer, ids, '𠮷和𪚥是人') == '我[UNK]人'   # ambiguous: a visible marker
    assert text.decode_keeping_unknown(tokenizer, ids + [unk], '我们𪚥') == '我𪚥人𪚥'
    assert text.decode_keeping_unknown(tokenizer, ids[:1], '𠮷') == '我'      # no [UNK]: plain decoding


def test_generator_statuses_for_text_it_cannot_read(generator):
    records = generator.generate(['The Forbidden City was built in 1420.', '😀🎉', '的一是在不了有和人这中大'], k=1,
                                 seed=0)
    assert [r['status'] for r in records[:2]] == ['not_chinese', 'not_chinese']
    assert records[0]['pairs'] == [] and records[1]['pairs'] == []
    assert records[2]['status'] in ('ok', 'no_answer')
    made = generator.questions(['Hello world', '的一是在不了有'], [['world'], ['是在']])
    assert made[0]['status'] == 'not_chinese' and made[0]['pairs'] == []
    assert made[1]['status'] == 'ok'
