"""General callbacks."""
import tensorflow as tf


class EvaluateEachEpoch(tf.keras.callbacks.Callback):
    """Evaluate the model on named datasets after every epoch; ``self.history[name]`` holds one
    ``{'loss': ..., <metric>: ...}`` dict per epoch (the curves for plots and for choosing an early-stopping epoch).

    datasets: ``{name: (x, y)}``.
    """

    def __init__(self, datasets, batch_size=64):
        super().__init__()
        self.datasets = datasets
        self.batch_size = batch_size
        self.history = {name: [] for name in datasets}

    def on_epoch_end(self, epoch, logs=None):
        for name, (x, y) in self.datasets.items():
            values = self.model.evaluate(x, y, batch_size=self.batch_size, verbose=0, return_dict=True)
            self.history[name].append({k: float(v) for k, v in values.items()})

    def best_epoch(self, name, key='loss', mode='min'):
        values = [row[key] for row in self.history[name]]
        return values.index(min(values) if mode == 'min' else max(values))


class WeightNormHistory(tf.keras.callbacks.Callback):
    """Frobenius norm of each given kernel at the start and after every epoch: ``self.history[name]`` is a list
    (the weight-scale shift between layers under L2 shows up here)."""

    def __init__(self, kernels):
        super().__init__()
        self.kernels = {k.name: k for k in kernels}
        self.history = {name: [] for name in self.kernels}

    def _record(self):
        for name, k in self.kernels.items():
            self.history[name].append(float(tf.norm(k)))

    def on_train_begin(self, logs=None):
        self._record()

    def on_epoch_end(self, epoch, logs=None):
        self._record()


def replacement_layers(model):
    """The :class:`~bert4keras_ext.layers.ModuleReplacement` layers of a model (BERT-of-Theseus, article 3)."""
    from bert4keras_ext.layers.theseus import ModuleReplacement
    return [layer for layer in model.layers if isinstance(layer, ModuleReplacement)]


class ConstantReplacementRate(tf.keras.callbacks.Callback):
    """Set every :class:`ModuleReplacement` rate of the model to ``rate`` when training starts."""

    def __init__(self, rate=0.5):
        super().__init__()
        self.value = float(rate)

    def on_train_begin(self, logs=None):
        for layer in replacement_layers(self.model):
            layer.rate.assign(self.value)


class LinearReplacementRate(tf.keras.callbacks.Callback):
    """``p_t = min(1, k * t + b)`` with ``t`` the training step (the paper's replacement curriculum)."""

    def __init__(self, k, b):
        super().__init__()
        self.k, self.b, self.step = float(k), float(b), 0
        self.history = []

    def on_train_batch_begin(self, batch, logs=None):
        value = min(1.0, self.k * self.step + self.b)
        for layer in replacement_layers(self.model):
            layer.rate.assign(value)
        self.history.append(value)
        self.step += 1
