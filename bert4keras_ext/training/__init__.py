"""Training components: flooding / gradient-penalty train steps (article 6), MGS and the sampling view (article 2),
callbacks, the fused
AdamW of the fine-tuning recipe and of pretraining."""
from bert4keras_ext.training.callbacks import (ConstantReplacementRate, EvaluateEachEpoch,  # noqa: F401
                                               LinearReplacementRate, WeightNormHistory, replacement_layers)
from bert4keras_ext.training.flooding import (FloodingMixin, FloodingModel, FloodingMonitor,  # noqa: F401
                                              penalty_from_learning_rates)
from bert4keras_ext.training.mgs import MGSTrainer  # noqa: F401
from bert4keras_ext.training.optimizers import FusedAdamW, decay_shrinkage  # noqa: F401
from bert4keras_ext.training.sampling_view import boltzmann_update, gaussian, uniform_ball  # noqa: F401
