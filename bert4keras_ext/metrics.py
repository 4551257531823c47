"""Classification metrics in numpy (labels and scores as arrays)."""
import numpy as np


def binary_f1(y_true, y_pred, positive=1):
    y_true, y_pred = np.asarray(y_true) == positive, np.asarray(y_pred) == positive
    tp = np.sum(y_true & y_pred)
    denom = y_true.sum() + y_pred.sum()
    return float(2 * tp / denom) if denom else 0.0


def balanced_accuracy(y_true, y_pred):
    """Mean per-class recall over the classes present in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


def per_class_recall(y_true, y_pred, classes):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {int(c): float(np.mean(y_pred[y_true == c] == c)) if np.any(y_true == c) else float('nan')
            for c in classes}


def macro_f1(y_true, y_pred, classes=None):
    classes = np.unique(y_true) if classes is None else classes
    return float(np.mean([binary_f1(y_true, y_pred, c) for c in classes]))


def accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def roc_auc(y_true, scores):
    """Area under the ROC curve (Mann-Whitney statistic, ties counted half)."""
    y_true, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype='float64')
    pos, neg = scores[y_true], scores[~y_true]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError('AUC needs both classes in y_true')
    order = np.argsort(np.concatenate([pos, neg]), kind='mergesort')
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def best_threshold(y_true, scores, metric=binary_f1, candidates=None):
    """The score threshold maximising ``metric(y_true, scores > t)`` (the "adjust the result" baseline)."""
    scores = np.asarray(scores, dtype='float64')
    candidates = np.unique(scores) if candidates is None else candidates
    best = (-1.0, 0.0)
    for t in candidates:
        best = max(best, (metric(y_true, (scores > t).astype(int)), float(t)))
    return best[1]


# ------------------------------------------------------------------ sequence metrics (article 1)

def non_termination_ratio(sequences, end_ids, max_length):
    """Share of sequences with no end token among their first ``max_length`` tokens (r_L of Welleck et al.)."""
    end_ids = set(np.atleast_1d(end_ids).tolist())
    if not sequences:
        raise ValueError('no sequences')
    return float(np.mean([not any(t in end_ids for t in list(s)[:max_length]) for s in sequences]))


def repetition(sequence, n=4):
    """Share of repeated n-grams: 1 - unique n-grams / n-grams (0 for sequences shorter than n)."""
    s = list(sequence)
    grams = [tuple(s[i:i + n]) for i in range(len(s) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def perplexity(token_log_probs):
    """exp of the mean negative log-probability of the given tokens (natural log)."""
    lp = np.concatenate([np.ravel(x) for x in token_log_probs]) if isinstance(token_log_probs, list) \
        else np.ravel(token_log_probs)
    return float(np.exp(-np.mean(lp)))
