"""Fixtures of the QA tests: a tiny UniLM generator trained for a few steps on random passages."""
import os

import numpy as np
import pytest

from bert4keras_ext.checkpoints import tiny_vocab
from bert4keras_ext.qa import model as qa_model
from bert4keras_ext.qa.generator import QAGenerator

CHARS = [t for t in tiny_vocab(size=40) if not t.startswith('[')]


def random_text(rng, n):
    return ''.join(rng.choice(CHARS, size=n))


@pytest.fixture(scope='session')
def generator_dir(tiny_dir, tmp_path_factory):
    rng = np.random.RandomState(0)
    examples = []
    for _ in range(32):
        passage = random_text(rng, 20)
        a = rng.randint(0, 15)
        examples.append({'passage': passage, 'answer': passage[a:a + 3], 'question': random_text(rng, 6) + '？'})
    transformer, train_model, tokenizer, tokens = qa_model.build(tiny_dir + '/bert_config.json',
                                                                 tiny_dir + '/bert_model.ckpt',
                                                                 tiny_dir + '/vocab.txt')
    history = qa_model.train(train_model, tokenizer, examples, steps=4, batch_size=8, lengths=(16, 6, 10),
                             verbose=0)
    assert np.isfinite(history.history['loss'][-1])
    d = str(tmp_path_factory.mktemp('qa_ckpt'))
    return qa_model.save(transformer, d, tokens, {'max_p_len': 16, 'max_a_len': 6, 'max_q_len': 10})


@pytest.fixture(scope='session')
def generator(generator_dir):
    return _share(QAGenerator.load(generator_dir), generator_dir)


_DECODERS = {}  # (directory, max_a_len, max_q_len) -> the decoders of the first generator loaded from it here


def _share(g, directory):
    key = (os.path.abspath(directory), g.max_a_len, g.max_q_len)
    g.answers, g.question_decoder = _DECODERS.setdefault(key, (g.answers, g.question_decoder))
    return g


@pytest.fixture(autouse=True)
def traced_decoders(monkeypatch):
    """``QAGenerator.load`` as the CLI and the tests call it (settings, overrides and weights from the directory),
    except that generators loaded from one test checkpoint with the same lengths share their decoders: the decoding
    loops are then traced once per process, not once per load (each trace costs seconds; the weights are the same,
    so the outputs are too). Loading from any other directory, or with other lengths, builds new decoders as before."""
    real = QAGenerator.load.__func__

    def load(cls, directory=None, **overrides):
        g = real(cls, directory, **overrides)
        return g if directory is None else _share(g, directory)

    monkeypatch.setattr(QAGenerator, 'load', classmethod(load))
