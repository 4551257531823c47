"""Scores for generated QA pairs against the reference pairs of the same passages."""
import re

import numpy as np

from bert4keras_ext import metrics
from bert4keras_ext.qa.question_form import QUESTION_MARKERS, lacks_subject


def evaluate(records, references, seconds=None):
    """records: generator output (one per passage); references: per passage a list of ``(answer, question)``.

    Answer validity = share of answers that are substrings of their passage; answer EM / F1 = best match against
    the passage's reference answers; question BLEU-4 / ROUGE-L against the reference question of the best-matching
    reference answer; distinct-1/2 over all questions.
    """
    valid, em, f1, bleu, rouge, questions, n_pairs = [], [], [], [], [], [], 0
    for rec, refs in zip(records, references):
        for pair in rec['pairs']:
            n_pairs += 1
            valid.append(pair['answer'] in rec['passage'])
            scores = [metrics.char_f1(pair['answer'], a) for a, _ in refs] or [0.0]
            best = int(np.argmax(scores))
            em.append(max(metrics.exact_match(pair['answer'], a) for a, _ in refs) if refs else 0.0)
            f1.append(scores[best])
            if refs:
                bleu.append(metrics.bleu4(pair['question'], refs[best][1]))
                rouge.append(metrics.rouge_l(pair['question'], refs[best][1]))
            questions.append(pair['question'])
    out = {
        'passages': len(records), 'pairs': n_pairs,
        'pairs_per_passage': n_pairs / max(len(records), 1),
        'answer_validity': float(np.mean(valid)) if valid else float('nan'),
        'answer_em': float(np.mean(em)) if em else float('nan'),
        'answer_f1': float(np.mean(f1)) if f1 else float('nan'),
        'question_bleu4': float(np.mean(bleu)) if bleu else float('nan'),
        'question_rouge_l': float(np.mean(rouge)) if rouge else float('nan'),
        'distinct_1': metrics.distinct_n(questions, 1), 'distinct_2': metrics.distinct_n(questions, 2),
    }
    if seconds:
        out['passages_per_second'] = len(records) / seconds
    return out


def degeneration(question):
    """Why a generated question is degenerate ('empty', 'repeated_char': a character other than a digit three
    times in a row, 'no_question_form': no question mark or question word), or None when it is not. Digits repeat in
    numbers (1000, 二〇〇〇年), so their runs do not count.

    Example:
        >>> degeneration('日日日日？'), degeneration('1000年发生了什么？'), degeneration('公司')
        ('repeated_char', None, 'no_question_form')
    """
    q = (question or '').replace(' ', '')
    if not q:
        return 'empty'
    if re.search(r'([^0-9０-９〇零])\1\1', q):
        return 'repeated_char'
    if not any(m in q for m in QUESTION_MARKERS):
        return 'no_question_form'
    return None


def has_question_word(question):
    """Whether a question holds a question word (a question mark alone does not count): a stricter check than
    :func:`degeneration`, for decoding that forces a final question mark."""
    return any(m in (question or '') for m in QUESTION_MARKERS if m not in ('？', '?'))


def question_quality(questions):
    """Degenerate share (and its kinds), share without a question word, share without a subject
    (:func:`bert4keras_ext.qa.question_form.lacks_subject`), distinct share and length statistics of a list of
    questions."""
    kinds = [degeneration(q) for q in questions]
    n = max(len(questions), 1)
    return {'questions': len(questions),
            'degenerate_share': sum(k is not None for k in kinds) / n,
            'no_question_word_share': sum(not has_question_word(q) for q in questions) / n,
            'no_subject_share': sum(lacks_subject(q) for q in questions) / n,
            'degenerate_kinds': {k: kinds.count(k) for k in sorted(set(kinds) - {None})},
            'distinct_share': len(set(questions)) / n,
            'mean_length': float(np.mean([len(q) for q in questions])) if questions else 0.0}


def answer_lengths(records):
    """Mean answer length in characters and the histogram ``{1: n, 2: n, ..., '10+': n}`` of a generation run."""
    lengths = [len(p['answer']) for r in records for p in r['pairs']]
    hist = {}
    for n in lengths:
        key = str(n) if n < 10 else '10+'
        hist[key] = hist.get(key, 0) + 1
    return {'mean_answer_length': float(np.mean(lengths)) if lengths else 0.0, 'answer_length_histogram': hist}


def answer_aware_scores(records, gold_questions):
    """BLEU-4 / ROUGE-L (characters) of answer-aware questions against the gold questions (one per pair, in
    order), plus the question quality of what was generated."""
    made = [p['question'] for r in records for p in r['pairs'] if p['status'] == 'ok']
    if len(made) != len(gold_questions):
        raise ValueError('%d generated questions for %d gold questions' % (len(made), len(gold_questions)))
    out = {'question_bleu4': float(np.mean([metrics.bleu4(q, g) for q, g in zip(made, gold_questions)])),
           'question_rouge_l': float(np.mean([metrics.rouge_l(q, g) for q, g in zip(made, gold_questions)]))}
    out.update(question_quality(made))
    return out
