"""Incremental (KV-cached) forward of bert4keras BERT-family 'lm' / 'unilm' models.

The forward re-uses the trained model's own layers (embeddings, Dense projections, LayerNormalization,
FeedForward, MLM head), so weights are shared and nothing is copied; only the attention is re-written so that keys
and values of earlier positions are kept in a fixed-size cache ``[rows, heads, capacity, head_size]`` per layer.

* :meth:`CachedLM.prefill` runs the prompts (right-padded ``[rows, S]``) once, with the model's own mask (UniLM:
  bidirectional inside the source, causal over target-segment tokens; LM: causal), fills cache slots ``0..S-1`` and
  returns the next-token log-probs at each row's last real position.
* :meth:`CachedLM.step` runs one new token per row at cache slot ``S + t`` (position id ``length + t``), attending to
  the row's real prompt slots and to generated slots ``<= S + t``.

Both are ``tf.function``s with stable shapes: one trace per (rows, S, capacity).

``dtype='bfloat16'`` runs the matrix products (embeddings, attention projections, feed-forward, MLM head) and the
cache in bfloat16 from bfloat16 copies of those weights made once at construction, while the residual stream, the
layer norms, the softmaxes and the returned log-probs stay float32. A batch-1 step reads every weight once, so
halving the bytes read should speed it up on a memory-bound CPU; measured on this project's CPU it does not
(``benchmarks/decoding_precision.py``: about float32's speed without XLA, 2.7x slower with XLA), so it is an option
to measure on other hardware, not a default. ``benchmarks/decoding_speed.py --bf16`` reports speed and agreement.
"""
import numpy as np
import tensorflow as tf

from bert4keras_ext.decoding.backend import LMBackend


def _layer_getter(model):
    """``get(name)`` for a bert4keras ``Transformer`` builder (prefix-aware) or a Keras model."""
    if hasattr(model, 'layers') and isinstance(model.layers, dict):  # bert4keras builder
        return lambda name: model.layers[model.prefixed(name)]
    return lambda name: model.get_layer(name)


