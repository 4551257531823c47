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


# ------------------------------------------------------------------ generation metrics (article 5)

def _chars(text):
    return [c for c in str(text) if not c.isspace()]


def char_f1(prediction, reference):
    """CMRC-style character-level F1 (longest common subsequence based precision/recall)."""
    p, r = _chars(prediction), _chars(reference)
    if not p or not r:
        return float(p == r)
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction, reference):
    return float(''.join(_chars(prediction)) == ''.join(_chars(reference)))


def _lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction, reference):
    """Character-level ROUGE-L F-measure."""
    return char_f1(prediction, reference)


def bleu4(prediction, reference):
    """Character-level sentence BLEU-4 (uniform weights, brevity penalty, add-one smoothing for n > 1)."""
    p, r = _chars(prediction), _chars(reference)
    if not p:
        return 0.0
    log_precisions = []
    for n in range(1, 5):
        grams = [tuple(p[i:i + n]) for i in range(len(p) - n + 1)]
        ref = {}
        for i in range(len(r) - n + 1):
            g = tuple(r[i:i + n])
            ref[g] = ref.get(g, 0) + 1
        match = 0
        for g in grams:
            if ref.get(g, 0) > 0:
                ref[g] -= 1
                match += 1
        total = len(grams)
        if n == 1 and match == 0:
            return 0.0
        log_precisions.append(np.log((match + (n > 1)) / (total + (n > 1))) if total else np.log(1 / (1 + 1)))
    bp = min(1.0, np.exp(1 - len(r) / len(p)))
    return float(bp * np.exp(np.mean(log_precisions)))


def distinct_n(texts, n):
    """Unique n-grams / n-grams over all texts (characters)."""
    grams = [tuple(_chars(t)[i:i + n]) for t in texts for i in range(len(_chars(t)) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def edit_distance(a, b):
    """Levenshtein distance between two sequences (characters of strings, or token lists)."""
    a, b = list(a), list(b)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]
