"""Losses: logit adjustment (article 4), the class-imbalance family and its gradient-weight view (article 8),
flooding (article 6)."""
from bert4keras_ext.losses.logit_adjustment import (LogitAdjustedCrossEntropy, PriorBias,  # noqa: F401
                                                    SparseLogitAdjustedCrossEntropy, adjust_logits, check_prior,
                                                    estimate_prior, logit_adjusted_crossentropy, posthoc_adjust)
from bert4keras_ext.losses.imbalance import (BINARY_LOSSES, BinaryCrossEntropy, BinaryFocal, BinaryGHM,  # noqa
                                             BinaryLogitAdjusted, F1WeightedCrossEntropy, SmoothAccuracy, SoftF1,
                                             SoftmaxFocal, SoftmaxSmoothAccuracy, WeightedBinaryCrossEntropy,
                                             WeightedSoftmaxCrossEntropy)
from bert4keras_ext.losses.flooding import Flooded, flood  # noqa: F401
from bert4keras_ext.losses.gradient_weights import gradient_weights, plot_gradient_weights  # noqa: F401
