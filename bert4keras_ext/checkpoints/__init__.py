"""Checkpoints: Google-format load (with a report) and save, Hugging Face import, tiny random checkpoints."""
from bert4keras_ext.checkpoints.report import CheckpointError, LoadReport  # noqa: F401
from bert4keras_ext.checkpoints.google import (  # noqa: F401
    find_checkpoint_files, load_model, load_weights, read_config, save_checkpoint_dir, save_weights_as_checkpoint)
from bert4keras_ext.checkpoints.huggingface import load_hf_model, hf_to_google  # noqa: F401
from bert4keras_ext.checkpoints.tiny import make_tiny_checkpoint, tiny_vocab  # noqa: F401
