"""Logit adjustment for long-tailed classification (article 4, kexue.fm/archives/7615; Menon et al., "Long-tail
learning via logit adjustment", ICLR 2021).

Model the pointwise mutual information instead of the conditional probability: train with

    L = -log softmax(f(x) + tau * log p(y))_y = log[1 + sum_{i != y} (p(i) / p(y))^tau * exp(f_i - f_y)]   (eq. 4)

and predict with ``argmax_y f_y(x)`` (balanced accuracy) or ``argmax_y f_y(x) + tau log p(y)`` (accuracy under the
training prior). A model trained with plain cross-entropy can be adjusted post hoc: ``f_y(x) - tau log p(y)``.
Alternatively initialise the last Dense bias to ``tau log p(y)`` (:class:`PriorBias`).

Priors: :func:`estimate_prior` counts labels; a class with zero count is an error unless ``smoothing > 0``
(additive / Laplace smoothing: ``p(y) = (n_y + smoothing) / (N + K * smoothing)``).
"""
import numpy as np
import tensorflow as tf

PACKAGE = 'bert4keras_ext'


def check_prior(prior, num_classes=None, name='prior'):
    """A valid prior as a float64 numpy vector: positive, finite, summing to 1 (within 1e-4), right length."""
    p = np.asarray(prior, dtype='float64').reshape(-1)
    if num_classes is not None and len(p) != num_classes:
        raise ValueError('%s has %d entries but the model has %d classes' % (name, len(p), num_classes))
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        bad = np.flatnonzero(~np.isfinite(p) | (p <= 0)).tolist()
        raise ValueError('%s must be positive for every class; classes %s are not (use estimate_prior(..., '
                         'smoothing=1) for classes with no examples)' % (name, bad[:10]))
    if abs(p.sum() - 1) > 1e-4:
        raise ValueError('%s must sum to 1, sums to %.6f' % (name, p.sum()))
    return p


def estimate_prior(labels, num_classes=None, smoothing=0.0):
    """Class frequencies from integer labels (or one-hot rows). Zero-count classes raise unless ``smoothing``."""
    y = np.asarray(labels)
    if y.ndim == 2:
        counts = y.sum(0).astype('float64')
    else:
        y = y.astype('int64')
        if y.size and y.min() < 0:
            raise ValueError('labels must be >= 0, found %d' % y.min())
        k = num_classes if num_classes is not None else int(y.max()) + 1
        if y.size and y.max() >= k:
            raise ValueError('label %d is out of range for %d classes' % (y.max(), k))
        counts = np.bincount(y, minlength=k).astype('float64')
    if num_classes is not None and len(counts) != num_classes:
        raise ValueError('labels describe %d classes but num_classes=%d' % (len(counts), num_classes))
    if smoothing < 0:
        raise ValueError('smoothing must be >= 0, got %r' % smoothing)
    zero = np.flatnonzero(counts == 0)
    if len(zero) and smoothing == 0:
        raise ValueError('classes %s have no examples, so log p(y) is -inf: pass smoothing > 0 (e.g. 1) to '
                         'estimate_prior, or drop those classes' % zero[:10].tolist())
    counts = counts + smoothing
    return counts / counts.sum()


def log_prior(prior, num_classes=None):
    return np.log(check_prior(prior, num_classes)).astype('float32')


def adjust_logits(logits, prior, tau=1.0):
    """``logits + tau * log p(y)``: the logits the logit-adjusted loss puts into the softmax."""
    logits = tf.convert_to_tensor(logits)
    lp = tf.constant(log_prior(prior, logits.shape[-1]), dtype=logits.dtype)
    return logits + tau * lp


def posthoc_adjust(logits, prior, tau=1.0):
    """``f_y(x) - tau * log p(y)`` for a model trained with plain cross-entropy (predict with its argmax)."""
    return adjust_logits(logits, prior, -tau)


def logit_adjusted_crossentropy(y_true, logits, prior, tau=1.0, sparse=True):
    """Per-sample loss ``-log softmax(logits + tau log p)[y]``; ``sparse``: integer labels, else one-hot/soft."""
    z = adjust_logits(logits, prior, tau)
    if sparse:
        y = tf.cast(tf.reshape(y_true, tf.shape(z)[:-1]), tf.int32)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)
    return tf.nn.softmax_cross_entropy_with_logits(labels=tf.cast(y_true, z.dtype), logits=z)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class LogitAdjustedCrossEntropy(tf.keras.losses.Loss):
    """Keras loss (from logits) ``-log softmax(f(x) + tau log p(y))_y``; ``tau=0`` is plain cross-entropy."""

    def __init__(self, prior, tau=1.0, sparse=True, name='logit_adjusted_crossentropy', **kwargs):
        super().__init__(name=name, **kwargs)
        self.prior = [float(v) for v in check_prior(prior)]
        self.tau = float(tau)
        self.sparse = bool(sparse)

    def call(self, y_true, y_pred):
        return logit_adjusted_crossentropy(y_true, y_pred, self.prior, self.tau, self.sparse)

    def get_config(self):
        config = super().get_config()
        config.update(prior=self.prior, tau=self.tau, sparse=self.sparse)
        return config


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SparseLogitAdjustedCrossEntropy(LogitAdjustedCrossEntropy):
    """:class:`LogitAdjustedCrossEntropy` for integer labels (the sparse variant, named as Keras names them)."""

    def __init__(self, prior, tau=1.0, name='sparse_logit_adjusted_crossentropy', **kwargs):
        kwargs.pop('sparse', None)
        super().__init__(prior, tau=tau, sparse=True, name=name, **kwargs)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class PriorBias(tf.keras.initializers.Initializer):
    """Bias initializer ``tau * log p(y)`` for the last Dense layer (the article's simplest implementation)."""

    def __init__(self, prior, tau=1.0):
        self.prior = [float(v) for v in check_prior(prior)]
        self.tau = float(tau)

    def __call__(self, shape, dtype=None, **kwargs):
        if tuple(shape) != (len(self.prior),):
            raise ValueError('PriorBias has %d classes but the bias has shape %s' % (len(self.prior), tuple(shape)))
        return tf.constant(self.tau * np.log(self.prior), dtype=dtype or tf.float32)

    def get_config(self):
        return {'prior': self.prior, 'tau': self.tau}
