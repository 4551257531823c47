"""Flooding (article 6, kexue.fm/archives/7643; Ishida et al., "Do We Need Zero Training Loss After Achieving Zero
Training Error?", ICML 2020): train on ``|L - b| + b`` where ``L`` is the mini-batch mean loss and ``b`` the flood
level. Above ``b`` this is ordinary descent; below it the sign flips and the step is an ascent.

Two forms:

* :class:`Flooded` wraps any Keras loss; it floods the *batch mean* of the wrapped loss (flooding each sample
  separately would be a different, wrong loss: see the tests).
* :class:`bert4keras_ext.training.flooding.FloodingModel` floods the whole training objective, regularization and
  ``add_loss`` terms (bert4keras ``Loss`` layers) included, using the global-batch mean under ``tf.distribute``.

``b`` is a float or a schedule (a callable of the optimizer step, e.g. a Keras ``LearningRateSchedule``).
"""
import tensorflow as tf

PACKAGE = 'bert4keras_ext'


def flood(loss, b):
    """``|loss - b| + b`` (``b = 0`` returns ``loss`` for a non-negative loss, exactly)."""
    return tf.abs(loss - b) + b


def flood_level(b, step=None):
    """The value of a flood level ``b`` (float, tensor or schedule) at optimizer ``step``."""
    if callable(b):
        return tf.cast(b(step), tf.float32)
    return tf.cast(b, tf.float32)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class Flooded(tf.keras.losses.Loss):
    """``Flooded(loss, b)``: the wrapped loss' batch mean, flooded at ``b`` (a float)."""

    def __init__(self, loss, b=0.0, name=None, **kwargs):
        loss = tf.keras.losses.get(loss)
        name = name or 'flooded_' + getattr(loss, 'name', getattr(loss, '__name__', 'loss'))
        kwargs.pop('reduction', None)
        super().__init__(name=name, reduction=tf.keras.losses.Reduction.SUM, **kwargs)
        self.loss = loss
        self.b = float(b)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if isinstance(self.loss, tf.keras.losses.Loss):
            mean = self.loss(y_true, y_pred, sample_weight=sample_weight)
            if mean.shape.rank:  # a wrapped loss with reduction NONE: flood the batch mean, not each sample
                mean = tf.reduce_mean(mean)
        else:
            values = self.loss(y_true, y_pred)
            if sample_weight is not None:
                values = values * tf.cast(sample_weight, values.dtype)
            mean = tf.reduce_mean(values)
        return flood(mean, self.b)

    def call(self, y_true, y_pred):  # only used if someone bypasses __call__
        return self.__call__(y_true, y_pred)

    def get_config(self):
        return {'loss': tf.keras.losses.serialize(self.loss), 'b': self.b, 'name': self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config['loss'] = tf.keras.losses.deserialize(config['loss'])
        return cls(**config)