class CachedLM(LMBackend):
    """Cached next-token log-probs for a bert4keras BERT ``application='lm'|'unilm'`` model (with its MLM head).

    model: the bert4keras builder or its Keras model. application: 'unilm' (target tokens get segment 1) or 'lm'.
    """

    def __init__(self, model, application='unilm', head=None, jit_compile=False, dtype='float32', prefill_jit=False):
        """head: an optional :class:`bert4keras_ext.layers.SelfTerminatingHead` applied to the MLM logits and the
        last encoder layer's hidden states; its running product is then part of the decoder state. It counts the
        positions the head was trained on: every position for 'lm'; for 'unilm' those that predict a target token
        (``target_step_mask``: the given target prefix and the generated tokens), not the source.
        dtype: 'float32' (default) or 'bfloat16' (matrix products and cache; see the module docstring).
        jit_compile / prefill_jit: XLA for the step and search loops / for the prompts' forward
        (:meth:`LMBackend.compile_functions`)."""
        if application not in ('unilm', 'lm'):
            raise ValueError("application must be 'unilm' or 'lm', got %r" % application)
        if dtype not in ('float32', 'bfloat16'):
            raise ValueError("dtype must be 'float32' or 'bfloat16', got %r" % (dtype,))
        self.dtype = tf.as_dtype(dtype)
        self.application = application
        self.head = head
        get = _layer_getter(model)
        self.get = get
        try:
            self.token_embedding = get('Embedding-Token')
            self.position_embedding = get('Embedding-Position')
            self.embedding_norm = get('Embedding-Norm')
            self.mlm = [get('MLM-Dense'), get('MLM-Norm'), get('MLM-Bias')]
        except (KeyError, ValueError) as exc:
            raise ValueError('CachedLM needs a bert4keras BERT-family model built with its MLM head '
                             "(application='lm' or 'unilm'): %s" % exc) from exc
        self.segment_embedding = _optional(get, 'Embedding-Segment')
        self.mapping = _optional(get, 'Embedding-Mapping')
        self.blocks = []
        i = 0
        while True:
            attention = _optional(get, 'Transformer-%d-MultiHeadSelfAttention' % i)
            if attention is None:
                break
            self.blocks.append((attention, get('Transformer-%d-MultiHeadSelfAttention-Norm' % i),
                                get('Transformer-%d-FeedForward' % i), get('Transformer-%d-FeedForward-Norm' % i)))
            i += 1
        if not self.blocks:
            raise ValueError("no 'Transformer-<i>-MultiHeadSelfAttention' layers found: not a bert4keras BERT model")
        att = self.blocks[0][0]
        self.heads, self.key_size, self.head_size = att.heads, att.key_size, att.head_size
        self.vocab_size = int(self.token_embedding.embeddings.shape[0])
        self.max_position = int(self.position_embedding.embeddings.shape[0])
        self._low = {}
        if self.dtype != tf.float32:
            self._make_low_precision_copies()
        self.compile_functions(jit_compile, autograph=False, prefill_jit=prefill_jit)  # the model's layers: plain ops

    def _make_low_precision_copies(self):
        """Weights of the matrix products in ``self.dtype``, made once (a per-step cast would read the float32
        weights every step and save nothing)."""
        def copy(weight):
            return tf.Variable(tf.cast(weight, self.dtype), trainable=False)

        def dense(layer):
            self._low[id(layer)] = (copy(layer.kernel), None if layer.bias is None else copy(layer.bias),
                                    layer.activation)

        self._low[id(self.token_embedding)] = copy(self.token_embedding.embeddings)
        dense(self.mlm[0])
        if self.mapping is not None:
            dense(self.mapping)
        for attention, _, ffn, _ in self.blocks:
            for layer in (attention.q_dense, attention.k_dense, attention.v_dense, attention.o_dense):
                dense(layer)
            if len(ffn.activation) != 1:
                raise ValueError("dtype='bfloat16' supports FeedForward layers with one activation (not GLU)")
            dense(ffn.i0_dense)
            dense(ffn.o_dense)

    def _dense(self, layer, x):
        """``layer(x)``; in low precision with the layer's low-precision copy (result float32)."""
        if not self._low:
            return layer(x)
        kernel, bias, activation = self._low[id(layer)]
        y = tf.einsum('...i,io->...o', tf.cast(x, self.dtype), kernel)
        if bias is not None:
            y = y + bias
        return tf.cast(activation(y) if activation is not None else y, tf.float32)

    def _ffn(self, ffn, x):
        if not self._low:
            return ffn(x)
        return self._dense(ffn.o_dense, self._dense(ffn.i0_dense, x))

    # ------------------------------------------------------------------ pieces

    def _embed(self, ids, segments, positions):
        if self._low:
            x = tf.cast(tf.gather(self._low[id(self.token_embedding)], ids), tf.float32)
        else:
            x = self.token_embedding(ids)
        if self.segment_embedding is not None:
            x = x + self.segment_embedding(segments)
        x = x + tf.gather(self.position_embedding.embeddings, positions)
        x = self.embedding_norm(x)
        if self.mapping is not None:
            x = self._dense(self.mapping, x)
        return x

    def _split(self, x, size):
        b, n = tf.shape(x)[0], tf.shape(x)[1]
        return tf.transpose(tf.reshape(x, [b, n, self.heads, size]), [0, 2, 1, 3])  # [b, h, n, d]

    def _merge(self, o, attention):
        """[b, h, n, d] heads -> the output projection of [b, n, h * d]."""
        b, n = tf.shape(o)[0], tf.shape(o)[2]
        o = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b, n, self.heads * self.head_size])
        return self._dense(attention.o_dense, tf.cast(o, tf.float32))

    def _kv(self, attention, x):
        k = self._split(self._dense(attention.k_dense, x), self.key_size)
        v = self._split(self._dense(attention.v_dense, x), self.head_size)
        return tf.cast(k, self.dtype), tf.cast(v, self.dtype)

    def _query(self, attention, x):
        return tf.cast(self._split(self._dense(attention.q_dense, x), self.key_size), self.dtype)

    def _block_rest(self, block, x, attended):
        _, att_norm, ffn, ffn_norm = block
        x = att_norm(x + attended)
        return ffn_norm(x + self._ffn(ffn, x))

    def _prompt_blocks(self, x, visible):
        """All layers over the prompts x [b, S, D] with ``visible`` [b, S, S]; returns (h, per-layer (K, V))."""
        prefix = []
        for block in self.blocks:
            attention = block[0]
            k, v = self._kv(attention, x)
            prefix.append((k, v))
            q = self._query(attention, x)
            a = tf.cast(tf.einsum('bhjd,bhkd->bhjk', q, k), tf.float32) / self.key_size ** 0.5
            a = tf.where(visible[:, None], a, tf.cast(-np.inf, a.dtype))
            o = tf.einsum('bhjk,bhkd->bhjd', tf.cast(tf.nn.softmax(a, -1), self.dtype), v)
            x = self._block_rest(block, x, self._merge(o, attention))
        return x, prefix

    def _token_blocks(self, x, prefix, generated, prefix_visible, t):
        """All layers for one new token per row, x [R, 1, D], at generated slot ``t``.

        ``prefix``: per layer the prompts' (K, V) ``[B, h, S, d]``, shared by the R / B consecutive rows of each
        prompt (samples or beams: never copied per row); ``generated``: per layer the rows' own (K, V) ``[R, h, M,
        d]`` of the generated tokens; ``prefix_visible`` [R, S]. Returns (h [R, 1, D], the updated ``generated``)."""
        rows = tf.shape(x)[0]
        onehot = None
        new_generated = []
        for block, (pk, pv), (gk, gv) in zip(self.blocks, prefix, generated):
            attention = block[0]
            k, v = self._kv(attention, x)                                        # [R, h, 1, d]
            if onehot is None:
                inputs, slots = tf.shape(pk)[0], tf.shape(gk)[2]
                group = rows // inputs
                onehot = tf.cast(tf.range(slots) == t, self.dtype)[None, None, :, None]
                gen_visible = (tf.range(slots) <= t)[None, None, :]
                pre_visible = prefix_visible[:, None, :]                          # [R, 1, S]
            gk = gk * (1 - onehot) + k * onehot
            gv = gv * (1 - onehot) + v * onehot
            new_generated.append((gk, gv))
            q = self._query(attention, x)[:, :, 0]                               # [R, h, d]
            qg = tf.reshape(q, [inputs, group, self.heads, self.key_size])
            a_pre = tf.reshape(tf.einsum('bghd,bhsd->bghs', qg, pk), [rows, self.heads, -1])
            a_gen = tf.einsum('rhd,rhmd->rhm', q, gk)
            a = tf.cast(tf.concat([a_pre, a_gen], -1), tf.float32) / self.key_size ** 0.5
            a = tf.where(tf.concat([tf.broadcast_to(pre_visible, tf.shape(a_pre)),
                                    tf.broadcast_to(gen_visible, tf.shape(a_gen))], -1), a,
                         tf.cast(-np.inf, a.dtype))
            p = tf.cast(tf.nn.softmax(a, -1), self.dtype)
            s = tf.shape(pk)[2]
            p_pre = tf.reshape(p[:, :, :s], [inputs, group, self.heads, s])
            o = (tf.reshape(tf.einsum('bghs,bhsd->bghd', p_pre, pv), [rows, self.heads, self.head_size])
                 + tf.einsum('rhm,rhmd->rhd', p[:, :, s:], gv))
            x = self._block_rest(block, x, self._merge(o[:, :, None], attention))
        return x, new_generated

    def _logits(self, h):
        dense, norm, bias = self.mlm
        h = norm(self._dense(dense, h))
        if not self._low:
            return bias(self.token_embedding(h, mode='dense'))
        table = self._low[id(self.token_embedding)]
        return bias(tf.cast(tf.matmul(tf.cast(h, self.dtype), table, transpose_b=True), tf.float32))

    def _log_probs(self, h):
        return tf.nn.log_softmax(self._logits(h), -1)

    # ------------------------------------------------------------------ the state and its rows
    #
    # state = {'prefix': per layer (K, V) [B, h, S, d] of the prompts, 'rows': {'kv': per layer (K, V) [R, h, M, d]
    # of the generated tokens, 'log_product': [R] (with a head)}}. The R rows are B groups of R / B consecutive rows,
    # group i continuing prompt i: the searches expand (samples) and re-order (beams) only the rows' part, so the
    # prompts' keys and values are neither copied per sample or beam nor rewritten at every step.

    def _expand(self, state, rows):
        return {'prefix': state['prefix'], 'rows': tf.nest.map_structure(lambda x: tf.gather(x, rows), state['rows'])}

    def _reorder(self, state, parents):
        return self._expand(state, parents)  # parents stay inside their prompt's group

    def _compact(self, state, inputs, rows):
        return {'prefix': tf.nest.map_structure(lambda x: tf.gather(x, inputs), state['prefix']),
                'rows': tf.nest.map_structure(lambda x: tf.gather(x, rows), state['rows'])}

    def _reorder_step(self, parents, tokens, positions, slot, prompt_size, prompt_real, state):
        # any parents (the public step API): each new row gets its own copy of its prompt's keys and values
        group = tf.shape(tf.nest.flatten(state['rows'])[0])[0] // tf.shape(state['prefix'][0][0])[0]
        return self._step(tokens, positions, slot, prompt_size, prompt_real,
                          self._compact(state, parents // group, parents))

    # ------------------------------------------------------------------ compiled entry points

    def _prefill(self, ids, segments, lengths, capacity):
        """ids/segments [b, S] (right-padded), lengths [b]; returns (log_probs [b, V], state)."""
        b, s = tf.shape(ids)[0], tf.shape(ids)[1]
        positions = tf.broadcast_to(tf.range(s)[None], [b, s])
        real = positions < lengths[:, None]
        if self.application == 'unilm':
            idx = tf.cumsum(segments, axis=1)
            allowed = idx[:, None, :] <= idx[:, :, None]
        else:
            allowed = tf.broadcast_to((tf.range(s)[None, :] <= tf.range(s)[:, None])[None], [b, s, s])
        visible = allowed & real[:, None, :]
        x = self._embed(ids, segments, positions)
        h, prefix = self._prompt_blocks(x, visible)
        empty = [(tf.zeros([b, self.heads, capacity - s, self.key_size], self.dtype),
                  tf.zeros([b, self.heads, capacity - s, self.head_size], self.dtype)) for _ in self.blocks]
        last = tf.gather(h, lengths - 1, batch_dims=1)
        if self.head is None:
            return self._log_probs(last), {'prefix': prefix, 'rows': {'kv': empty}}
        # the head's running product counts the decoding steps only, as in training (target_step_mask): for a
        # UniLM the positions whose next token is a target (segment-1) token, i.e. the target prefix given in the
        # prompt, and the last prompt position (it predicts the first generated token); for an LM every position
        steps = real
        if self.application == 'unilm':
            next_is_target = tf.concat([segments[:, 1:], tf.zeros_like(segments[:, :1])], axis=1) > 0
            steps = real & (next_is_target | tf.equal(positions, lengths[:, None] - 1))
        log_product = tf.reduce_sum(self.head.log_s(h) * tf.cast(steps, h.dtype), axis=1)
        return (self.head.combine(self._logits(last), log_product),
                {'prefix': prefix, 'rows': {'kv': empty, 'log_product': log_product}})

    def _step(self, tokens, positions, slot, prompt_size, prompt_real, state):
        """tokens/positions [R]; slot: this token's cache slot (>= prompt_size); prompt_real [R, C] bool marks real
        prompt slots; generated tokens occupy slots prompt_size..slot."""
        segment = 1 if self.application == 'unilm' else 0
        x = self._embed(tokens[:, None], tf.fill(tf.shape(tokens[:, None]), segment), positions[:, None])
        s = tf.shape(state['prefix'][0][0])[2]
        h, kv = self._token_blocks(x, state['prefix'], state['rows']['kv'], prompt_real[:, :s], slot - prompt_size)
        rows = {'kv': kv}
        if self.head is None:
            return self._log_probs(h[:, 0]), {'prefix': state['prefix'], 'rows': rows}
        log_probs, rows['log_product'] = self.head.step(self._logits(h[:, 0]), h[:, 0], state['rows']['log_product'])
        return log_probs, {'prefix': state['prefix'], 'rows': rows}


def _optional(get, name):
    try:
        return get(name)
    except (KeyError, ValueError):
        return None
