"""The masked-LM training model and its learning-rate schedule."""
import tensorflow as tf

DEFAULT_CONFIG = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                      max_position_embeddings=512, hidden_act='gelu', type_vocab_size=2,
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)


def build_mlm_model(config, position_ids=False):
    """A bert4keras BERT with the MLM head applied only at the masked positions (``[b, k]`` position input), so
    the vocabulary softmax costs ``k`` instead of ``n`` rows. The head re-uses bert4keras' own MLM layers, so the
    builder's checkpoint mapping saves it. Under a mixed-precision Keras policy the softmax stays in float32.
    ``position_ids=True`` adds a position-id input (token, segment, position, MLM positions), so rows shorter
    than ``max_position_embeddings`` can train every position embedding. Returns ``(transformer, model)``; the
    model outputs probabilities ``[b, k, vocab]``."""
    from bert4keras.models import build_transformer_model
    transformer = build_transformer_model(return_keras_model=False, with_mlm=True,
                                          custom_position_ids=position_ids, **config)
    layers = transformer.layers
    if position_ids:
        # Position ids arrive through a float Input; a mixed-precision policy would round them to bfloat16 (odd
        # ids above 256 are not representable), so this layer must not cast its inputs.
        layers['Embedding-Position']._autocast = False
    hidden = layers['Transformer-%d-FeedForward-Norm' % (transformer.num_hidden_layers - 1)].output
    positions = tf.keras.Input((None,), dtype='int32', name='MLM-Positions')
    x = GatherPositions(name='MLM-Gather')([hidden, positions])
    x = layers['MLM-Dense'](x)
    x = layers['MLM-Norm'](x)
    x = layers['Embedding-Token'](x, mode='dense')
    x = layers['MLM-Bias'](x)
    probs = tf.keras.layers.Activation('softmax', dtype='float32', name='MLM-Probs')(x)
    model = tf.keras.Model(transformer.model.inputs + [positions], probs)
    return transformer, model


@tf.keras.utils.register_keras_serializable(package='bert4keras_ext')
class GatherPositions(tf.keras.layers.Layer):
    """``[hidden [b, n, d], positions [b, k]] -> [b, k, d]``."""

    def call(self, inputs):
        hidden, positions = inputs
        return tf.gather(hidden, positions, batch_dims=1)

    def compute_mask(self, inputs, mask=None):
        return None


def learning_rate_at(step, peak, warmup_steps, total_steps, decay_start, final_ratio=0.0):
    """Warm-up, stable, decay ("WSD"): linear warm-up to ``peak`` over ``warmup_steps``, constant until
    ``decay_start``, then linear decay to ``peak * final_ratio`` at ``total_steps``. A run that keeps paying can be
    extended by moving ``decay_start``/``total_steps`` before the decay has begun, without a restart."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if step < decay_start or total_steps <= decay_start:
        return peak
    frac = min(1.0, (step - decay_start) / float(total_steps - decay_start))
    return peak * (1.0 - frac * (1.0 - final_ratio))
