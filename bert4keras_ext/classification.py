"""Fine-tuning a bert4keras BERT as a text classifier: encoding, model building, training, prediction.

Shared by the classification task scripts (articles 4, 6, 7, 8); the head reads the [CLS] vector and outputs
logits (``num_classes`` of them, or one for a binary sigmoid head).
"""
import tensorflow as tf

from bert4keras_ext.layers.masks import TakeFirstToken


def tokenizer_for(dict_path):
    from bert4keras.tokenizers import Tokenizer
    return Tokenizer(dict_path, do_lower_case=True)


def encode(tokenizer, texts, maxlen, second=None):
    """``(token_ids, segment_ids)`` padded to the longest row (at most ``maxlen``); ``second``: optional text
    pairs (segment 1)."""
    from bert4keras.snippets import sequence_padding
    ids, segs = [], []
    for i, t in enumerate(texts):
        if second is None:
            a, b = tokenizer.encode(t, maxlen=maxlen)
        else:
            a, b = tokenizer.encode(t, second[i], maxlen=maxlen)
        ids.append(a)
        segs.append(b)
    return sequence_padding(ids).astype('int32'), sequence_padding(segs).astype('int32')


def build_classifier(config_path, checkpoint_path, num_outputs, dropout=0.1, bias_initializer='zeros',
                     model_class=tf.keras.Model, **model_kwargs):
    """BERT (loaded with a checked report) + dropout + Dense(num_outputs) logits on [CLS].

    ``model_class``: e.g. :class:`bert4keras_ext.training.FloodingModel`; ``model_kwargs`` go to it.
    Returns ``(model, bert_model)``.
    """
    from bert4keras_ext.checkpoints import load_model
    bert, report = load_model(config_path=config_path, checkpoint_path=checkpoint_path, allow_missing=False)
    x = TakeFirstToken(name='CLS')(bert.output)
    x = tf.keras.layers.Dropout(dropout)(x)
    logits = tf.keras.layers.Dense(num_outputs, bias_initializer=bias_initializer, name='logits')(x)
    return model_class(bert.inputs, logits, **model_kwargs), bert


def predict_logits(model, x, batch_size=64):
    return model.predict(x, batch_size=batch_size, verbose=0)


def train(model, loss, x, y, epochs, batch_size=32, learning_rate=1e-4, seed=0, verbose=0, callbacks=None,
          validation_data=None, sample_weight=None):
    """Compile with Adam and fit (data shuffled with ``seed``); returns the Keras history."""
    tf.keras.utils.set_random_seed(seed)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss)
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
                     callbacks=callbacks, validation_data=validation_data, sample_weight=sample_weight)


def build_char_cnn(vocab_size, num_outputs, embedding_dim=64, filters=128, kernel_size=3, hidden=64, seed=0):
    """A ReLU char-CNN (positively homogeneous after the embedding): Embedding -> Conv1D(relu) -> global max pool
    -> Dense(relu) -> Dense logits. Inputs: token ids ``[b, n]`` (0 = padding)."""
    init = tf.keras.initializers.GlorotUniform(seed)
    ids = tf.keras.Input((None,), dtype='int32', name='token_ids')
    x = tf.keras.layers.Embedding(vocab_size, embedding_dim, name='char_embedding',
                                  embeddings_initializer=tf.keras.initializers.RandomUniform(-0.05, 0.05, seed))(ids)
    x = tf.keras.layers.Conv1D(filters, kernel_size, padding='same', activation='relu', kernel_initializer=init,
                               name='conv')(x)
    x = tf.keras.layers.GlobalMaxPooling1D()(x)
    x = tf.keras.layers.Dense(hidden, activation='relu', kernel_initializer=init, name='hidden')(x)
    logits = tf.keras.layers.Dense(num_outputs, kernel_initializer=init, name='logits')(x)
    return tf.keras.Model(ids, logits)
