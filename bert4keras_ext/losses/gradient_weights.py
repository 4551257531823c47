"""The article-8 view "every modified loss only re-weights the gradient", made measurable.

For a binary loss from logits, :func:`gradient_weights` returns, for a grid of predicted probabilities, the implied
per-sample weight relative to cross-entropy: ``(dL/dz_i) / (dCE/dz_i)`` computed by autodiff on the loss's own
code (nothing hand-derived). Batch-level losses (soft F1, F1-weighted CE, GHM) depend on the rest of the batch, so
the grid is evaluated as one batch holding both labels (or inside ``context`` samples you give).
"""
import numpy as np
import tensorflow as tf


def gradient_weights(loss, probs=None, context=None):
    """``{label: (probs, weights)}`` for labels 1 and 0.

    loss: a Keras loss taking ``(y_true [n], logits [n])``. probs: grid of predicted probabilities (default 99
    points in (0, 1)). context: optional ``(labels, logits)`` of other samples placed in the same batch.
    """
    probs = np.linspace(0.01, 0.99, 99) if probs is None else np.asarray(probs, dtype='float64')
    z_grid = np.log(probs) - np.log1p(-probs)
    labels = np.concatenate([np.ones_like(z_grid), np.zeros_like(z_grid)])
    logits = np.concatenate([z_grid, z_grid])
    if context is not None:
        labels = np.concatenate([labels, np.asarray(context[0], 'float64')])
        logits = np.concatenate([logits, np.asarray(context[1], 'float64')])
    n = len(labels)
    z = tf.Variable(logits.astype('float32'))
    y = tf.constant(labels.astype('float32'))
    with tf.GradientTape() as tape:
        total = loss(y, z) * n  # the batch mean times n: per-sample gradients on the scale of a summed loss
    grad = tape.gradient(total, z).numpy().astype('float64')
    p_all = 1 / (1 + np.exp(-logits))
    ce_grad = p_all - labels  # d/dz of binary CE
    weights = grad / ce_grad
    m = len(z_grid)
    return {1: (probs, weights[:m]), 0: (probs, weights[m:2 * m])}


def plot_gradient_weights(losses, path=None, title='Gradient weight relative to cross-entropy'):
    """One panel per label: the weight curves of ``{name: loss}``; returns the matplotlib figure."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, loss in losses.items():
        curves = gradient_weights(loss)
        for ax, label in zip(axes, (1, 0)):
            p, w = curves[label]
            ax.plot(p, np.clip(w, 1e-3, None), label=name)
    for ax, label in zip(axes, (1, 0)):
        ax.set_title('%s samples (y = %d)' % ('positive' if label else 'negative', label))
        ax.set_xlabel('predicted p(y=1)')
        ax.axhline(1.0, color='grey', lw=0.5)
        ax.set_yscale('log')
    axes[0].set_ylabel('weight vs cross-entropy')
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    if path:
        fig.savefig(path, dpi=110, bbox_inches='tight')
    return fig
