import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from bert4keras_ext import metrics
from bert4keras_ext.layers import SelfTerminatingHead, greedy_stop_bound, target_step_mask


def head_outputs(seed, eps, n=12, d=5, v=7, eos=2, scale=3.0):
    rng = np.random.RandomState(seed)
    head = SelfTerminatingHead(eos, epsilon=eps)
    logits = tf.constant(rng.normal(size=(2, n, v)) * scale, tf.float32)
    hidden = tf.constant(rng.normal(size=(2, n, d)) * scale, tf.float32)
    head([logits, hidden])
    head.set_weights([rng.normal(size=d).astype('float32') * scale, np.float32(rng.normal() * scale)])
    return head, logits, hidden, head([logits, hidden]).numpy()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 0.1, 0.01]))
def test_eos_lower_bound_monotone_and_normalised(seed, eps):
    _, _, _, lp = head_outputs(seed, eps)
    p = np.exp(lp.astype('float64'))
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    p_eos = p[..., 2]
    t = np.arange(p_eos.shape[1])
    assert np.all(p_eos >= 1 - (1 - eps) ** (t + 1) - 1e-5)
    assert np.all(np.diff(p_eos, axis=1) >= -1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.3, 0.1, 0.05]))
def test_greedy_stops_within_bound(seed, eps):
    """Greedy decoding of an adversarial model (logits favour other tokens strongly) still emits eos in time."""
    bound = greedy_stop_bound(eps)
    head, _, _, lp = head_outputs(seed, eps, n=bound + 1, scale=5.0)
    choices = lp.argmax(-1)
    for row in choices:
        assert 2 in row[:bound].tolist()


def test_step_by_step_equals_parallel():
    head, logits, hidden, lp = head_outputs(0, 0.05)
    state = tf.zeros([2])
    for t in range(logits.shape[1]):
        step_lp, state = head.step(logits[:, t], hidden[:, t], state)
        np.testing.assert_allclose(step_lp.numpy(), lp[:, t], atol=1e-5)


def test_an_untrained_head_starts_open():
    # default gate bias log((1 - eps) / eps): s = (1 - eps)^2 per step, so p(eos) = 1 - (1 - eps)^(2 (t + 1)) and
    # a model whose logits favour another token does not stop at once; with a zero bias it stops at the first step
    eps, n = 0.01, 10
    logits = tf.constant(np.tile([0.0, 3.0, 0.0, 0.0], (1, n, 1)), tf.float32)
    hidden = tf.constant(np.ones((1, n, 5)), tf.float32)
    p_eos = np.exp(SelfTerminatingHead(2, epsilon=eps)([logits, hidden]).numpy()[0, :, 2])
    np.testing.assert_allclose(p_eos, 1 - (1 - eps) ** (2 * np.arange(1, n + 1)), rtol=1e-4)
    closed = np.exp(SelfTerminatingHead(2, epsilon=eps, gate_bias_init=0.0)([logits, hidden]).numpy()[0, :, 2])
    assert closed[0] > 0.5 > p_eos[-1]
    assert SelfTerminatingHead.from_config(SelfTerminatingHead(2, 0.1, 1.5).get_config()).gate_bias_init == 1.5


def test_step_mask_skips_source_positions_and_config_and_save(tmp_path):
    seg = np.array([[0, 0, 0, 1, 1, 1]])
    mask = target_step_mask(seg).numpy()
    assert mask.tolist() == [[0, 0, 1, 1, 1, 0]]
    logits_in = tf.keras.Input((None, 7))
    hidden_in = tf.keras.Input((None, 4))
    mask_in = tf.keras.Input((None,))
    out = SelfTerminatingHead(2, epsilon=0.1)([logits_in, hidden_in, mask_in])
    model = tf.keras.Model([logits_in, hidden_in, mask_in], out)
    rng = np.random.RandomState(0)
    x = [rng.normal(size=(1, 6, 7)), rng.normal(size=(1, 6, 4)), mask]
    lp = model.predict(x, verbose=0)
    p_eos = np.exp(lp[0, :, 2])
    assert p_eos[0] == 0 and p_eos[1] == 0          # no decoding step yet: the product is empty
    assert p_eos[2] >= 0.1 - 1e-6 and p_eos[3] >= 1 - 0.9 ** 2 - 1e-6
    model.save(str(tmp_path / 'h.keras'))
    restored = tf.keras.models.load_model(str(tmp_path / 'h.keras'))
    np.testing.assert_allclose(restored.predict(x, verbose=0), lp, atol=1e-6)
    with pytest.raises(ValueError, match='epsilon must be in'):
        SelfTerminatingHead(2, epsilon=0)


def test_sequence_metrics():
    assert metrics.non_termination_ratio([[1, 2, 3], [1, 1], [3]], end_ids=3, max_length=2) == pytest.approx(2 / 3)
    assert metrics.repetition([1, 2, 3, 4, 1, 2, 3, 4], n=4) == pytest.approx(1 - 4 / 5)
    assert metrics.repetition([1, 2]) == 0.0
    assert metrics.perplexity(np.log([0.5, 0.5])) == pytest.approx(2.0)
