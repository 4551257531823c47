"""Keras layers of bert4keras_ext (all registered under the package name ``bert4keras_ext``)."""
from bert4keras_ext.layers.masks import LMMask, TakeFirstToken, UniLMMask  # noqa: F401
from bert4keras_ext.layers.pooling import MaskedMeanPool  # noqa: F401
from bert4keras_ext.layers.theseus import (ModuleReplacement, TheseusModel, build_theseus,  # noqa: F401
                                          copy_first_layers, export_successor)
from bert4keras_ext.layers.termination import SelfTerminatingHead, greedy_stop_bound, target_step_mask  # noqa: F401
