import numpy as np
import pytest

from bert4keras_ext.decoding import CachedLM, Decoder
from bert4keras_ext.decoding import RecurrentLM
from bert4keras_ext.language_models import build_lstm_lm, build_transformer_lm
from bert4keras_ext.checkpoints.tiny import tiny_config
from bert4keras_ext.layers import greedy_stop_bound

EOS = 3


def randomise(model, seed, scale=0.3):
    rng = np.random.RandomState(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype('float32') for w in model.get_weights()])


def transformer(self_terminating):
    config = tiny_config(30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         max_position_embeddings=64)
    tr, model = build_transformer_lm(config, self_terminating, EOS, epsilon=0.05)
    randomise(model, 0)
    return model, CachedLM(tr, 'lm', head=model.get_layer('ST-Head') if self_terminating else None)


def lstm(self_terminating):
    model = build_lstm_lm(30, 8, 16, self_terminating, EOS, epsilon=0.05)
    randomise(model, 1)
    return model, RecurrentLM(model)


@pytest.mark.parametrize('kind', ['transformer', 'lstm'])
@pytest.mark.parametrize('self_terminating', [False, True])
def test_cached_decoding_equals_parallel_model(kind, self_terminating):
    model, backend = (transformer if kind == 'transformer' else lstm)(self_terminating)
    prefixes = [[5, 6, 7, 8], [9, 10, 11]]
    dec = Decoder(backend, EOS, maxlen=20, application='lm')
    state = dec.prefill(prefixes)
    seqs = [list(p) for p in prefixes]
    worst = 0.0
    for t in range(20):
        for r in range(2):
            ids = np.array([seqs[r]])
            x = [ids, np.zeros_like(ids)] if kind == 'transformer' else ids
            ref = model.predict(x, verbose=0)[0, -1]
            worst = max(worst, np.abs(ref - state.log_probs[r]).max())
        banned = np.isin(np.arange(30), [0, EOS])  # padding id 0 is masked by the Keras models
        nxt = np.array([int(np.argmax(np.where(banned, -np.inf, state.log_probs[r]))) for r in range(2)], 'int32')
        for r in range(2):
            seqs[r].append(int(nxt[r]))
        state = dec.step(state, nxt)
    assert worst < 1e-4


@pytest.mark.parametrize('kind', ['transformer', 'lstm'])
def test_self_terminating_greedy_always_stops(kind):
    model, backend = (transformer if kind == 'transformer' else lstm)(True)
    bound = greedy_stop_bound(0.05)
    dec = Decoder(backend, EOS, maxlen=bound + 5, application='lm')
    results = dec.greedy([[5, 6], [7, 8, 9, 10], [11]])
    prefix_steps = [2, 4, 1]
    for r, k in zip(results, prefix_steps):
        assert r.status == 'end'
        assert len(r.ids) <= bound  # the bound counts from the first step; prefix steps only make it earlier


def test_cached_unilm_with_head_equals_teacher_forcing():
    """A UniLM's head counts only the positions that predict target tokens (target_step_mask) in training; the
    cached decoder must do the same (it added log s over every source position: |Δ log p| up to 11)."""
    import tensorflow as tf
    from bert4keras_ext.layers import SelfTerminatingHead, target_step_mask
    from bert4keras_ext.models import build_model
    config = tiny_config(30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         max_position_embeddings=64)
    tr = build_model(config, application='unilm', with_mlm='linear')
    hidden = tr.layers['Transformer-1-FeedForward-Norm'].output
    step_mask = tf.keras.Input((None,), name='step_mask')
    head = SelfTerminatingHead(EOS, epsilon=0.05, gate_bias_init=0.5, name='ST-Head')
    model = tf.keras.Model(tr.model.inputs + [step_mask], head([tr.model.output, hidden, step_mask]))
    randomise(model, 2)
    source = [2, 5, 6, 7, 8, 9, 4]                # [CLS] ... [SEP], segment 0
    target = [10, 11, 12, 13, 14, 15]             # segment 1
    ids = np.array([source + target])
    seg = np.array([[0] * len(source) + [1] * len(target)])
    ref = model.predict([ids, seg, target_step_mask(seg).numpy()], verbose=0)[0]
    backend = CachedLM(tr, 'unilm', head=head)
    dec = Decoder(backend, EOS, maxlen=len(target), application='unilm')
    for given in (0, 2):                          # a prompt of the source alone, and with a 2-token target prefix
        prompt, prompt_seg = source + target[:given], [0] * len(source) + [1] * given
        state = dec.prefill([prompt], [prompt_seg])
        worst = 0.0
        for t, token in enumerate(target[given:]):
            worst = max(worst, np.abs(state.log_probs[0] - ref[len(prompt) - 1 + t]).max())
            if t + 1 < len(target) - given:
                state = dec.step(state, [token])
        assert worst < 1e-4, (given, worst)
