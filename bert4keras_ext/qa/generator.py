"""Passage -> (answer, question) pairs: answers sampled under the passage-span constraint (so every answer is a
substring of its passage, by construction), one question per answer by beam search; all batched through
:class:`bert4keras_ext.decoding.Decoder`."""
import json
import os


from bert4keras_ext.decoding import CachedLM, Decoder, SpanConstraint, TopK, TopP


class QAGenerator:
    """model: a bert4keras 'unilm' BERT (Keras model or builder) with its MLM head; tokenizer: its bert4keras
    ``Tokenizer``."""

    def __init__(self, model, tokenizer, max_p_len=128, max_a_len=16, max_q_len=32):
        self.tokenizer = tokenizer
        self.max_p_len, self.max_a_len, self.max_q_len = max_p_len, max_a_len, max_q_len
        self.sep = tokenizer._token_end_id
        lm = CachedLM(model, 'unilm')
        self.answers = Decoder(lm, self.sep, maxlen=max_a_len)
        self.questions = Decoder(lm, self.sep, maxlen=max_q_len)

    @classmethod
    def load(cls, directory):
        """A directory written by :func:`bert4keras_ext.qa.model.save` (or any UniLM-ready BERT checkpoint)."""
        from bert4keras.tokenizers import Tokenizer
        from bert4keras_ext.checkpoints import load_model
        model, _ = load_model(directory, application='unilm')
        settings = {}
        path = os.path.join(directory, 'qa_config.json')
        if os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                settings = json.load(f)
        tokenizer = Tokenizer(os.path.join(directory, 'vocab.txt'), do_lower_case=True)
        return cls(model, tokenizer, **{k: settings[k] for k in ('max_p_len', 'max_a_len', 'max_q_len')
                                        if k in settings})

    def windows(self, passage):
        """Split a passage into chunks of at most ``max_p_len - 2`` characters (sentence ends preferred)."""
        size = self.max_p_len - 2
        out, rest = [], passage.strip()
        while len(rest) > size:
            cut = max(rest.rfind(c, 0, size) for c in '。！？；') + 1
            cut = cut if cut > size // 2 else size
            out.append(rest[:cut])
            rest = rest[cut:].strip()
        if rest:
            out.append(rest)
        return out

    def _answer_text(self, window, tokens, body_ids, answer_ids):
        """The passage substring covered by the first occurrence of ``answer_ids`` among the body tokens."""
        n = len(answer_ids)
        for i in range(len(body_ids) - n + 1):
            if list(body_ids[i:i + n]) == list(answer_ids):
                mapping = _fill_unknown(self.tokenizer.rematch(window, tokens)[1:-1], len(window))
                chars = [c for m in mapping[i:i + n] for c in m]
                if chars:
                    return window[chars[0]:chars[-1] + 1], chars[0]
        return None, None

    def generate(self, passages, k=4, top_p=0.95, top_k=None, constrained=True, beam_size=3, seed=0):
        """For each passage: ``{'passage', 'status', 'pairs': [{'answer', 'question', 'answer_start'}]}``.

        status: 'ok', 'empty_passage', or 'no_answer' (no span could be generated). Passages longer than the
        window are split and their pairs pooled (``answer_start`` indexes the whole passage)."""
        records = [{'passage': p, 'status': 'ok', 'pairs': []} for p in passages]
        jobs = []  # (record index, window, window offset)
        for r, p in enumerate(passages):
            if not p or not p.strip():
                records[r]['status'] = 'empty_passage'
                continue
            offset = 0
            for w in self.windows(p):
                start = p.find(w, offset)
                jobs.append((r, w, start))
                offset = start + len(w)
        if jobs:
            self._generate_windows(records, jobs, k, top_p, top_k, constrained, beam_size, seed)
        for rec in records:
            if rec['status'] == 'ok' and not rec['pairs']:
                rec['status'] = 'no_answer'
        return records

    def _generate_windows(self, records, jobs, k, top_p, top_k, constrained, beam_size, seed):
        encoded = [self.tokenizer.encode(w, maxlen=self.max_p_len) for _, w, _ in jobs]
        p_ids = [e[0] for e in encoded]
        bodies = [ids[1:-1] for ids in p_ids]
        processors = []
        if constrained:
            processors.append(SpanConstraint(bodies, self.sep))
        if top_k:
            processors.append(TopK(top_k))
        if top_p:
            processors.append(TopP(top_p))
        samples = self.answers.sample(p_ids, n=k, processors=processors, seed=seed)
        q_inputs, q_segments, owners = [], [], []
        for j, ((r, window, start), ids, body) in enumerate(zip(jobs, p_ids, bodies)):
            tokens = self.tokenizer.ids_to_tokens(ids)
            seen = set()
            for s in samples[j]:
                if s.status != 'end' or len(s.ids) < 2:
                    continue
                a_ids = s.ids[:-1]
                if constrained:
                    text, pos = self._answer_text(window, tokens, body, a_ids)
                    if text is None:  # only [UNK] tokens: no characters to point at
                        continue
                    assert text in window, 'span-constrained answer is not a span'
                else:
                    text = self.tokenizer.decode(a_ids)
                    pos = window.find(text)
                if not text or text in seen:
                    continue
                seen.add(text)
                q_inputs.append(ids + a_ids + [self.sep])
                q_segments.append([0] * len(ids) + [1] * (len(a_ids) + 1))
                owners.append((r, text, start + pos if pos is not None and pos >= 0 else -1))
        if not q_inputs:
            return
        questions = self.questions.beam_search(q_inputs, beam_size, segments=q_segments)
        for (r, answer, pos), q in zip(owners, questions):
            ids = q.ids[:-1] if q.status == 'end' else q.ids
            records[r]['pairs'].append({'answer': answer, 'question': self.tokenizer.decode(ids),
                                        'answer_start': int(pos)})


def _fill_unknown(mapping, n_chars):
    """Give tokens that rematch leaves empty ([UNK]) the characters between their neighbours."""
    out = [list(m) for m in mapping]
    for i, m in enumerate(out):
        if m:
            continue
        prev_end = next((out[j][-1] for j in range(i - 1, -1, -1) if out[j]), -1)
        next_start = next((mapping[j][0] for j in range(i + 1, len(mapping)) if mapping[j]), n_chars)
        out[i] = list(range(prev_end + 1, next_start))
    return out
