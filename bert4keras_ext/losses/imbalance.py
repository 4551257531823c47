"""The class-imbalance loss family of article 8 (kexue.fm/archives/7708), all from logits.

Binary (sigmoid, one logit ``z`` per sample, ``p = sigmoid(z)``):

| class | loss | source |
|---|---|---|
| :class:`SmoothAccuracy` | ``-[y p + (1 - y)(1 - p)]`` | article 8 eq. (1) |
| :class:`BinaryCrossEntropy` | ``-[y log p + (1 - y) log(1 - p)]`` | eq. (2) |
| :class:`WeightedBinaryCrossEntropy` | ``-[w1 y log p + w0 (1 - y) log(1 - p)]`` | re-weighting |
| :class:`BinaryFocal` | ``-alpha_t (1 - p_t)^gamma log p_t`` | Lin et al. 2017 |
| :class:`BinaryGHM` | CE weighted by ``N / GD(g)``, ``g = |p - y|``, ``bins`` bins, EMA ``momentum`` | Li et al., AAAI 2019 |
| :class:`SoftF1` | ``1 - 2 sum(y p) / sum(y + p)`` (= soft Dice loss) | smoothed F1 |
| :class:`F1WeightedCrossEntropy` | ``-[y (1 - F1/2) log p + (1 - y) (F1/2) log(1 - p)]``, batch F1 under stop-gradient | article 8 eq. (9) |
| :class:`BinaryLogitAdjusted` | CE on ``z + tau log(pi1 / pi0)`` (the two-class case of eq. (13)) | articles 4, 8 |

Multi-class (softmax over the last axis, integer labels): :class:`SoftmaxFocal`, :class:`SoftmaxSmoothAccuracy`,
:class:`WeightedSoftmaxCrossEntropy`; the logit-adjusted softmax loss is
:class:`bert4keras_ext.losses.logit_adjustment.LogitAdjustedCrossEntropy`.

Everything is computed with ``log_sigmoid`` / ``log_softmax``, so logits of +-1e4 give finite values and gradients.
"""
import numpy as np
import tensorflow as tf

PACKAGE = 'bert4keras_ext'


def _binary(y_true, logits):
    z = tf.reshape(tf.convert_to_tensor(logits), [-1])
    y = tf.reshape(tf.cast(y_true, z.dtype), [-1])
    return y, z


def log_p(z):
    """``(log p, log(1 - p))`` with ``p = sigmoid(z)``, stable for large |z|."""
    return tf.math.log_sigmoid(z), tf.math.log_sigmoid(-z)


