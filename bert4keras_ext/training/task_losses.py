"""Non-differentiable task losses for MGS, as ``f(model, batch) -> float`` (lower is better)."""
import numpy as np

from bert4keras_ext import metrics


def _predictions(model, x):
    logits = model(x, training=False).numpy()
    return (logits[:, 0] > 0).astype(int) if logits.shape[-1] == 1 else logits.argmax(-1)


def macro_f1_loss(model, batch):
    """``1 - macro F1`` of the model's predictions on the batch."""
    x, y = batch
    y = np.asarray(y).ravel()
    return 1.0 - metrics.macro_f1(y, _predictions(model, x), classes=np.unique(y))


def continuation_loss(decoder, end_ids, prefix_len=10, weights=(1.0, 1.0), n=4):
    """``repetition + non-termination`` of the greedy continuations, by ``decoder`` (a
    :class:`bert4keras_ext.decoding.Decoder` on the model being trained), of the first ``prefix_len`` tokens of
    each batch row (``batch = ([token_ids, segment_ids], y)``): the MGS paper's sequence task loss."""
    def loss(model, batch):
        ids = np.asarray(batch[0][0])
        prefixes = [[int(t) for t in row[:prefix_len] if t] for row in ids]
        results = decoder.greedy(prefixes)
        seqs = [r.ids for r in results]
        rep = np.mean([metrics.repetition(s, n) for s in seqs])
        nonterm = metrics.non_termination_ratio(seqs, end_ids, decoder.maxlen)
        return weights[0] * rep + weights[1] * nonterm
    return loss
