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
