"""bert4keras_ext: the 2020 "Scientific Spaces" articles as reusable parts for bert4keras on TF 2.21 + tf-keras.

``import bert4keras_ext`` is enough to make bert4keras 0.11.5 usable on TensorFlow 2.21: it sets ``TF_KERAS=1`` and
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported and applies the fixes listed in :mod:`bert4keras_ext.compat`.
It also registers every Keras object of the package (layers, losses, regularizers, initializers, schedules, models),
so that a model saved with any of them loads, trains and evaluates in a process that ran only this import.
"""
__version__ = '0.1.0'

from bert4keras_ext import compat as _compat

_compat.apply()

# Every module that defines a `register_keras_serializable` class: importing it registers the class. A test
# (tests/test_registered_classes.py) checks that a fresh process with only `import bert4keras_ext` knows them all.
from bert4keras_ext import classification as _classification  # noqa: E402,F401
from bert4keras_ext import language_models as _language_models  # noqa: E402,F401
from bert4keras_ext import layers as _layers  # noqa: E402,F401
from bert4keras_ext import losses as _losses  # noqa: E402,F401
from bert4keras_ext import regularizers as _regularizers  # noqa: E402,F401
from bert4keras_ext import training as _training  # noqa: E402,F401
from bert4keras_ext.pretraining import model as _pretraining_model  # noqa: E402,F401
from bert4keras_ext.qa import model as _qa_model, reader as _qa_reader  # noqa: E402,F401
