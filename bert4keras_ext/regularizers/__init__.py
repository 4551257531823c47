"""Regularizers: WEISSI (article 7), and AdamW on chosen kernels (its baseline)."""
from bert4keras_ext.regularizers.decay import selective_adamw  # noqa: F401
from bert4keras_ext.regularizers.weissi import (WEISSI, attach_regularizer, attach_weissi,  # noqa: F401
                                              homogeneous_kernels, select_kernels, select_layers,
                                              weissi_value)
