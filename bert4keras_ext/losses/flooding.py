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
    """The wrapped loss' mean over the (global) batch, flooded at ``b``: ``|L - b| + b``.

    Under a ``tf.distribute`` strategy ``L`` is the mean over the *global* batch (an all-reduce of the replicas'
    sums and counts), the sign of ``L - b`` is the global one, and each replica returns its share of the flooded
    objective, so that the summed gradients and the logged loss equal one device's on the same global batch.

    Args:
        loss: any Keras loss (a name, a function ``(y_true, y_pred) -> per-sample values`` or a
            ``tf.keras.losses.Loss`` object, whose own reduction is ignored: its per-sample values are taken).
        b: the flood level (a float).

    Example::

        model.compile('adam', Flooded(tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), b=0.1))
    """

    def __init__(self, loss, b=0.0, name=None, **kwargs):
        loss = tf.keras.losses.get(loss)
        name = name or 'flooded_' + getattr(loss, 'name', getattr(loss, '__name__', 'loss'))
        kwargs.pop('reduction', None)
        # SUM: Keras neither rescales the value by the number of replicas nor complains under a strategy; the
        # value returned is already this replica's share of the global objective
        super().__init__(name=name, reduction=tf.keras.losses.Reduction.SUM, **kwargs)
        self.loss = loss
        self.b = float(b)

    def _values(self, y_true, y_pred, sample_weight):
        """Per-element weighted values of the wrapped loss (its reduction not applied)."""
        from tf_keras.src.utils import losses_utils
        if isinstance(self.loss, tf.keras.losses.Loss):
            values = self.loss.call(y_true, y_pred)
        else:
            values = self.loss(y_true, y_pred)
        values = tf.convert_to_tensor(values)
        if sample_weight is not None:
            values = losses_utils.compute_weighted_loss(values, sample_weight,
                                                        reduction=tf.keras.losses.Reduction.NONE)
        return tf.cast(values, tf.float32)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self._values(y_true, y_pred, sample_weight)
        local_sum = tf.reduce_sum(values)
        local_count = tf.cast(tf.size(values), tf.float32)
        ctx = tf.distribute.get_replica_context()
        replicas = 1 if ctx is None else ctx.num_replicas_in_sync
        if replicas == 1:
            return flood(local_sum / tf.maximum(local_count, 1.0), self.b)
        totals = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([tf.stop_gradient(local_sum), local_count]))
        total, count = totals[0], tf.maximum(totals[1], 1.0)
        share = local_sum / count            # the replicas' shares sum to the global mean
        sign = tf.where(total / count < self.b, -1.0, 1.0)
        b_share = self.b / replicas
        return sign * (share - b_share) + b_share  # shares sum to |L - b| + b; gradient sign * dL

    def call(self, y_true, y_pred):  # only used if someone bypasses __call__
        return self.__call__(y_true, y_pred)

    def get_config(self):
        return {'loss': tf.keras.losses.serialize(self.loss), 'b': self.b, 'name': self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config['loss'] = tf.keras.losses.deserialize(config['loss'])
        return cls(**config)
