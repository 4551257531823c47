"""An extractive reader: a bert4keras BERT with a start/end span head answers a question from a passage (SQuAD-style
reading comprehension). It is the round-trip filter of the QA-pair generator (Alberti et al., ACL 2019: keep a
generated pair when the reader, asked the generated question, finds the generated answer) and a tool of its own
(``python -m bert4keras_ext.qa answer``).

Input ``[CLS] question [SEP] passage [SEP]`` (segments 0 / 1); the head scores every passage token as the start and
as the end of the answer; the answer is the best span with ``start <= end < start + max_answer_len``, mapped back to
the passage's characters. A passage longer than fits is read in overlapping windows (:meth:`Reader.windows`), as
BERT's SQuAD reader does: training uses the windows that hold the whole answer, plus windows without it whose target
is the null span at [CLS]; the answer is the span with the largest margin over its window's null score.
"""
import json
import os

import numpy as np
import tensorflow as tf

from bert4keras_ext.qa.generator import fill_unknown_spans
from bert4keras_ext.qa.text import language_status

PACKAGE = 'bert4keras_ext'


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SpanLogits(tf.keras.layers.Layer):
    """``hidden [b, n, d]`` -> start and end logits ``[b, n, 2]``; the question (segment 0) and padding get a large
    negative logit, so only passage tokens and [CLS] (position 0: "no answer in this window", the null span of BERT's
    SQuAD 2.0 reader) can be chosen."""

    def build(self, input_shape):
        d = int(input_shape[0][-1])
        self.kernel = self.add_weight('kernel', (d, 2), initializer=tf.keras.initializers.TruncatedNormal(0.02))
        self.bias = self.add_weight('bias', (2,), initializer='zeros')
        super().build(input_shape)

    def call(self, inputs):
        hidden, token_ids, segment_ids = inputs
        logits = tf.einsum('bnd,dk->bnk', tf.cast(hidden, self.kernel.dtype), self.kernel) + self.bias
        passage = tf.logical_and(tf.equal(segment_ids, 1), tf.not_equal(token_ids, 0))
        first = tf.equal(tf.range(tf.shape(token_ids)[1]), 0)[None, :]
        return tf.where(tf.logical_or(passage, first)[..., None], logits, -1e4)

    def compute_mask(self, inputs, mask=None):
        return None


def build_reader(config_path, checkpoint_path=None):
    """The reader model ``[token_ids, segment_ids] -> [b, n, 2]`` span logits; BERT weights from
    ``checkpoint_path`` (checked load) or random when None."""
    from bert4keras_ext.checkpoints import load_model
    from bert4keras_ext.checkpoints.google import read_config
    from bert4keras_ext.models import build_model
    if checkpoint_path:
        encoder, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path)
    else:
        encoder = build_model(read_config(config_path)).model
    logits = SpanLogits(name='Span-Logits')([encoder.output] + list(encoder.inputs))
    return tf.keras.Model(encoder.inputs, logits, name='reader')


def span_loss(y_true, y_pred):
    """Cross-entropy of the gold start and end token positions ``y_true [b, 2]`` under ``y_pred [b, n, 2]``."""
    y = tf.cast(y_true, tf.int32)
    start = tf.keras.losses.sparse_categorical_crossentropy(y[:, 0], y_pred[..., 0], from_logits=True)
    end = tf.keras.losses.sparse_categorical_crossentropy(y[:, 1], y_pred[..., 1], from_logits=True)
    return (start + end) / 2


