"""Fixtures of the QA tests: a tiny UniLM generator trained for a few steps on random passages."""
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
    return QAGenerator.load(generator_dir)
