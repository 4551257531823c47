"""Regularizers: WEISSI (article 7)."""
from bert4keras_ext.regularizers.weissi import (WEISSI, attach_regularizer, attach_weissi,  # noqa: F401
                                              homogeneous_kernels, select_kernels, select_layers,
                                              weissi_value)
