"""The same generation on bert4keras' own ``AutoRegressiveDecoder`` (one passage at a time, ``model.predict`` on
the whole growing sequence every step): unconstrained nucleus-sampled answers, then a beam-searched question.
Kept as the speed baseline of the article-5 task and as a reference for what the article's script does."""
import numpy as np


def stock_generate(model, tokenizer, passages, k=4, top_p=0.95, beam_size=3, max_p_len=128, max_a_len=16,
                   max_q_len=32, seed=0):
    from bert4keras_ext.decoding.baseline import bert4keras_decoder
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
