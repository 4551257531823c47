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
