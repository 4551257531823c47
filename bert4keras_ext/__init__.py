"""bert4keras_ext: the 2020 "Scientific Spaces" articles as reusable parts for bert4keras on TF 2.21 + tf-keras.

``import bert4keras_ext`` is enough to make bert4keras 0.11.5 usable on TensorFlow 2.21: it sets ``TF_KERAS=1`` and
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported and applies the fixes listed in :mod:`bert4keras_ext.compat`.
"""
__version__ = '0.1.0'

from bert4keras_ext import compat as _compat

_compat.apply()
