"""Stock bert4keras decoding, the baseline our decoder is compared with: an ``AutoRegressiveDecoder`` whose
``predict`` runs ``model.predict`` on the whole growing sequence (one input at a time), as bert4keras examples do."""
import numpy as np


def bert4keras_decoder(model, end_id, maxlen, minlen=1, target_segment=1):
    """An ``AutoRegressiveDecoder`` for a ``[token_ids, segment_ids] -> probabilities`` model; generated tokens
    get segment ``target_segment`` (1 for UniLM, 0 for LM)."""
    from bert4keras.snippets import AutoRegressiveDecoder

    class Stock(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype='probas')
        def predict(self, inputs, output_ids, states):
            token_ids, segment_ids = inputs
            token_ids = np.concatenate([token_ids, output_ids], 1)
            segment_ids = np.concatenate([segment_ids, np.full_like(output_ids, target_segment)], 1)
            return self.last_token(model).predict([token_ids, segment_ids], verbose=0)

    return Stock(start_id=None, end_id=end_id, maxlen=maxlen, minlen=minlen)
