"""Scores for generated QA pairs against the reference pairs of the same passages."""
import numpy as np

from bert4keras_ext import metrics


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