class Reader:
    """Encoding, training and answering around :func:`build_reader`.

    Args:
        model: the reader Keras model; tokenizer: its bert4keras ``Tokenizer``.
        maxlen: tokens of question + passage (the passage is cut to fit); max_question_len: question tokens kept;
        max_answer_len: longest answer in tokens.

    Example::

        reader = Reader.load('my_reader')            # a directory written by Reader.save
        reader.answer(['天问一号于2020年7月23日发射。'], ['天问一号何时发射？'])
        # [{'answer': '2020年7月23日', 'answer_start': 5, 'score': ...}]
    """

    def __init__(self, model, tokenizer, maxlen=256, max_question_len=48, max_answer_len=32):
        self.model, self.tokenizer = model, tokenizer
        self.maxlen, self.max_question_len, self.max_answer_len = int(maxlen), int(max_question_len), \
            int(max_answer_len)

    # ------------------------------------------------------------------------------------------ encoding
    def encode(self, passage, question, start=0, length=None):
        """``(token_ids, segment_ids, char_spans)`` of the question and ``passage[start:start + length]`` (default:
        from ``start`` on, cut to fit ``maxlen``): ``char_spans[i]`` lists the passage characters (indices into the
        whole passage) of token ``i`` (empty outside the passage)."""
        tok = self.tokenizer
        q_tokens = tok.tokenize(question)[:-1][:self.max_question_len]  # [CLS] question (no [SEP] yet)
        room = max(1, self.maxlen - len(q_tokens) - 2)
        piece = passage[start:] if length is None else passage[start:start + length]
        p_tokens = tok.tokenize(piece)[1:-1][:room]
        spans = fill_unknown_spans(tok.rematch(piece, ['[CLS]'] + p_tokens + ['[SEP]'])[1:-1], len(piece))
        spans = [[c + start for c in span] for span in spans]
        tokens = q_tokens + ['[SEP]'] + p_tokens + ['[SEP]']
        ids = tok.tokens_to_ids(tokens)
        segments = [0] * (len(q_tokens) + 1) + [1] * (len(p_tokens) + 1)
        char_spans = [[]] * (len(q_tokens) + 1) + spans + [[]]
        return ids, segments, char_spans

    def windows(self, passage, question):
        """``[(start, length)]``: character windows of the passage that fit next to the question (a Chinese
        character is at most one token), overlapping by half; one window when the passage fits."""
        n_question = len(self.tokenizer.tokenize(question)[:-1][:self.max_question_len])
        room = max(1, self.maxlen - n_question - 2)
        if len(passage) <= room:
            return [(0, len(passage))]
        stride = max(1, room // 2)
        starts = list(range(0, len(passage) - room, stride)) + [len(passage) - room]
        return [(s, room) for s in starts]

    def token_span(self, char_spans, start, text):
        """Token positions ``(first, last)`` covering passage characters ``start .. start + len(text) - 1``, or
        None when the answer lies beyond the kept tokens."""
        end = start + len(text) - 1
        first = next((i for i, s in enumerate(char_spans) if s and s[-1] >= start), None)
        last = next((i for i in range(len(char_spans) - 1, -1, -1) if char_spans[i] and char_spans[i][0] <= end),
                    None)
        if first is None or last is None or last < first or char_spans[last][-1] < end:
            return None
        return first, last

    def training_arrays(self, examples, negatives=1, seed=0):
        """``(x, y, kept)`` from ``[{'passage', 'question', 'answer', 'answer_start'}]``: one row per passage window
        (:meth:`windows`) that holds the whole answer, and up to ``negatives`` rows (drawn with ``seed``) of windows
        without it, whose target is the null span ``(0, 0)`` at [CLS]; ``kept`` counts the examples with at least
        one answer row."""
        from bert4keras.snippets import sequence_padding
        rng = np.random.RandomState(seed)
        ids, segs, ys, kept = [], [], [], 0
        for e in examples:
            start, n = int(e['answer_start']), len(e['answer'])
            rows, others = [], []
            for w_start, w_len in self.windows(e['passage'], e['question']):
                i, s, spans = self.encode(e['passage'], e['question'], w_start, w_len)
                inside = w_start <= start and start + n <= w_start + w_len
                span = self.token_span(spans, start, e['answer']) if inside else None
                if span is not None:
                    rows.append((i, s, span))
                elif not (start < w_start + w_len and start + n > w_start):  # no part of the answer in it
                    others.append((i, s, (0, 0)))
            if not rows:
                continue
            kept += 1
            if negatives and others:
                rows += [others[j] for j in rng.permutation(len(others))[:negatives]]
            for i, s, span in rows:
                ids.append(i)
                segs.append(s)
                ys.append(span)
        if not ids:
            return None, None, 0
        return [sequence_padding(ids).astype('int32'), sequence_padding(segs).astype('int32')], \
            np.array(ys, 'int32'), kept

    # ------------------------------------------------------------------------------------------ training
    def fit(self, examples, epochs=2, batch_size=16, learning_rate=1e-4, seed=0, verbose=0, validation=None,
            negatives=1):
        """Fine-tune on span examples with the package's recipe (warm-up + linear decay, best epoch by
        validation F1 when ``validation`` examples are given); ``negatives``: windows without the answer per
        example (null-span targets, see :meth:`training_arrays`). Returns the Keras history."""
        from bert4keras_ext import classification
        x, y, kept = self.training_arrays(examples, negatives, seed)
        if kept == 0:
            raise ValueError('no training example has its answer inside its passage (check answer_start)')
        metric = None
        if validation:
            def metric(model, *_):
                return self.evaluate(validation)['f1']
        history, _ = classification.fine_tune(
            self.model, span_loss, x, y, seed=seed, verbose=verbose, learning_rate=learning_rate, epochs=epochs,
            batch_size=batch_size, validation_data=(None, None) if validation else None, metric=metric)
        return history

    # ------------------------------------------------------------------------------------------ answering
    def answer(self, passages, questions, batch_size=32):
        """One ``{'answer', 'answer_start', 'score'}`` per (passage, question) pair (``score``: the span's margin over
        the null span of its window; the best window wins); an empty passage or question
        gives ``{'answer': '', 'answer_start': -1, 'score': None, 'status': 'empty_passage'}`` (or
        ``'empty_question'``, or ``'not_chinese'`` when the passage or the question is under 30% Chinese, see
        :func:`bert4keras_ext.qa.text.language_status`): the same status names as the generator's."""
        from bert4keras.snippets import sequence_padding
        if len(passages) != len(questions):
            raise ValueError('%d passages for %d questions' % (len(passages), len(questions)))
        out = [None] * len(passages)
        todo = []  # (pair index, token ids, segment ids, char spans), one per passage window
        for k, (p, q) in enumerate(zip(passages, questions)):
            if not p or not p.strip() or not q or not q.strip():
                status = 'empty_passage' if not p or not p.strip() else 'empty_question'
                out[k] = {'answer': '', 'answer_start': -1, 'score': None, 'status': status}
            elif language_status(p) or language_status(q):  # the reader reads Chinese
                out[k] = {'answer': '', 'answer_start': -1, 'score': None, 'status': 'not_chinese'}
            else:
                todo += [(k,) + tuple(self.encode(p, q, s, n)) for s, n in self.windows(p, q)]
        for b in range(0, len(todo), batch_size):
            chunk = todo[b:b + batch_size]
            x = [sequence_padding([c[1] for c in chunk]).astype('int32'),
                 sequence_padding([c[2] for c in chunk]).astype('int32')]
            logits = self.model.predict(x, batch_size=batch_size, verbose=0)
            for (k, _, _, spans), lg in zip(chunk, logits):
                best = self._best_span(passages[k], spans, lg)
                if best['score'] is not None:
                    best['score'] -= float(lg[0, 0] + lg[0, 1])  # the margin over this window's null span
                if out[k] is None or (best['score'] is not None and
                                      (out[k]['score'] is None or best['score'] > out[k]['score'])):
                    out[k] = best
        return out

    def _best_span(self, passage, spans, logits):
        n = len(spans)
        inside = np.array([bool(s) for s in spans])  # passage tokens only
        start = np.where(inside, logits[:n, 0], -np.inf)
        end = np.where(inside, logits[:n, 1], -np.inf)
        scores = start[:, None] + end[None, :]
        i, j = np.indices(scores.shape)
        scores = np.where((j >= i) & (j < i + self.max_answer_len), scores, -np.inf)
        best = np.unravel_index(np.argmax(scores), scores.shape)
        chars = [c for s in spans[best[0]:best[1] + 1] for c in s]
        if not chars or not np.isfinite(scores[best]):
            return {'answer': '', 'answer_start': -1, 'score': None, 'status': 'no_span'}
        return {'answer': passage[chars[0]:chars[-1] + 1], 'answer_start': int(chars[0]),
                'score': float(scores[best]), 'status': 'ok'}

    def evaluate(self, examples):
        """Exact match and character F1 of the reader's answers against the gold answers."""
        from bert4keras_ext import metrics
        preds = self.answer([e['passage'] for e in examples], [e['question'] for e in examples])
        em = [metrics.exact_match(p['answer'], e['answer']) for p, e in zip(preds, examples)]
        f1 = [metrics.char_f1(p['answer'], e['answer']) for p, e in zip(preds, examples)]
        return {'em': float(np.mean(em)), 'f1': float(np.mean(f1)), 'n': len(examples)}

    # ------------------------------------------------------------------------------------------ files
    def save(self, directory, config_path):
        """Weights (``reader.weights.h5``), ``bert_config.json``, ``vocab.txt`` and ``reader_config.json``."""
        import shutil
        os.makedirs(directory, exist_ok=True)
        optimizer = getattr(self.model, 'optimizer', None)
        self.model.optimizer = None  # the '.weights.h5' format would store the optimizer's slots too (3x the size)
        try:
            self.model.save_weights(os.path.join(directory, 'reader.weights.h5'))
        finally:
            self.model.optimizer = optimizer
        if os.path.abspath(config_path) != os.path.abspath(os.path.join(directory, 'bert_config.json')):
            shutil.copyfile(config_path, os.path.join(directory, 'bert_config.json'))
        vocab = sorted(self.tokenizer._token_dict.items(), key=lambda kv: kv[1])
        with open(os.path.join(directory, 'vocab.txt'), 'w', encoding='utf-8') as f:
            f.write('\n'.join(t for t, _ in vocab) + '\n')
        with open(os.path.join(directory, 'reader_config.json'), 'w', encoding='utf-8') as f:
            json.dump({'maxlen': self.maxlen, 'max_question_len': self.max_question_len,
                       'max_answer_len': self.max_answer_len}, f, indent=2)
        return directory

    @classmethod
    def load(cls, directory=None):
        """A directory written by :meth:`save`; ``None``: the reader shipped with the package."""
        from bert4keras.tokenizers import Tokenizer
        directory = directory or shipped_reader_dir()
        missing = [f for f in ('reader.weights.h5', 'bert_config.json', 'vocab.txt', 'reader_config.json')
                   if not os.path.isfile(os.path.join(directory, f))]
        if missing:
            raise FileNotFoundError('%s is not a reader directory: it lacks %s' % (directory, ', '.join(missing)))
        with open(os.path.join(directory, 'reader_config.json'), encoding='utf-8') as f:
            settings = json.load(f)
        model = build_reader(os.path.join(directory, 'bert_config.json'))
        model.load_weights(os.path.join(directory, 'reader.weights.h5'))
        return cls(model, Tokenizer(os.path.join(directory, 'vocab.txt'), do_lower_case=True), **settings)


def shipped_reader_dir(required=True):
    """The reader shipped as package data (``bert4keras_ext/assets/qa_reader``); None (or an error when
    ``required``) when this installation has none."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'assets', 'qa_reader')
    if os.path.isfile(os.path.join(path, 'reader.weights.h5')):
        return path
    if required:
        raise FileNotFoundError('no reader is shipped with this installation (%s is missing): pass a reader '
                                'directory (python -m tasks.qa_generation writes one)' % path)
    return None
