"""Training examples for the passage -> (answer, question) generator: ``{'passage', 'answer', 'question'}``, with
passages cut into windows that contain the answer (as the article's script keeps only windows holding it)."""
from bert4keras_ext.data.corpora import peoples_daily_pos, tag_runs


def window_around(passage, start, length, max_len):
    """A window of at most ``max_len`` chars of ``passage`` containing ``[start, start + length)`` (``max_len``
    None: the whole passage)."""
    if max_len is None or len(passage) <= max_len:
        return passage, start
    if length > max_len:
        return None, None
    left = max(0, min(start - (max_len - length) // 2, len(passage) - max_len))
    return passage[left:left + max_len], start - left


def from_squad(records, max_len):
    """SQuAD/CMRC2018 paragraphs (see ``data.read_squad``) -> examples (first answer of each question), each in a
    window of at most ``max_len`` characters around its answer (None: the whole paragraph)."""
    out = []
    for para in records:
        for qa in para['qas']:
            if not qa['answers']:
                continue
            ans = qa['answers'][0]
            start = ans['answer_start'] if isinstance(ans['answer_start'], int) and ans['answer_start'] >= 0 \
                else para['context'].find(ans['text'])
            if start < 0:
                continue
            window, offset = window_around(para['context'], start, len(ans['text']), max_len)
            if window and ans['text'] and window[offset:offset + len(ans['text'])] == ans['text']:
                out.append({'passage': window, 'answer': ans['text'], 'question': qa['question'],
                            'answer_start': offset})
    return out


def from_webqa(records, max_len):
    """WebQA/SogouQA records (see ``data.read_webqa``) -> examples from passages that contain their answer."""
    out = []
    for rec in records:
        for p in rec['passages']:
            start = p['passage'].find(p['answer']) if p['answer'] else -1
            if start < 0:
                continue
            window, _ = window_around(p['passage'], start, len(p['answer']), max_len)
            if window:
                out.append({'passage': window, 'answer': p['answer'], 'question': rec['question']})
    return out


# Question words for People's Daily entity tags (synthetic questions, clearly labelled as such in reports).
QUESTION_WORDS = {'nr': '谁', 'ns': '哪里', 'nt': '哪个机构', 't': '什么时候', 'm': '多少'}


def synthetic_peoples_daily(max_len=96, limit=None):
    """Synthetic QA pairs from People's Daily: the answer is a tagged entity (person nr, place ns, organisation nt,
    time t, number m) of a sentence; the question is that sentence with the entity replaced by a question word
    (谁/哪里/哪个机构/什么时候/多少); the passage is the line around it. Consecutive words with the same tag (e.g. a
    surname and a given name, both nr) form one entity."""
    out = []
    for sent in peoples_daily_pos():
        text = ''.join(w for w, _ in sent)
        if len(text) < 8:
            continue
        pos, starts = 0, []
        for w, _ in sent:
            starts.append(pos)
            pos += len(w)
        spans = [(starts[i], starts[j - 1] + len(sent[j - 1][0]), tag) for i, j, tag in tag_runs(sent)
                 if tag in QUESTION_WORDS]
        for a, b, tag in spans:
            answer = text[a:b]
            if len(answer) < 2 and tag != 'm':
                continue
            # the question: the clause holding the answer, entity replaced by the question word
            left = max(text.rfind(c, 0, a) for c in '。！？；，') + 1
            rights = [k for k in (text.find(c, b) for c in '。！？；，') if k >= 0]
            right = min(rights) if rights else len(text)
            question = text[left:a] + QUESTION_WORDS[tag] + text[b:right] + '？'
            if len(question) < 5 or len(question) > 48:
                continue
            window, offset = window_around(text, a, b - a, max_len)
            if window:
                out.append({'passage': window, 'answer': answer, 'question': question, 'answer_start': offset})
                if limit and len(out) >= limit:
                    return out
    return out


def load_examples(path, max_len):
    """Examples from a SQuAD/CMRC2018 JSON file or a WebQA/SogouQA file (detected from the content)."""
    from bert4keras_ext.data.readers import DataFormatError, read_squad, read_webqa
    try:
        return from_squad(read_squad(path, skip_bad=True), max_len)
    except DataFormatError as exc:
        if 'SQuAD/CMRC2018 format' not in str(exc):
            raise
    return from_webqa(read_webqa(path, skip_bad=True), max_len)


def group_by_passage(examples):
    """``(passages, references)``: unique passages in order, and their ``[(answer, question)]``."""
    order, refs = [], {}
    for e in examples:
        if e['passage'] not in refs:
            order.append(e['passage'])
            refs[e['passage']] = []
        refs[e['passage']].append((e['answer'], e['question']))
    return order, [refs[p] for p in order]


def cmrc_split(root, every=5):
    """``(train, held_out)`` paragraphs of a SQuAD/CMRC2018 JSON root: every ``every``-th paragraph in file order
    (0, 5, 10, ...) is held out. Fixed, so the shipped QA models are never trained on the evaluation passages."""
    paragraphs = [p for article in root['data'] for p in article['paragraphs']]
    held = [p for i, p in enumerate(paragraphs) if i % every == 0]
    train = [p for i, p in enumerate(paragraphs) if i % every]
    return train, held
