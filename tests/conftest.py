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


# The slowest test files (seconds per file from ``--durations``, heaviest first). They are collected first, so that
# pytest-xdist's two workers (``--dist loadfile --no-loadscope-reorder`` hands out whole files in collection order;
# without the flag it orders files by their number of tests) start with them and end on short files, instead of one
# worker finishing a long file alone while the other waits. Order only: every test runs either way.
SLOW_FILES = [
    'tests/decoding/test_decoder.py', 'tests/test_compat.py', 'tests/qa/test_qa.py', 'tests/test_tasks.py',
    'tests/qa/test_server.py', 'tests/qa/test_text.py', 'tests/test_pretraining.py', 'tests/protocols/test_mgs.py',
    'tests/test_registered_classes.py', 'tests/test_strategy.py', 'tests/protocols/test_flooding.py',
    'tests/test_readme.py', 'tests/test_export.py', 'tests/protocols/test_theseus.py',
    'tests/protocols/test_nontermination.py', 'tests/test_multiworker.py', 'tests/test_language_models.py',
    'tests/test_theseus.py', 'tests/protocols/test_logit_adjustment.py', 'tests/decoding/test_processors.py',
    'tests/checkpoints/test_google.py', 'tests/protocols/test_imbalance_losses.py',
]


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split('::')[0], len(rank)))  # stable: files stay whole
