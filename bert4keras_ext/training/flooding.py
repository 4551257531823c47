"""Model-level flooding and the explicit gradient penalty (article 6), as a ``train_step`` mixin, plus a callback.

* ``FloodingModel(inputs, outputs, flood_level=b)``: every training step minimises ``|L - b| + b`` where ``L`` is the
  whole objective (compiled loss + regularization + ``add_loss`` terms such as bert4keras ``Loss`` layers). Under a
  ``tf.distribute`` strategy the sign is taken from the *global-batch* objective (an all-reduce), so every replica
  ascends or descends together, exactly as a single device would.
* ``gradient_penalty=lam``: minimise ``L + lam * ||grad_theta L||^2`` (double backprop). The article's expansion of
  one descent + one ascent step of size ``eps`` gives ``theta - eps^2/2 grad ||g||^2``; with asymmetric steps
  ``eps1 > eps2`` it is descent with step ``eps1 - eps2`` on ``L + eps1 eps2 / (2 (eps1 - eps2)) ||g||^2``:
  :func:`penalty_from_learning_rates` returns that ``lam``.
* :class:`FloodingMonitor` logs the share of ascent steps and the mean train-loss distance to ``b`` per epoch.

Logged per step: ``loss`` (Keras' compiled loss), ``raw_loss`` (the whole objective *before* the flood and the
gradient penalty: the training loss to plot and to compare with ``b``) and ``ascent`` (1 when the step ascended).

Gradient accumulation (bert4keras ``extend_with_gradient_accumulation``) works unchanged: each micro-batch is
flooded on its own mean, which is what the optimizer then averages.
"""
import tensorflow as tf

from bert4keras_ext.losses.flooding import flood_level

PACKAGE = 'bert4keras_ext'


def penalty_from_learning_rates(descent_lr, ascent_lr):
    """``lam = eps1 eps2 / (2 (eps1 - eps2))`` for descent step ``eps1`` > ascent step ``eps2`` (article 6)."""
    if descent_lr <= ascent_lr:
        raise ValueError('the descent learning rate (%g) must exceed the ascent one (%g)' % (descent_lr, ascent_lr))
    return descent_lr * ascent_lr / (2.0 * (descent_lr - ascent_lr))


class FloodingMixin:
    """``train_step`` with flooding and/or an explicit gradient penalty; mix into any ``tf.keras.Model``."""

    def __init__(self, *args, flood_level=None, gradient_penalty=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.flood_level = flood_level
        self.gradient_penalty = float(gradient_penalty)
        self.ascent_tracker = tf.keras.metrics.Mean(name='ascent')
        self.raw_loss_tracker = tf.keras.metrics.Mean(name='raw_loss')

    def _objective(self, x, y, sample_weight):
        y_pred = self(x, training=True)
        return self.compute_loss(x, y, y_pred, sample_weight), y_pred

    def train_step(self, data):
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            if self.gradient_penalty:
                # one forward pass: the inner tape's gradient is itself recorded by the outer tape
                with tf.GradientTape() as inner:
                    loss, y_pred = self._objective(x, y, sample_weight)  # per-replica share of the global mean
                raw = loss
                grads = [g for g in inner.gradient(loss, variables) if g is not None]
                # The penalty is on the norm of the *global* gradient G = sum of the replicas' shares. The
                # all-reduce is differentiable (its gradient is the all-reduce of the upstream gradient), so each
                # replica adding ||G||^2 / R makes the summed update the gradient of lam * ||G||^2.
                grads, replicas = _global_sum_list(grads)
                norm2 = tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads])
                loss = loss + self.gradient_penalty * norm2 / replicas
            else:
                loss, y_pred = self._objective(x, y, sample_weight)
                raw = loss
            objective, ascent = loss, tf.constant(0.0)
            if self.flood_level is not None:
                # The only collective besides the optimizer's: the gradient depends on its sign, which orders the two
                # on every replica (an all-reduce the gradient does not depend on can be issued in another order on
                # each replica, and the collectives then mismatch).
                global_loss = _global_sum(loss)
                b = flood_level(self.flood_level, self.optimizer.iterations)
                sign = tf.where(global_loss < b, -1.0, 1.0)
                ascent = tf.cast(sign < 0, tf.float32)
                # d|G - b| = sign(G - b) dG with G = sum of replica shares: flood each share with the global sign
                objective = sign * loss
        self.optimizer.minimize(objective, variables, tape=tape)
        self.ascent_tracker.update_state(ascent)
        # the objective without penalty or flood: each replica's share times the replicas, averaged by the metric
        # over replicas (as Keras logs its own loss), so that no extra collective is needed
        self.raw_loss_tracker.update_state(raw * _replicas())
        logs = self.compute_metrics(x, y, y_pred, sample_weight)  # compiled metrics (and the loss tracker)
        logs.update({m.name: m.result() for m in (self.ascent_tracker, self.raw_loss_tracker)})
        return logs

    @property
    def metrics(self):
        return super().metrics + [self.ascent_tracker, self.raw_loss_tracker]

    def get_config(self):
        from tf_keras.src.engine import functional
        from bert4keras_ext.functional import network_config
        if isinstance(self, functional.Functional):  # the graph, which Functional omits for subclasses
            config = network_config(self)
        else:
            config = super().get_config()
        b = self.flood_level
        if b is not None and not isinstance(b, (int, float)):
            if not isinstance(b, tf.keras.optimizers.schedules.LearningRateSchedule):
                raise ValueError('flood_level %r cannot be saved: use a float or a Keras LearningRateSchedule '
                                 '(e.g. tf.keras.optimizers.schedules.PiecewiseConstantDecay)' % (b,))
            b = {'schedule': tf.keras.optimizers.schedules.serialize(b)}
        config.update(flood_level=b, gradient_penalty=self.gradient_penalty)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from bert4keras_ext.functional import from_network_config
        config = dict(config)
        b = config.pop('flood_level', None)
        if isinstance(b, dict):
            b = tf.keras.optimizers.schedules.deserialize(b['schedule'], custom_objects=custom_objects)
        penalty = config.pop('gradient_penalty', 0.0)
        return from_network_config(cls, config, custom_objects, flood_level=b, gradient_penalty=penalty)


def _global_sum_list(values):
    """``(values summed over replicas, number of replicas)``."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return values, 1.0
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values), float(ctx.num_replicas_in_sync)


def _replicas():
    ctx = tf.distribute.get_replica_context()
    return 1.0 if ctx is None else float(ctx.num_replicas_in_sync)


def _global_sum(value):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class FloodingModel(FloodingMixin, tf.keras.Model):
    """A functional ``tf.keras.Model`` with :class:`FloodingMixin`'s training step."""


class FloodingMonitor(tf.keras.callbacks.Callback):
    """Per epoch: ``ascent_share`` (steps whose objective was below ``b``) and ``distance_to_b`` (mean raw train
    loss minus ``b``); kept in ``self.history`` and added to the epoch logs."""

    def __init__(self, b=None):
        super().__init__()
        self.b = b
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        b = self.b if self.b is not None else self.model.flood_level
        b = float(flood_level(b, self.model.optimizer.iterations)) if b is not None else 0.0
        row = {'epoch': epoch, 'ascent_share': float(logs.get('ascent', 0.0)),
               'distance_to_b': float(logs.get('raw_loss', logs.get('loss', 0.0))) - b}
        self.history.append(row)
        logs.update({'ascent_share': row['ascent_share'], 'distance_to_b': row['distance_to_b']})
