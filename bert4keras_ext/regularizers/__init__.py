"""Regularizers: WEISSI (article 7)."""
from bert4keras_ext.regularizers.weissi import WEISSI, attach_weissi, homogeneous_kernels, weissi_value  # noqa: F401