class _Loss(tf.keras.losses.Loss):
    """Base: keeps constructor arguments for ``get_config``."""
    _fields = ()

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in self._fields})
        return config


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SmoothAccuracy(_Loss):
    def __init__(self, name='smooth_accuracy', **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        p = tf.sigmoid(z)
        return -(y * p + (1 - y) * (1 - p))


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class BinaryCrossEntropy(_Loss):
    def __init__(self, name='binary_crossentropy_from_logits', **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        lp, lq = log_p(z)
        return -(y * lp + (1 - y) * lq)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class WeightedBinaryCrossEntropy(_Loss):
    """Class-weighted CE; ``positive_weight``/``negative_weight`` e.g. ``1 / prior`` (normalised to mean 1)."""
    _fields = ('positive_weight', 'negative_weight')

    def __init__(self, positive_weight=1.0, negative_weight=1.0, name='weighted_binary_crossentropy', **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weight, self.negative_weight = float(positive_weight), float(negative_weight)

    @classmethod
    def from_prior(cls, positive_rate, **kwargs):
        """Weights ``1 / p(y)`` scaled so that the average sample weight under the prior is 1."""
        w1, w0 = 1.0 / positive_rate, 1.0 / (1.0 - positive_rate)
        scale = positive_rate * w1 + (1 - positive_rate) * w0
        return cls(positive_weight=w1 / scale, negative_weight=w0 / scale, **kwargs)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        lp, lq = log_p(z)
        return -(self.positive_weight * y * lp + self.negative_weight * (1 - y) * lq)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class BinaryFocal(_Loss):
    """``-alpha_t (1 - p_t)^gamma log p_t``; ``alpha`` weights positives (``1 - alpha`` negatives); ``alpha=None``
    means no class weighting."""
    _fields = ('alpha', 'gamma')

    def __init__(self, alpha=0.25, gamma=2.0, name='binary_focal', **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = None if alpha is None else float(alpha)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        zt = tf.where(y > 0.5, z, -z)  # p_t = sigmoid(zt)
        log_pt = tf.math.log_sigmoid(zt)
        one_minus_pt = tf.sigmoid(-zt)
        loss = -tf.pow(one_minus_pt, self.gamma) * log_pt
        if self.alpha is not None:
            loss *= y * self.alpha + (1 - y) * (1 - self.alpha)
        return loss


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class BinaryGHM(_Loss):
    """GHM-C (gradient harmonizing mechanism): CE re-weighted by the inverse density of the gradient norm
    ``g = |p - y|`` over ``bins`` equal bins of [0, 1].

    With ``momentum > 0`` the bin counts are an exponential moving average across *training* batches, kept in a
    non-trainable variable of this loss object. The average moves only while a gradient tape records (a training
    step: ``fit``'s train step, or your own ``tf.GradientTape``); ``evaluate``, ``predict`` and validation batches
    read it without changing it. Its current value is part of ``get_config`` (``counts``), so a model saved after
    training and loaded again continues from the same average.

    Args:
        bins: number of equal bins of ``g``.
        momentum: EMA momentum of the bin counts, in [0, 1) (0: each batch on its own).
        counts: initial bin counts (a list of ``bins`` floats; default: none seen yet).

    Example::

        model.compile('adam', BinaryGHM(bins=10, momentum=0.75))
    """
    _fields = ('bins', 'momentum')

    def __init__(self, bins=10, momentum=0.75, counts=None, name='binary_ghm', **kwargs):
        super().__init__(name=name, **kwargs)
        if bins < 1:
            raise ValueError('bins must be >= 1, got %r' % bins)
        if not 0 <= momentum < 1:
            raise ValueError('momentum must be in [0, 1), got %r' % momentum)
        self.bins, self.momentum = int(bins), float(momentum)
        if counts is not None and len(counts) != self.bins:
            raise ValueError('counts has %d values for %d bins' % (len(counts), self.bins))
        self._initial_counts = None if counts is None else [float(c) for c in counts]
        self._acc = None

    def _accumulator(self):
        if self._acc is None:
            with tf.init_scope():
                init = self._initial_counts or [0.0] * self.bins
                self._acc = tf.Variable(tf.constant(init, tf.float32), trainable=False, name='ghm_bin_counts')
        return self._acc

    @property
    def counts(self):
        """The moving-average bin counts (a list; zeros before the first training batch)."""
        if self._acc is None:
            return list(self._initial_counts or [0.0] * self.bins)
        return [float(c) for c in self._acc.numpy()]

    def weights(self, y, z):
        from tensorflow.python.eager import record
        p = tf.sigmoid(z)
        g = tf.stop_gradient(tf.abs(p - y))
        idx = tf.minimum(tf.cast(tf.floor(g * self.bins), tf.int32), self.bins - 1)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(g), idx, self.bins)
        if self.momentum > 0:
            acc = self._accumulator()
            seen = tf.reduce_sum(acc) > 0
            new = tf.where(seen, self.momentum * acc + (1 - self.momentum) * counts, counts)
            new = tf.where(counts > 0, new, acc)
            if record.could_possibly_record():  # a training step: move the average (at trace time in a graph)
                acc.assign(new)
            counts = tf.where(counts > 0, new, counts)
        n = tf.cast(tf.size(g), g.dtype)
        nonempty = tf.reduce_sum(tf.cast(counts > 0, g.dtype))
        per_bin = tf.math.divide_no_nan(n, counts * nonempty)
        return tf.gather(per_bin, idx)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        lp, lq = log_p(z)
        return tf.stop_gradient(self.weights(y, z)) * -(y * lp + (1 - y) * lq)

    def get_config(self):
        config = super().get_config()
        if self._acc is not None or self._initial_counts is not None:
            config['counts'] = self.counts
        return config


def soft_f1(y, p, eps=1e-7):
    return 2 * tf.reduce_sum(y * p) / (tf.reduce_sum(y + p) + eps)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SoftF1(_Loss):
    """``1 - soft F1`` of the positive class over the batch (= soft Dice loss); a batch-level loss."""

    def __init__(self, name='soft_f1', **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        loss = 1 - soft_f1(y, tf.sigmoid(z))
        return tf.fill(tf.shape(y), loss)  # the same batch value for every sample: the mean is the batch loss


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class F1WeightedCrossEntropy(_Loss):
    """Article 8 eq. (9): positives' CE weighted by ``1 - F1/2``, negatives' by ``F1/2``, with the batch's smooth
    F1 held constant (stop-gradient). The gradient is the smooth-F1 gradient after the ``p -> log p`` step."""

    def __init__(self, name='f1_weighted_crossentropy', **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        f1 = tf.stop_gradient(soft_f1(y, tf.sigmoid(z)))
        lp, lq = log_p(z)
        return -(y * (1 - f1 / 2) * lp + (1 - y) * (f1 / 2) * lq)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class BinaryLogitAdjusted(_Loss):
    """CE on ``z + tau * log(pi1 / pi0)`` where ``pi1`` is the training positive rate: the two-class logit-adjusted
    loss (a larger margin for the rarer class). Predict with ``z > 0`` for balanced error."""
    _fields = ('positive_rate', 'tau')

    def __init__(self, positive_rate, tau=1.0, name='binary_logit_adjusted', **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 < positive_rate < 1:
            raise ValueError('positive_rate must be in (0, 1), got %r' % positive_rate)
        self.positive_rate, self.tau = float(positive_rate), float(tau)

    def call(self, y_true, y_pred):
        y, z = _binary(y_true, y_pred)
        z = z + self.tau * float(np.log(self.positive_rate / (1 - self.positive_rate)))
        lp, lq = log_p(z)
        return -(y * lp + (1 - y) * lq)


# ------------------------------------------------------------------ softmax multi-class variants

def _sparse(y_true, logits):
    z = tf.convert_to_tensor(logits)
    y = tf.cast(tf.reshape(y_true, tf.shape(z)[:-1]), tf.int32)
    return y, z


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SoftmaxFocal(_Loss):
    """``-alpha_y (1 - p_y)^gamma log p_y`` with ``p = softmax(logits)``; ``alpha``: per-class list or None."""
    _fields = ('alpha', 'gamma')

    def __init__(self, gamma=2.0, alpha=None, name='softmax_focal', **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else [float(a) for a in alpha]

    def call(self, y_true, y_pred):
        y, z = _sparse(y_true, y_pred)
        log_py = tf.gather(tf.nn.log_softmax(z), y, batch_dims=len(z.shape) - 1)
        loss = -tf.pow(-tf.math.expm1(log_py), self.gamma) * log_py
        if self.alpha is not None:
            loss *= tf.gather(tf.constant(self.alpha, loss.dtype), y)
        return loss


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SoftmaxSmoothAccuracy(_Loss):
    """``-p_y`` with ``p = softmax(logits)`` (the smoothed accuracy of eq. (1), multi-class)."""

    def __init__(self, name='softmax_smooth_accuracy', **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y, z = _sparse(y_true, y_pred)
        return -tf.exp(tf.gather(tf.nn.log_softmax(z), y, batch_dims=len(z.shape) - 1))


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class WeightedSoftmaxCrossEntropy(_Loss):
    """``-w_y log p_y``; ``class_weights`` e.g. ``1 / prior`` normalised so that ``sum_y prior_y w_y = 1``."""
    _fields = ('class_weights',)

    def __init__(self, class_weights, name='weighted_softmax_crossentropy', **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = [float(w) for w in class_weights]

    @classmethod
    def from_prior(cls, prior, **kwargs):
        prior = np.asarray(prior, dtype='float64')
        w = 1.0 / prior
        return cls(class_weights=(w / (prior * w).sum()).tolist(), **kwargs)

    def call(self, y_true, y_pred):
        y, z = _sparse(y_true, y_pred)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)
        return ce * tf.gather(tf.constant(self.class_weights, ce.dtype), y)


BINARY_LOSSES = {
    'smooth_accuracy': SmoothAccuracy,
    'cross_entropy': BinaryCrossEntropy,
    'weighted_ce': WeightedBinaryCrossEntropy,
    'focal': BinaryFocal,
    'ghm': BinaryGHM,
    'soft_f1': SoftF1,
    'f1_weighted_ce': F1WeightedCrossEntropy,
    'logit_adjusted': BinaryLogitAdjusted,
}
