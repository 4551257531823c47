"""Shared fixtures: tiny random checkpoints made on the fly (no network, no real weights)."""
import numpy as np
import pytest

import bert4keras_ext  # noqa: F401  (arranges tf-keras before TensorFlow loads)
from bert4keras_ext.checkpoints import make_tiny_checkpoint, tiny_vocab

TINY = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=32)


@pytest.fixture(scope='session')
def tiny_dir(tmp_path_factory):
    """A Google-format directory: vocab 40, hidden 16, 2 layers, with pooler, NSP and MLM weights."""
    d = tmp_path_factory.mktemp('tiny_ckpt')
    return make_tiny_checkpoint(str(d), vocab=tiny_vocab(size=40), seed=1, **TINY)


@pytest.fixture
def rng():
    return np.random.RandomState(0)
