"""Adversarial robustness on token embeddings (FGSM), for any Keras model with an embedding matrix.

Text inputs are discrete, so the perturbation is applied where the model becomes continuous: the embedding
matrix. For each batch, the rows used by the batch move by ``eps * sign(dL/dE)`` (an L-infinity step of size
``eps`` on every embedded token, FGSM of Goodfellow et al. 2015), the batch is scored, and the matrix is restored
exactly. This is the perturbation the WEISSI paper's robustness claim is about (its regularizer bounds the input
gradient).
"""
import numpy as np
import tensorflow as tf


def fgsm_embedding_accuracy(model, embedding, x, y, epsilons, loss_fn, batch_size=64):
    """``{eps: accuracy}`` under an FGSM step on the embedding matrix ``embedding`` (a ``tf.Variable``).

    Args:
        model: a Keras model whose prediction is the argmax of its logits (a single logit column is read as a sigmoid
            score with threshold 0).
        embedding: the embedding matrix the step perturbs.
        x: model inputs (array or list of arrays). y: integer labels (the attack ascends their loss).
        epsilons: step sizes (0 gives the clean accuracy). loss_fn: ``loss_fn(y, logits)``.

    Returns:
        ``{eps: share of items predicted right}``.

    Example:
        >>> fgsm_embedding_accuracy(model, bert.get_layer('Embedding-Token').embeddings, x, y, [0, 0.01], loss)
    """
    y = np.asarray(y)
    return {eps: float(np.mean(pred == y))
            for eps, pred in fgsm_embedding_predictions(model, embedding, x, y, epsilons, loss_fn, batch_size).items()}


def fgsm_embedding_predictions(model, embedding, x, y, epsilons, loss_fn, batch_size=64):
    """Per-item predictions under the FGSM step of :func:`fgsm_embedding_accuracy`, e.g. for a bootstrap over test
    items.

    Args:
        model, embedding, x, y, epsilons, loss_fn, batch_size: as :func:`fgsm_embedding_accuracy`.

    Returns:
        ``{eps: int array of the predicted class of every item}`` (in the order of ``x``).

    Example:
        >>> preds = fgsm_embedding_predictions(model, emb, x, y, [0.0, 0.003], loss)
        >>> float((preds[0.003] == y).mean())   # the accuracy under the attack
    """
    xs = x if isinstance(x, (list, tuple)) else [x]
    y = np.asarray(y)
    n = len(y)
    preds = {float(e): np.zeros(n, dtype='int64') for e in epsilons}
    original = embedding.numpy()
    try:
        for start in range(0, n, batch_size):
            batch = [a[start:start + batch_size] for a in xs]
            batch_in = batch if len(batch) > 1 else batch[0]
            yb = y[start:start + batch_size]
            with tf.GradientTape() as tape:
                logits = model(batch_in, training=False)
                loss = loss_fn(yb, logits)
            grad = tape.gradient(loss, embedding)
            grad = tf.convert_to_tensor(grad).numpy()
            direction = np.sign(grad)
            for eps in preds:
                embedding.assign(original + eps * direction)
                logits = model(batch_in, training=False).numpy()
                preds[eps][start:start + len(yb)] = ((logits[:, 0] > 0).astype(int) if logits.shape[-1] == 1
                                                     else logits.argmax(-1))
                embedding.assign(original)
    finally:
        embedding.assign(original)
    return preds
