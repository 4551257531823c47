"""The answer-type check of question decoding (issue #33, ``answer_type_check``), measured with the shipped generator
on CMRC2018 paragraphs with their gold answers (answer-aware: one question per gold answer), off vs on in one run:
question ROUGE-L (characters) against the gold question, the degenerate share, and the share of questions whose
interrogative does not fit the answer's type (the rule table of bert4keras_ext.qa.answer_types).

    python benchmarks/qa_answer_types.py --split validation   # every 10th CMRC training paragraph: the decision
    python benchmarks/qa_answer_types.py --split held_out     # the held-out paragraphs: the reported figure

``--setting prefer_ended`` compares another boolean question-decoding setting the same way, off vs on (the beam
search returns a question that ended on its question mark, when it found one, rather than an unfinished beam cut at
``max_q_len``); so does ``--setting question_form`` (a question ends only once it holds a question word and a
subject); ``--setting ban_answer_ngram`` compares 0 (off) with 3 (on: no 3-gram of the answer in its question);
``--setting retry_ban_answer_ngram`` compares 0 with 3 (questions that did not end are searched once more with that
ban).
Every run also prints the share of questions without a subject and without an interrogative character
(bert4keras_ext.qa.question_form).

The shipped generator was trained on the CMRC training paragraphs (validation included), so the validation figures
are optimistic for both arms alike; the held-out split is the one the README reports.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mismatched(question, answer):
    from bert4keras_ext.qa.answer_types import banned_words
    return any(w in question for w in banned_words(answer))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--split', choices=['validation', 'held_out'], default='validation')
    p.add_argument('--limit', type=int, default=None, help='first N paragraphs only')
    p.add_argument('--setting', choices=['answer_type_check', 'prefer_ended', 'question_form', 'ban_answer_ngram',
                            'retry_ban_answer_ngram'],
                   default='answer_type_check',
                   help='the boolean question-decoding setting compared off vs on')
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    import numpy as np
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext import metrics
    from bert4keras_ext.qa.data import cmrc_split
    from bert4keras_ext.qa.evaluate import question_quality
    from bert4keras_ext.qa.generator import QAGenerator
    from bert4keras_ext.qa.question_form import has_interrogative, lacks_subject
    from machine import cpu
    from tasks.stats import bootstrap_ci
    with open(os.path.join(ROOT, 'data', 'cmrc2018', 'cmrc2018_trial.json'), encoding='utf-8') as f:
        root = json.load(f)
    train, held = cmrc_split(root)
    paras = held if args.split == 'held_out' else [q for i, q in enumerate(train) if i % 10 == 0]
    paras = paras[:args.limit]
    passages = [q['context'] for q in paras]
    golds = [[qa for qa in q['qas'] if qa['answers']] for q in paras]
    answers = [[{'text': qa['answers'][0]['text'], 'answer_start': qa['answers'][0]['answer_start']} for qa in g]
               for g in golds]
    gold_q = [qa['question'] for g in golds for qa in g]
    gold_a = [qa['answers'][0]['text'] for g in golds for qa in g]
    rows, per_question = {}, {}
    for check in (False, True):
        numeric = args.setting in ('ban_answer_ngram', 'retry_ban_answer_ngram')
        value = (3 if check else 0) if numeric else check  # the ban's n-gram size: 3
        gen = QAGenerator.load(question={args.setting: value})
        gen.questions(passages[:1], [answers[0][:1]])  # trace once
        start = time.perf_counter()
        made = gen.questions(passages, answers)
        seconds = time.perf_counter() - start
        qs = [pair['question'] if pair['status'] == 'ok' else '' for r in made for pair in r['pairs']]
        deg = question_quality(qs)
        per_question[check] = [metrics.rouge_l(q, g) for q, g in zip(qs, gold_q)]
        rows[check] = {'rouge_l': float(np.mean(per_question[check])),
                       'degenerate': deg['degenerate_share'],
                       'type_mismatch': float(np.mean([mismatched(q, a) for q, a in zip(qs, gold_a)])),
                       'no_subject': float(np.mean([lacks_subject(q) for q in qs])),
                       'no_interrogative': float(np.mean([not has_interrogative(q) for q in qs])),
                       'holds_answer': float(np.mean([a in q for q, a in zip(qs, gold_a)])),
                       'gold_type_mismatch': float(np.mean([mismatched(q, a) for q, a in zip(gold_q, gold_a)])),
                       'questions': len(qs), 'seconds': seconds}
        print(check, rows[check], flush=True)
    print('## %s on the %s split (%d paragraphs, %d gold answers), shipped generator' %
          (args.setting, args.split, len(paras), rows[False]['questions']))
    option = '' if args.setting == 'answer_type_check' else ' --setting %s' % args.setting
    print('\nCommand: `python benchmarks/qa_answer_types.py --split %s%s`; CPU %s.\n' % (args.split, option, cpu()))
    print('| %s | question ROUGE-L | degenerate | interrogative does not fit the answer | no subject | '
          'no interrogative character | question holds its answer | seconds |' % args.setting)
    print('|---|---|---|---|---|---|---|---|')
    for check in (False, True):
        r = rows[check]
        print('| %s | %.3f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f |' % (
            'on' if check else 'off', r['rouge_l'], 100 * r['degenerate'], 100 * r['type_mismatch'],
            100 * r['no_subject'], 100 * r['no_interrogative'], 100 * r['holds_answer'], r['seconds']))
    diff, low, high = bootstrap_ci(per_question[True], per_question[False])
    print('\nROUGE-L on - off: %+.3f [%+.3f, %+.3f] (paired percentile bootstrap over the questions, 95%%).'
          % (diff, low, high))
    print('\nThe gold questions themselves break the table in %.1f%% of the items; %.1f%% of them lack a subject and '
          '%.1f%% an interrogative character by the same rules.'
          % (100 * rows[False]['gold_type_mismatch'], 100 * float(np.mean([lacks_subject(q) for q in gold_q])),
             100 * float(np.mean([not has_interrogative(q) for q in gold_q]))))


if __name__ == '__main__':
    main()
