"""Round-trip consistency filtering of generated QA pairs (Alberti et al., "Synthetic QA Corpora Generation with
Roundtrip Consistency", ACL 2019): the extractive reader answers each generated question from its passage; a pair
is kept when the reader's answer agrees with the generated one (character F1 at least ``threshold``)."""
from bert4keras_ext import metrics


class RoundTripFilter:
    """Marks pairs of generator records with ``kept``, ``reader_answer`` and ``roundtrip_f1``.

    Args:
        reader: a :class:`bert4keras_ext.qa.reader.Reader`.
        threshold: the character F1 between the reader's answer and the generated answer needed to keep a pair
            (1.0 = exact agreement).

    Example::

        records = generator.generate(passages, k=4)
        RoundTripFilter(Reader.load(reader_dir), threshold=0.5).apply(records)
        kept = [p for r in records for p in r['pairs'] if p['kept']]
    """

    def __init__(self, reader, threshold=0.5):
        if not 0 <= threshold <= 1:
            raise ValueError('threshold must be in [0, 1], got %r' % (threshold,))
        self.reader, self.threshold = reader, float(threshold)

    def apply(self, records):
        """Annotate every pair that has a question, in place; returns ``(kept, total)``."""
        pairs = [(rec['passage'], pair) for rec in records for pair in rec.get('pairs', [])
                 if pair.get('question')]
        if not pairs:
            return 0, 0
        answers = self.reader.answer([p for p, _ in pairs], [pair['question'] for _, pair in pairs])
        kept = 0
        for (_, pair), got in zip(pairs, answers):
            f1 = metrics.char_f1(got['answer'], pair['answer']) if got.get('answer') else 0.0
            pair['reader_answer'] = got.get('answer', '')
            pair['roundtrip_f1'] = round(float(f1), 4)
            pair['kept'] = bool(f1 >= self.threshold)
            kept += pair['kept']
        return kept, len(pairs)
