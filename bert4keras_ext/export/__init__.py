"""Exports for production stacks: SavedModel signatures that TF Serving loads without this package or bert4keras
(:mod:`~bert4keras_ext.export.saved_model`), and weights out to the Hugging Face format
(:mod:`~bert4keras_ext.export.huggingface`).

``python -m bert4keras_ext.export --help`` writes them from the command line.
"""
from bert4keras_ext.export.huggingface import save_hf_model  # noqa: F401
from bert4keras_ext.export.saved_model import export_classifier, export_decoder  # noqa: F401
