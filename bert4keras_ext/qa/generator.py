"""Passage -> (answer, question) pairs: answers sampled under the passage-span constraint (so every answer is a
substring of its passage, by construction), one question per answer by beam search; all batched through
:class:`bert4keras_ext.decoding.Decoder`."""
import json
import os


from bert4keras_ext.decoding import (BanNGrams, CachedLM, Decoder, EndOnlyAfter, MinLength, NoRepeatNGram,
                                     RepetitionPenalty, RequireBefore, SpanConstraint, TopK, TopP)
from bert4keras_ext.qa.answer_types import banned_words, trim_answer
from bert4keras_ext.qa import question_form
from bert4keras_ext.qa.text import decode_keeping_unknown, language_status


# ban_answer_ngram: n > 0 forbids the question to contain any n-gram of its answer's tokens (a question does not
# copy its answer); end_with_question_mark: the question may end only after a question mark. On validation
# paragraphs the two lowered the degenerate share from 7.1% to 3.5% (answer-aware) and 9.5% to 3.6% (free
# generation) at a ROUGE-L of 0.319 vs 0.335 (results/qa_generation/tuning_decoding.md); once prefer_ended and
# question_form were on, the answer n-gram ban no longer lowered the degenerate share on validation (1.2% either way)
# and cost ROUGE-L (0.395 vs 0.410), so it is off by default (results/qa_generation/ban_answer_ngram.md).
# answer_type_check: the question may not use interrogatives that do not fit its answer's type
# (bert4keras_ext.qa.answer_types: no 谁 / 哪里 for a date, no 什么时候 / 多少 for a name).
# prefer_ended: a question search that reaches max_q_len returns a question that ended on its question mark, when the
# beam found one, instead of the unfinished beam (a copied passage fragment); on validation paragraphs the degenerate
# share fell from 9.4% to 1.2% and ROUGE-L rose from 0.369 to 0.385 (results/qa_generation/prefer_ended.md).
# question_form: the question may end (question mark or end token) only once it holds a question word and a subject
# (bert4keras_ext.qa.question_form: no bare "因为什么？", no statement with a question mark); where the beam finds no
# such question within max_q_len, the question of the search without that rule is kept if it ended.
# retry_ban_answer_ngram: n > 0 searches once more, with the answer n-gram ban, for the questions that still did not
# end (the beam copied the answer or its passage up to max_q_len); an ended question of that search replaces the
# unended one. On validation paragraphs it changed nothing (ROUGE-L 0.410 both, degenerate 1.2% both), which the rule
# written before the run (docs/claims.md) counts as adopted; held out, degenerate 2.1% -> 0.5%
# (results/qa_generation/retry_ban.md).
QUESTION_DEFAULTS = dict(beam_size=3, no_repeat_ngram=2, repetition_penalty=1.2, min_question_len=2,
                         length_normalization=True, ban_answer_ngram=0, end_with_question_mark=True,
                         answer_type_check=True, prefer_ended=True, question_form=True, retry_ban_answer_ngram=3)
QUESTION_MARKS = ('？', '?')


