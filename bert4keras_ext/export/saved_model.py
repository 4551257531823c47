"""SavedModel signatures for serving stacks (TF Serving, KServe's TF runtime, ``tf.saved_model.load``).

* :func:`export_classifier` — a fine-tuned classifier (any Keras model on ``[token_ids, segment_ids]``: WEISSI,
  ``FloodingModel``, ``TheseusModel`` ... included) behind an int32 signature
  ``serving_default(token_ids, segment_ids) -> {logits, probabilities}`` (probabilities: softmax, or sigmoid for
  one output unit).
* :func:`export_decoder` — the compiled greedy or beam-search loop of a bert4keras UniLM/LM
  (:class:`~bert4keras_ext.decoding.CachedLM`) as ``serving_default(token_ids, segment_ids) -> {ids, lengths,
  scores, ended}``: prompts right-padded with 0, generated ids padded with 0 after ``lengths``.

The written directory needs only TensorFlow to load: no bert4keras, no bert4keras_ext (the functions are traced
graphs; the custom Keras classes are not revived).
"""
import tensorflow as tf

IDS = tf.TensorSpec([None, None], tf.int32, name='token_ids')
SEGMENTS = tf.TensorSpec([None, None], tf.int32, name='segment_ids')


class _Classifier(tf.Module):
    def __init__(self, model):
        super().__init__(name='classifier')
        self.model = model  # tracks the variables

    @tf.function(input_signature=[IDS, SEGMENTS])
    def serve(self, token_ids, segment_ids):
        logits = self.model([tf.cast(token_ids, tf.float32), tf.cast(segment_ids, tf.float32)], training=False)
        logits = tf.cast(logits, tf.float32)
        probs = tf.sigmoid(logits) if logits.shape[-1] == 1 else tf.nn.softmax(logits, -1)
        return {'logits': logits, 'probabilities': probs}


def export_classifier(model, directory):
    """Write ``model`` as a SavedModel with an int32 token-id / segment-id signature.

    Args:
        model: a Keras model whose inputs are bert4keras' ``[token_ids, segment_ids]`` and whose output is logits
            ``[batch, classes]`` (e.g. :func:`bert4keras_ext.classification.build_classifier`).
        directory: where to write (created).

    Returns:
        ``directory``.

    Example::

        export_classifier(model, '/tmp/classifier/1')   # TF Serving reads version folders
        served = tf.saved_model.load('/tmp/classifier/1').signatures['serving_default']
        served(token_ids=tf.constant([[2, 5, 3]]), segment_ids=tf.constant([[0, 0, 0]]))['probabilities']
    """
    module = _Classifier(model)
    tf.saved_model.save(module, directory, signatures={'serving_default': module.serve})
    return directory


class _Decoder(tf.Module):
    def __init__(self, lm, keras_model, maxlen, end_ids, beam_size, minlen):
        super().__init__(name='decoder')
        self.lm, self.model = lm, keras_model  # the model attribute tracks the variables
        self.maxlen, self.beam_size, self.minlen = int(maxlen), int(beam_size), int(minlen)
        self.end_ids = tf.constant(list(end_ids), tf.int32)

    @tf.function(input_signature=[IDS, SEGMENTS])
    def serve(self, token_ids, segment_ids):
        lengths = tf.reduce_sum(tf.cast(token_ids != 0, tf.int32), axis=1)
        s = tf.shape(token_ids)[1]
        capacity = s + self.maxlen
        log_probs, state = self.lm._prefill(token_ids, segment_ids, lengths, capacity)
        real = tf.range(capacity)[None, :] < lengths[:, None]
        stops = (tf.constant(self.maxlen), tf.constant(self.minlen), tf.constant(1), self.end_ids)
        if self.beam_size > 1:
            ids, n, scores, status = self.lm._beam_loop(log_probs, state, lengths, s, real, *stops, (),
                                                        beam_size=self.beam_size, processors=(),
                                                        length_normalization=False)
        else:
            rows = tf.range(tf.shape(token_ids)[0])
            ids, n, scores, status = self.lm._sample_loop(log_probs, state, lengths, s, real, rows, *stops,
                                                          tf.zeros([2], tf.int32), (), greedy=True, processors=())
        ended = tf.equal(status, 1)
        return {'ids': ids, 'lengths': n, 'scores': tf.cast(scores, tf.float32), 'ended': ended}


def export_decoder(model, directory, end_ids, maxlen=32, beam_size=1, minlen=1, application='unilm'):
    """Write the compiled decoding loop of a bert4keras BERT ``application='unilm'|'lm'`` model (with its MLM head)
    as a SavedModel.

    Args:
        model: the Keras model (or builder) of e.g. ``load_model(ckpt, application='unilm')``.
        directory: where to write. end_ids: the end token id(s) (``tokenizer._token_end_id``).
        maxlen: tokens generated at most. beam_size: 1 (greedy) or the beam width (bert4keras' beam search).
        minlen: tokens before an end token may stop a row.

    Returns:
        ``directory``. Its ``serving_default(token_ids, segment_ids)`` returns ``ids [b, maxlen]`` (0 after each
        row's ``lengths``), ``lengths``, ``scores`` (sum of log-probs) and ``ended`` (stopped on an end token); the
        same tokens as :class:`~bert4keras_ext.decoding.Decoder`'s compiled greedy / beam search.

    Example::

        export_decoder(generator_model, '/tmp/qa_decoder/1', end_ids=[tokenizer._token_end_id], beam_size=4)
    """
    from bert4keras_ext.decoding import CachedLM
    end_ids = [end_ids] if isinstance(end_ids, int) else list(end_ids)
    lm = CachedLM(model, application)
    keras_model = model if isinstance(model, tf.keras.Model) else model.model
    module = _Decoder(lm, keras_model, maxlen, end_ids, beam_size, minlen)
    tf.saved_model.save(module, directory, signatures={'serving_default': module.serve})
    return directory
