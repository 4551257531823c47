"""Training components: flooding / gradient-penalty train steps (article 6)."""
from bert4keras_ext.training.callbacks import EvaluateEachEpoch, WeightNormHistory  # noqa: F401
from bert4keras_ext.training.flooding import (FloodingMixin, FloodingModel, FloodingMonitor,  # noqa: F401
                                              penalty_from_learning_rates)