class QAGenerator:
    """Passage -> (answer, question) pairs with a bert4keras UniLM (article 5).

    Args:
        model: a bert4keras ``'unilm'`` BERT (Keras model or builder) with its MLM head, trained on
            ``passage [SEP] answer [SEP] question [SEP]``; tokenizer: its bert4keras ``Tokenizer``.
        max_p_len / max_a_len / max_q_len: tokens of a passage window, an answer, a question.
        min_answer_len: the fewest answer tokens (the span constraint allows the end token only after them).
        question: question-decoding settings, :data:`QUESTION_DEFAULTS` overridden by this dict (beam size,
            no-repeat n-gram size, repetition penalty, minimum length, length-normalised beam scores).
        trim_answers: in :meth:`generate`, once its question is written, an answer loses the punctuation at its ends
            and, when the question asks for a time, an amount, a person, a place or an organisation, is cut to the one
            such expression or gazetteer name it holds
            (:func:`bert4keras_ext.qa.answer_types.trim_answer`; the span before it is kept in the pair as
            ``'untrimmed'``). Given answers (:meth:`questions`) are never trimmed. Off by default: on the CMRC2018
            training paragraphs it did not raise exact match against the gold answers
            (results/qa_generation/answer_trim.md).

    Example::

        generator = QAGenerator.load()   # the default generator shipped with the package
        generator.generate(['天问一号于2020年7月23日在文昌发射升空。'], k=2)
        generator.questions(['天问一号于2020年7月23日在文昌发射升空。'], [['文昌']])
    """

    def __init__(self, model, tokenizer, max_p_len=128, max_a_len=16, max_q_len=32, min_answer_len=2,
                 question=None, trim_answers=False):
        self.tokenizer = tokenizer
        self.max_p_len, self.max_a_len, self.max_q_len = max_p_len, max_a_len, max_q_len
        self.min_answer_len = int(min_answer_len)
        self.trim_answers = bool(trim_answers)
        self.question_settings = dict(QUESTION_DEFAULTS, **(question or {}))
        unknown = set(self.question_settings) - set(QUESTION_DEFAULTS)
        if unknown:
            raise TypeError('unknown question settings: %s' % ', '.join(sorted(unknown)))
        self.sep = tokenizer._token_end_id
        self.question_marks = QUESTION_MARKS  # the tokens after which end_with_question_mark lets a question end
        lm = CachedLM(model, 'unilm')
        self.answers = Decoder(lm, self.sep, maxlen=max_a_len)
        self.question_decoder = Decoder(lm, self.sep, maxlen=max_q_len)

    @classmethod
    def load(cls, directory=None, **overrides):
        """A directory written by :func:`bert4keras_ext.qa.model.save` (or any UniLM-ready BERT checkpoint);
        ``None``: the generator shipped with the package."""
        from bert4keras.tokenizers import Tokenizer
        from bert4keras_ext.checkpoints import load_model
        if directory is None:
            directory = shipped_generator_dir()
        model, _ = load_model(directory, application='unilm')
        settings = {}
        path = os.path.join(directory, 'qa_config.json')
        if os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                settings = json.load(f)
        kwargs = {k: settings[k] for k in ('max_p_len', 'max_a_len', 'max_q_len', 'min_answer_len', 'question',
                                           'trim_answers') if k in settings}
        kwargs.update(overrides)
        tokenizer = Tokenizer(os.path.join(directory, 'vocab.txt'), do_lower_case=True)
        return cls(model, tokenizer, **kwargs)

    def windows(self, passage):
        """``[(start, text)]``: the passage in chunks of at most ``max_p_len - 2`` characters (sentence ends
        preferred); ``start`` is the chunk's offset in the passage."""
        size = self.max_p_len - 2
        out, pos = [], 0
        n = len(passage)
        while pos < n:
            while pos < n and passage[pos].isspace():
                pos += 1
            if pos >= n:
                break
            rest = passage[pos:pos + size]
            cut = len(rest)
            if n - pos > size:
                cut = max(rest.rfind(c) for c in '。！？；') + 1
                cut = cut if cut > size // 2 else size
            out.append((pos, passage[pos:pos + cut]))
            pos += cut
        return out

    def _answer_text(self, window, tokens, body_ids, answer_ids):
        """The passage substring covered by the first occurrence of ``answer_ids`` among the body tokens."""
        n = len(answer_ids)
        for i in range(len(body_ids) - n + 1):
            if list(body_ids[i:i + n]) == list(answer_ids):
                mapping = fill_unknown_spans(self.tokenizer.rematch(window, tokens)[1:-1], len(window))
                chars = [c for m in mapping[i:i + n] for c in m]
                if chars:
                    return window[chars[0]:chars[-1] + 1], chars[0]
        return None, None

    # ------------------------------------------------------------------------------------- pair generation
    def generate(self, passages, k=4, top_p=0.95, top_k=None, constrained=True, seed=0, **question):
        """For each passage ``{'passage', 'status', 'pairs': [{'answer', 'question', 'answer_start'}]}`` (a pair whose
        answer ``trim_answers`` cut also holds ``'untrimmed': {'answer', 'answer_start'}``) with up to
        ``k`` distinct answers per passage (a long passage's windows share the ``k``; the most probable answers
        are kept).

        status: 'ok', 'empty_passage', 'not_chinese' (under 30% of the passage's words and characters are Chinese:
        see :func:`bert4keras_ext.qa.text.language_status`) or 'no_answer' (no span could be generated).
        A [UNK] token in a question becomes the passage's one character the vocabulary lacks (e.g. 𠮷), or the
        marker '[UNK]' when there are several. ``question``: overrides of the question-decoding settings for this
        call."""
        if k < 1:
            raise ValueError('k (answers per passage) must be >= 1, got %r' % (k,))
        records = [{'passage': p, 'status': 'ok', 'pairs': []} for p in passages]
        jobs = []  # (record index, window offset, window)
        for r, p in enumerate(passages):
            if not isinstance(p, str) or not p.strip():
                records[r]['status'] = 'empty_passage'
                continue
            records[r]['status'] = language_status(p) or 'ok'  # the models read Chinese: say so, not gibberish
            if records[r]['status'] != 'ok':
                continue
            jobs += [(r, start, w) for start, w in self.windows(p)]
        if jobs:
            chosen = self._sample_answers(jobs, k, top_p, top_k, constrained, seed)
            self._add_questions(records, chosen, question)
            if self.trim_answers:
                for rec in records:
                    for pair in rec['pairs']:
                        self._trim(pair)
        for rec in records:
            if rec['status'] == 'ok' and not rec['pairs']:
                rec['status'] = 'no_answer'
        return records

    @staticmethod
    def _trim(pair):
        start, end = trim_answer(pair['question'], pair['answer'])
        if (start, end) != (0, len(pair['answer'])):
            pair['untrimmed'] = {'answer': pair['answer'], 'answer_start': pair['answer_start']}
            pair['answer'] = pair['answer'][start:end]
            if pair['answer_start'] >= 0:
                pair['answer_start'] += start

    def _sample_answers(self, jobs, k, top_p, top_k, constrained, seed):
        """``{record: [(score, window ids, answer ids, text, passage offset)]}``, the ``k`` best per record."""
        encoded = [self.tokenizer.encode(w, maxlen=self.max_p_len)[0] for _, _, w in jobs]
        bodies = [ids[1:-1] for ids in encoded]
        processors = []
        if constrained:
            processors.append(SpanConstraint(bodies, self.sep, min_span=self.min_answer_len))
        if top_k:
            processors.append(TopK(top_k))
        if top_p:
            processors.append(TopP(top_p))
        samples = self.answers.sample(encoded, n=k, processors=processors, seed=seed)
        candidates = {}
        for (r, start, window), ids, body, found in zip(jobs, encoded, bodies, samples):
            tokens = self.tokenizer.ids_to_tokens(ids)
            for s in found:
                if s.status != 'end' or len(s.ids) < 2:
                    continue
                a_ids = s.ids[:-1]
                if constrained:
                    text, pos = self._answer_text(window, tokens, body, a_ids)
                    if text is None:  # only [UNK] tokens: no characters to point at
                        continue
                else:
                    text = self.tokenizer.decode(a_ids)
                    pos = window.find(text)
                if text:
                    offset = start + pos if pos is not None and pos >= 0 else -1
                    candidates.setdefault(r, []).append((s.score / len(s.ids), ids, a_ids, text, offset))
        chosen = {}
        for r, items in candidates.items():
            seen = set()
            for item in sorted(items, key=lambda c: -c[0]):
                if item[3] not in seen and len(seen) < k:
                    seen.add(item[3])
                    chosen.setdefault(r, []).append(item)
        return chosen

    def question_processors(self, settings, answers=None, answer_texts=None):
        """The processors of question decoding for ``settings``; ``answers``: each input's answer token ids (for
        ``ban_answer_ngram``); ``answer_texts``: each input's answer string (for ``answer_type_check``)."""
        procs = []
        if settings['answer_type_check'] and answer_texts is not None:
            by_n = {}  # n -> per input, the banned interrogatives of n tokens
            for row, text in enumerate(answer_texts):
                for word in banned_words(text):
                    ids = self.tokenizer.encode(word)[0][1:-1]
                    if self.tokenizer._token_unk_id not in ids:
                        by_n.setdefault(len(ids), [[] for _ in answer_texts])[row].append(ids)
            procs += [BanNGrams(rows, n) for n, rows in sorted(by_n.items())]
        if settings['min_question_len']:
            procs.append(MinLength(settings['min_question_len'], self.sep))
        if settings['ban_answer_ngram'] and answers is not None:
            procs.append(BanNGrams([[a] for a in answers], settings['ban_answer_ngram']))
        if settings['end_with_question_mark']:
            marks = [self.tokenizer.token_to_id(m) for m in self.question_marks]
            marks = [m for m in marks if m != self.tokenizer._token_unk_id]
            if marks:
                procs.append(EndOnlyAfter(marks, self.sep))
        if settings['question_form']:
            procs.append(self._question_form_gate())
        if settings['no_repeat_ngram']:
            procs.append(NoRepeatNGram(settings['no_repeat_ngram']))
        if settings['repetition_penalty'] and settings['repetition_penalty'] != 1:
            procs.append(RepetitionPenalty(settings['repetition_penalty']))
        return procs

    def _question_form_gate(self):
        """The :class:`RequireBefore` of ``question_form``: question marks and the end token wait for an
        interrogative character and ``MIN_SUBJECT_CHARS`` tokens that are not question-word, function or punctuation
        characters (the token-level twin of :func:`bert4keras_ext.qa.question_form.lacks_subject`)."""
        vocab = self.tokenizer._token_dict
        marks = [vocab[m] for m in self.question_marks if m in vocab]
        required = [vocab[c] for c in question_form.INTERROGATIVE_CHARS if c in vocab]
        uncounted = [i for t, i in vocab.items() if len(t) == 1 and not question_form.subject_chars(t)]
        return RequireBefore(marks + [self.sep], required=required, min_count=question_form.MIN_SUBJECT_CHARS,
                             uncounted=uncounted)

    def _add_questions(self, records, chosen, overrides):
        settings = dict(self.question_settings, **overrides)
        unknown = set(settings) - set(QUESTION_DEFAULTS)
        if unknown:
            raise TypeError('unknown question settings: %s' % ', '.join(sorted(unknown)))
        for name in ('ban_answer_ngram', 'retry_ban_answer_ngram'):
            if int(settings[name]) < 0:
                raise ValueError('%s must be >= 0 (0: off), got %r' % (name, settings[name]))
        q_inputs, q_segments, owners, q_answers = [], [], [], []
        for r in sorted(chosen):
            for _, ids, a_ids, text, offset in chosen[r]:
                q_inputs.append(ids + a_ids + [self.sep])
                q_answers.append(a_ids)
                q_segments.append([0] * len(ids) + [1] * (len(a_ids) + 1))
                owners.append((r, text, offset))
        if not q_inputs:
            return
        answer_texts = [text for _, text, _ in owners]

        def search(rows, s):
            return self.question_decoder.beam_search(
                [q_inputs[i] for i in rows], s['beam_size'],
                processors=self.question_processors(s, [q_answers[i] for i in rows], [answer_texts[i] for i in rows]),
                segments=[q_segments[i] for i in rows], length_normalization=s['length_normalization'],
                prefer_ended=s['prefer_ended'] and s['length_normalization'])

        questions = search(range(len(q_inputs)), settings)
        unended = [i for i, q in enumerate(questions) if q.status != 'end']
        if settings['question_form'] and unended:  # no question of that form within max_q_len: the ungated search
            for i, q in zip(unended, search(unended, dict(settings, question_form=False))):
                if q.status == 'end':
                    questions[i] = q
        unended = [i for i, q in enumerate(questions) if q.status != 'end']
        if settings['retry_ban_answer_ngram'] and unended:  # still unended: once more, no n-gram of the answer
            retry = dict(settings, ban_answer_ngram=settings['retry_ban_answer_ngram'])
            for i, q in zip(unended, search(unended, retry)):
                if q.status == 'end':
                    questions[i] = q
        for (r, answer, pos), q in zip(owners, questions):
            ids = q.ids[:-1] if q.status == 'end' else q.ids
            question = decode_keeping_unknown(self.tokenizer, ids, records[r]['passage'])
            records[r]['pairs'].append({'answer': answer, 'question': question,
                                        'answer_start': int(pos)})

    # ------------------------------------------------------------------------------------- answer-aware
    def questions(self, passages, answers, **question):
        """Answer-aware generation: one question per given answer. ``answers[i]`` lists the answers of
        ``passages[i]`` as strings or ``{'text', 'answer_start'}`` dicts (SQuAD style).

        Returns per passage ``{'passage', 'status', 'pairs': [{'answer', 'answer_start', 'question', 'status'}]}``;
        a pair's status is 'ok', 'answer_not_in_passage' or 'empty_answer'; a passage's is 'ok',
        'empty_passage' or 'not_chinese'."""
        if len(passages) != len(answers):
            raise ValueError('%d passages but %d answer lists' % (len(passages), len(answers)))
        records, chosen = [], {}
        for r, (p, given) in enumerate(zip(passages, answers)):
            rec = {'passage': p, 'status': 'ok', 'pairs': []}
            records.append(rec)
            if not isinstance(p, str) or not p.strip():
                rec['status'] = 'empty_passage'
                continue
            rec['status'] = language_status(p) or 'ok'
            if rec['status'] != 'ok':
                continue
            windows = self.windows(p)
            for a in given:
                text, start = (a, None) if isinstance(a, str) else (a.get('text', ''), a.get('answer_start'))
                pair = {'answer': text, 'answer_start': -1, 'question': None, 'status': 'ok'}
                if not text or not text.strip():
                    pair['status'] = 'empty_answer'
                elif start is None or p[int(start):int(start) + len(text)] != text:
                    start = p.find(text)
                if pair['status'] == 'ok' and (start is None or start < 0):
                    pair['status'] = 'answer_not_in_passage'
                if pair['status'] == 'ok':
                    start = int(start)
                    pair['answer_start'] = start
                    w_start, window = next(((ws, w) for ws, w in windows if ws <= start < ws + len(w)),
                                           windows[-1])
                    if start + len(text) > w_start + len(window):  # across a window edge: centre a window on it
                        w_start = max(0, start - (self.max_p_len - 2 - len(text)) // 2)
                        window = p[w_start:w_start + self.max_p_len - 2]
                    ids = self.tokenizer.encode(window, maxlen=self.max_p_len)[0]
                    a_ids = self.tokenizer.encode(text, maxlen=self.max_a_len)[0][1:-1]
                    chosen.setdefault(r, []).append((0.0, ids, a_ids, text, start))
                rec['pairs'].append(pair)
        pending = {r: [p for p in records[r]['pairs'] if p['status'] == 'ok'] for r in chosen}
        tmp = [{'passage': rec['passage'], 'pairs': []} for rec in records]
        self._add_questions(tmp, chosen, question)
        for r, pairs in pending.items():
            for pair, made in zip(pairs, tmp[r]['pairs']):
                pair['question'] = made['question']
        return records


def shipped_generator_dir():
    """The generator shipped as package data (``bert4keras_ext/assets/qa_generator``)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'assets', 'qa_generator')
    if not os.path.isfile(os.path.join(path, 'bert_config.json')):
        raise FileNotFoundError('no generator is shipped with this installation (%s is missing): pass a '
                                'checkpoint directory (python -m tasks.qa_generation writes one)' % path)
    return path


def fill_unknown_spans(mapping, n_chars):
    """Give tokens that rematch leaves empty ([UNK]) the characters between their neighbours."""
    out = [list(m) for m in mapping]
    for i, m in enumerate(out):
        if m:
            continue
        prev_end = next((out[j][-1] for j in range(i - 1, -1, -1) if out[j]), -1)
        next_start = next((mapping[j][0] for j in range(i + 1, len(mapping)) if mapping[j]), n_chars)
        out[i] = list(range(prev_end + 1, next_start))
    return out
