"""Stock bert4keras baselines that our code is measured against (experiment code, not part of the library).

* :func:`bert4keras_decoder` — an ``AutoRegressiveDecoder`` whose ``predict`` runs ``model.predict`` on the whole
  growing sequence (one input at a time), as bert4keras examples do;
* :func:`stock_generate` — article 5's QA-pair generation on that decoder: unconstrained nucleus-sampled answers,
  then a beam-searched question, one passage at a time (the speed baseline of the QA task and benchmark).
"""
import numpy as np


def bert4keras_decoder(model, end_id, maxlen, minlen=1, target_segment=1):
    """An ``AutoRegressiveDecoder`` for a ``[token_ids, segment_ids] -> probabilities`` model; generated tokens
    get segment ``target_segment`` (1 for UniLM, 0 for LM)."""
    from bert4keras.snippets import AutoRegressiveDecoder

    class Stock(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype='probas')
        def predict(self, inputs, output_ids, states):
            token_ids, segment_ids = inputs
            token_ids = np.concatenate([token_ids, output_ids], 1)
            segment_ids = np.concatenate([segment_ids, np.full_like(output_ids, target_segment)], 1)
            return self.last_token(model).predict([token_ids, segment_ids], verbose=0)

    return Stock(start_id=None, end_id=end_id, maxlen=maxlen, minlen=minlen)


def stock_generate(model, tokenizer, passages, k=4, top_p=0.95, beam_size=3, max_p_len=128, max_a_len=16,
                   max_q_len=32, seed=0):
    sep = tokenizer._token_end_id
    answers = bert4keras_decoder(model, sep, max_a_len)
    questions = bert4keras_decoder(model, sep, max_q_len)
    np.random.seed(seed)
    records = []
    for passage in passages:
        ids, segs = tokenizer.encode(passage, maxlen=max_p_len)
        pairs, seen = [], set()
        for a in answers.random_sample([ids, segs], k, topp=top_p):
            a = [int(t) for t in a if t != sep]
            text = tokenizer.decode(a)
            if not a or text in seen:
                continue
            seen.add(text)
            q = questions.beam_search([ids + a + [sep], segs + [1] * (len(a) + 1)], beam_size)
            pairs.append({'answer': text, 'question': tokenizer.decode([t for t in q if t != sep]),
                          'answer_start': passage.find(text)})
        records.append({'passage': passage, 'status': 'ok' if pairs else 'no_answer', 'pairs': pairs})
    return records
