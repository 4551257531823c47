"""The UniLM question-answer generator model (article 5, kexue.fm/archives/7630): BERT with a UniLM mask reading
``[CLS] passage [SEP] answer [SEP] question [SEP]`` (passage segment 0, answer + question segment 1), trained with
cross-entropy on the segment-1 tokens only."""
import json
import os

import numpy as np
import tensorflow as tf

from bert4keras_ext.classification import build_before_fit

PACKAGE = 'bert4keras_ext'
SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]']


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class Seq2SeqCrossEntropy(tf.keras.layers.Layer):
    """Inputs ``[token_ids, segment_ids, probs]``: adds the mean cross-entropy of predicting each segment-1 token
    from the position before it (``add_loss``) and returns ``probs`` unchanged."""

    def call(self, inputs):
        token_ids, segment_ids, probs = inputs
        y_true = token_ids[:, 1:]
        mask = tf.cast(segment_ids[:, 1:], probs.dtype)
        ce = tf.keras.losses.sparse_categorical_crossentropy(y_true, probs[:, :-1])
        self.add_loss(tf.reduce_sum(ce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0))
        return probs

    def compute_mask(self, inputs, mask=None):
        return None


def simplified_vocab(dict_path):
    """bert4keras' vocabulary simplification: ``(token_dict, keep_tokens, tokens)``."""
    from bert4keras.tokenizers import load_vocab
    token_dict, keep_tokens = load_vocab(dict_path, simplified=True, startswith=SPECIAL)
    tokens = [t for t, _ in sorted(token_dict.items(), key=lambda x: x[1])]
    return token_dict, keep_tokens, tokens


def build(config_path, checkpoint_path, dict_path, simplify=True):
    """``(transformer, train_model, tokenizer, tokens)`` for training from a Google-format BERT checkpoint."""
    from bert4keras.tokenizers import Tokenizer
    from bert4keras_ext.checkpoints import load_model
    if simplify:
        token_dict, keep_tokens, tokens = simplified_vocab(dict_path)
    else:
        from bert4keras.tokenizers import load_vocab
        token_dict, keep_tokens = load_vocab(dict_path), None
        tokens = [t for t, _ in sorted(token_dict.items(), key=lambda x: x[1])]
    transformer, _ = load_model(config_path=config_path, checkpoint_path=checkpoint_path, application='unilm',
                                keep_tokens=keep_tokens, return_keras_model=False)
    model = transformer.model
    out = Seq2SeqCrossEntropy(name='Seq2Seq-Loss')(model.inputs + [model.output])
    train_model = tf.keras.Model(model.inputs, out)
    return transformer, train_model, Tokenizer(token_dict, do_lower_case=True), tokens


def encode_example(tokenizer, example, max_p_len, max_a_len, max_q_len):
    p_ids = tokenizer.encode(example['passage'], maxlen=max_p_len)[0]
    a_ids = tokenizer.encode(example['answer'], maxlen=max_a_len)[0][1:]
    q_ids = tokenizer.encode(example['question'], maxlen=max_q_len)[0][1:]
    return p_ids + a_ids + q_ids, [0] * len(p_ids) + [1] * (len(a_ids) + len(q_ids))


def batches(tokenizer, examples, batch_size, lengths, seed=0):
    """Endless shuffled batches ``([token_ids, segment_ids],)`` for ``fit`` (the loss is inside the model)."""
    from bert4keras.snippets import sequence_padding
    encoded = [encode_example(tokenizer, e, *lengths) for e in examples]
    epoch = 0
    while True:
        order = np.random.RandomState(seed + epoch).permutation(len(encoded))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [encoded[i] for i in order[start:start + batch_size]]
            yield (sequence_padding([c[0] for c in chunk]), sequence_padding([c[1] for c in chunk])),
        epoch += 1


def train(train_model, tokenizer, examples, steps, batch_size=16, learning_rate=2e-4, lengths=(128, 16, 32),
          seed=0, verbose=1):
    max_position = int(train_model.get_layer('Embedding-Position').embeddings.shape[0])
    if sum(lengths) - 2 > max_position:
        raise ValueError('max lengths %s add up to %d tokens but the model has %d positions: lower them'
                         % (tuple(lengths), sum(lengths) - 2, max_position))
    if len(examples) < batch_size:
        raise ValueError('need at least %d training examples, got %d' % (batch_size, len(examples)))
    tf.keras.utils.set_random_seed(seed)
    train_model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    build_before_fit(train_model, None)  # one trace of the train step instead of two
    return train_model.fit(batches(tokenizer, examples, batch_size, lengths, seed), steps_per_epoch=steps,
                           epochs=1, verbose=verbose)


def save(transformer, directory, tokens, settings):
    """A generator checkpoint: Google-format UniLM weights + the (simplified) vocab + ``qa_config.json``."""
    from bert4keras_ext.checkpoints import save_checkpoint_dir
    save_checkpoint_dir(transformer, directory, vocab=tokens)
    with open(os.path.join(directory, 'qa_config.json'), 'w', encoding='utf-8') as f:
        json.dump(settings, f, indent=2)
    return directory
