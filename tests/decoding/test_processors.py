import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bert4keras_ext.decoding import (BanNGrams, EndOnlyAfter, MinLength, NoRepeatNGram, PrefixAllowedTokens,
                                     RepetitionPenalty, RequireBefore, SpanConstraint, SuffixAutomaton, Temperature, TopK,
                                     TopP, apply)
from tests.decoding import reference


def random_log_probs(rng, n=3, v=20):
    z = rng.normal(size=(n, v)) * 3
    return z - np.log(np.exp(z).sum(1, keepdims=True))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.integers(0, 19))
def test_consistent_topk_always_keeps_end(seed, k, end):
    lp = random_log_probs(np.random.RandomState(seed))
    out = apply([TopK(k, consistent=True, end_ids=end)], lp, [[]] * 3)
    assert np.all(np.isfinite(out[:, end]))
    assert np.all(np.isfinite(out).sum(1) <= k + 1)
    plain = apply([TopK(k)], lp, [[]] * 3)
    assert np.all(np.isfinite(plain).sum(1) == k)
    np.testing.assert_allclose(np.exp(out).sum(1), 1.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 1.0), st.integers(0, 19))
def test_nucleus_rule_and_consistency(seed, p, end):
    lp = random_log_probs(np.random.RandomState(seed))
    out = apply([TopP(p)], lp, [[]] * 3)
    probs = np.exp(lp)
    for i in range(3):
        kept = np.isfinite(out[i])
        mass_kept = probs[i, kept].sum()
        smallest_kept = probs[i, kept].min()
        assert mass_kept >= p - 1e-9                      # reaches p ...
        assert mass_kept - smallest_kept < p + 1e-9       # ... and is the smallest such set
    cons = apply([TopP(p, consistent=True, end_ids=end)], lp, [[]] * 3)
    assert np.all(np.isfinite(cons[:, end]))


def test_min_length_no_repeat_repetition_prefix_temperature():
    lp = np.log(np.full((2, 6), 1 / 6))
    out = apply([MinLength(2, end_ids=[5])], lp, [[1], [1]])
    assert np.isneginf(out[:, 5]).all()
    assert np.isfinite(apply([MinLength(2, end_ids=[5])], lp, [[1, 2], [1, 2]])[:, 5]).all()
    out = apply([NoRepeatNGram(2)], lp, [[1, 2, 1], [3, 4, 5]])
    assert np.isneginf(out[0, 2]) and np.isfinite(out[1]).all()
    out = apply([RepetitionPenalty(2.0)], lp, [[1, 1], [2, 2]])
    assert out[0, 1] - out[0, 0] == pytest.approx(-np.log(2)) and out[0, 0] > lp[0, 0]
    out = apply([PrefixAllowedTokens(lambda row, ids: [row, 4])], lp, [[], []], np.array([0, 3]))
    assert np.isfinite(out[0]).sum() == 2 and np.isfinite(out[1, [3, 4]]).all()
    sharp = apply([Temperature(0.5)], np.log(np.array([[0.6, 0.4]])), [[]])
    assert np.exp(sharp)[0, 0] == pytest.approx(0.36 / 0.52)


def test_ban_ngrams_is_per_input_and_end_only_after_marks():
    lp = np.log(np.full((3, 8), 1 / 8))
    ban = BanNGrams([[[1, 2, 3]], [[4, 5]]], n=2)  # input 0 bans 1-2 and 2-3, input 1 bans 4-5
    out = apply([ban], lp, [[7, 1], [7, 2], [7, 4]], np.array([0, 0, 1]))
    assert np.isneginf(out[0, 2]) and np.isfinite(out[0]).sum() == 7  # after 1 (input 0): 2 banned
    assert np.isneginf(out[1, 3]) and np.isfinite(out[1]).sum() == 7  # after 2 (input 0): 3 banned
    assert np.isneginf(out[2, 5]) and np.isfinite(out[2]).sum() == 7  # after 4 (input 1): 5 banned
    out = apply([ban], lp, [[4], [1], [6]], np.array([0, 1, 1]))  # input 0 does not ban 4-5, input 1 not 1-2
    assert np.isfinite(out).all()
    out = apply([BanNGrams([[[6]]], n=1)], lp[:1], [[]], np.array([0]))
    assert np.isneginf(out[0, 6]) and np.isfinite(out[0]).sum() == 7
    end = EndOnlyAfter([3], end_ids=[7])
    out = apply([end], lp, [[1, 3], [3, 1], [0, 0]])
    assert np.isfinite(out[0, 7]) and np.isneginf(out[1, 7]) and np.isneginf(out[2, 7])
    assert np.isfinite(out[:, :7]).all()
    assert np.isneginf(apply([end], lp, [[], [], []])[:, 7]).all()  # nothing generated yet: no end
    with pytest.raises(ValueError, match='at least one token'):
        EndOnlyAfter([], end_ids=[7])
    with pytest.raises(ValueError, match='n-gram size'):
        BanNGrams([], n=0)


def test_require_before_holds_its_tokens_until_a_required_token_and_enough_counted_ones():
    """The promise: the held tokens (here 7 and 8) come back only once the output holds a required token (1 or 2)
    and at least min_count tokens outside the uncounted ones (1, 2 and 3 do not count); other tokens are never
    touched."""
    lp = np.log(np.full((6, 9), 1 / 9))
    gate = RequireBefore([7, 8], required=[1, 2], min_count=2, uncounted=[1, 2, 3])
    ids = [[3, 3, 3, 3], [5, 6, 3, 3], [1, 3, 3, 3], [1, 5, 3, 3], [5, 2, 6, 3], [3, 6, 1, 4]]
    out = apply([gate], lp, ids)
    held = np.isneginf(out[:, [7, 8]])
    assert held.all(1).tolist() == [True, True, True, True, False, False]
    assert held.any(1).tolist() == held.all(1).tolist()   # both held tokens together
    assert np.isfinite(out[:, :7]).all()
    assert np.isneginf(apply([gate], lp, [[]] * 6)[:, 7:]).all()  # nothing generated yet
    only_required = apply([RequireBefore([7], required=[1])], lp[:2], [[4, 4], [4, 1]])
    assert np.isneginf(only_required[0, 7]) and np.isfinite(only_required[1, 7])
    only_count = apply([RequireBefore([7], min_count=2, uncounted=[3])], lp[:2], [[3, 3, 4], [4, 3, 5]])
    assert np.isneginf(only_count[0, 7]) and np.isfinite(only_count[1, 7])
    with pytest.raises(ValueError, match='required tokens or min_count'):
        RequireBefore([7])
    with pytest.raises(ValueError, match='at least one token'):
        RequireBefore([], required=[1])
    with pytest.raises(ValueError, match='outside the vocabulary'):
        apply([RequireBefore([7], required=[20])], lp, ids)


def test_bad_processor_arguments():
    with pytest.raises(ValueError, match='top_p must be in'):
        TopP(0.0)
    with pytest.raises(ValueError, match='top_p must be in'):
        TopP(1.5)
    with pytest.raises(ValueError, match='top_k must be an integer >= 1'):
        TopK(0)
    with pytest.raises(ValueError, match='temperature must be > 0'):
        Temperature(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.lists(st.integers(0, 5), max_size=6))
def test_suffix_automaton_accepts_exactly_substrings(text, query):
    sam = SuffixAutomaton(text)
    is_sub = any(text[i:i + len(query)] == query for i in range(len(text) - len(query) + 1))
    assert sam.contains(query) == is_sub


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(6, 30), min_size=1, max_size=25), st.integers(0, 10_000))
def test_span_constraint_random_walks_are_spans(passage, seed):
    """Sampling under the constraint from random distributions always yields a span of the passage."""
    rng = np.random.RandomState(seed)
    proc = SpanConstraint([passage], end_ids=[3])
    ids = []
    assert proc.automaton(0).contains(passage)
    for _ in range(12):
        lp = apply([proc], random_log_probs(rng, n=1, v=32), [ids])[0]
        assert np.isfinite(lp).any()
        tok = int(rng.choice(32, p=np.exp(lp)))
        if tok == 3:
            break
        ids.append(tok)
    text = ' %s ' % ' '.join(map(str, passage))
    assert ids and (' %s ' % ' '.join(map(str, ids))) in text


def test_processor_base_class_subclassing_and_repr():
    from bert4keras_ext.decoding import LogitsProcessor, TopK, TopP, apply
    from tests.helpers import docstring_example

    class RecordingDecoder:  # stands in for Decoder.sample: applies the processors once to uniform log-probs
        def sample(self, inputs, n, processors, seed):
            self.out = apply(processors, np.log(np.full((n, 200), 1 / 200)), [[]] * n)

    import tensorflow as tf
    ns = docstring_example(LogitsProcessor, {'np': np, 'tf': tf, 'LogitsProcessor': LogitsProcessor, 'TopP': TopP,
                                             'decoder': RecordingDecoder(), 'token_ids': [2, 3]})
    BanToken = ns['BanToken']
    assert np.isneginf(ns['decoder'].out[:, 100]).all()
    lp = np.log(np.full((2, 4), 0.25))
    out = apply([BanToken(1), TopK(2)], lp, [[], []])
    assert np.isneginf(out[:, 1]).all() and np.allclose(np.exp(out).sum(1), 1.0)
    assert repr(BanToken(3)) == 'BanToken(token_id=3)'
    with pytest.raises(NotImplementedError, match='implements __call__'):
        apply([LogitsProcessor()], lp, [[], []])
    with pytest.raises(TypeError, match='not a LogitsProcessor'):
        apply([lambda lp, ids, rows: lp], lp, [[], []])


def tie_and_inf_logits(rng, n=6, v=40):
    """Random rows with ties (values drawn from a few levels) and removed tokens; one row all -inf but one."""
    lp = rng.choice([-0.5, -1.0, -1.0, -2.0, -3.5], size=(n, v)) + rng.normal(size=(n, v)) * (rng.rand(n, 1) < 0.5)
    lp[rng.rand(n, v) < 0.2] = -np.inf
    lp[0, 1:] = -np.inf
    return reference.normalize(lp)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_every_tensor_processor_equals_its_numpy_reference(seed):
    """On random logits with ties and -inf entries, each built-in tensor processor (and a stack of them) keeps
    the tokens and the scores of its numpy reference (tests/decoding/reference.py), at random steps and per-input
    data."""
    rng = np.random.RandomState(seed)
    n, v = 6, 40
    lp = tie_and_inf_logits(rng, n, v)
    step = int(rng.randint(0, 7))
    ids = [list(rng.randint(0, 12, size=step)) for _ in range(n)]
    rows = rng.randint(0, 3, size=n)
    passages = [list(rng.randint(0, 12, size=rng.randint(1, 10))) for _ in range(3)]
    for r in range(n):  # some rows follow their passage, so the span constraint has states other than dead
        if rng.rand() < 0.6 and step <= len(passages[rows[r]]):
            ids[r] = passages[rows[r]][:step]
    procs = [TopK(int(rng.randint(1, 6))), TopK(3, consistent=True, end_ids=[7, 8]), TopP(float(rng.uniform(0.05, 1))),
             TopP(0.5, consistent=True, end_ids=[7]), Temperature(0.7), MinLength(3, [7]), NoRepeatNGram(1),
             NoRepeatNGram(2), NoRepeatNGram(3), BanNGrams([[p] for p in passages], 2),
             BanNGrams([[p[:2]] for p in passages], 1), EndOnlyAfter([1, 2, 3], [7]), RepetitionPenalty(1.7),
             SpanConstraint(passages, [7], min_span=2), SpanConstraint(passages[0], [7]),
             RequireBefore([7, 8], required=[1, 2]), RequireBefore([7], min_count=2, uncounted=[0, 3, 4]),
             RequireBefore([7, 1], required=[2, 3], min_count=1, uncounted=[2, 3])]
    for proc in procs + [procs[4:10], procs[10:]]:
        stack = proc if isinstance(proc, list) else [proc]
        ours = apply(stack, lp, ids, rows)
        expected = reference.run(stack, lp, ids, rows)
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(expected), err_msg=repr(stack))
        np.testing.assert_allclose(np.where(np.isfinite(ours), ours, 0), np.where(np.isfinite(expected), expected, 0),
                                   atol=1e-5, err_msg=repr(stack))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 1.0))
def test_nucleus_larger_than_its_candidates_takes_the_exact_search(seed, p):
    """TopP looks among its CANDIDATES most probable tokens first; a nucleus larger than that goes through the
    exact key search, which must agree with the reference too (ties and -inf included)."""
    lp = tie_and_inf_logits(np.random.RandomState(seed))
    old = TopP.CANDIDATES
    TopP.CANDIDATES = 2
    try:
        for proc in (TopP(p), TopP(p, consistent=True, end_ids=[5])):
            ours, expected = apply([proc], lp, [[]] * len(lp)), reference.run([proc], lp, [[]] * len(lp), None)
            np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(expected))
    finally:
        TopP.CANDIDATES = old


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 1.0), st.sampled_from([0.02, 0.3, 1.0]))
def test_nucleus_outside_xla_equals_the_xla_path(seed, p, finite_share):
    """Outside XLA, TopP reads only the tokens near each row's best when they are few (a dynamic shape); XLA
    always takes the partial top-k. Both keep the same tokens: rows with ties, -inf entries, a handful of finite
    tokens (as under the span constraint) or none, and every row finite (the sparse path declines)."""
    import tensorflow as tf
    rng = np.random.RandomState(seed)
    lp = tie_and_inf_logits(rng, 8, 300)
    lp[rng.rand(*lp.shape) > finite_share] = -np.inf
    lp[1] = -np.inf
    lp[2, :3] = 0.0 if finite_share < 1 else lp[2, :3]
    scores = tf.constant(lp, tf.float32)
    for proc in (TopP(p), TopP(p, consistent=True, end_ids=[5])):
        data = proc.tensors(lp.shape[1])
        graph = tf.function(lambda x: proc.process(x, None, None, None, data))(scores).numpy()
        xla = tf.function(lambda x: proc.process(x, None, None, None, data), jit_compile=True)(scores).numpy()
        np.testing.assert_array_equal(np.isfinite(graph), np.isfinite(xla))
        expected = reference.run([proc], lp, [[]] * len(lp), None)
        np.testing.assert_array_equal(np.isfinite(graph), np.isfinite(expected))


def test_span_constraint_refuses_a_table_over_its_bound(monkeypatch):
    """The transition table is bounded: passages that would need more than MAX_TABLE_BYTES are refused with a
    message naming the limit, before anything is allocated."""
    lp = np.log(np.full((1, 50), 1 / 50))
    monkeypatch.setattr(SpanConstraint, 'MAX_TABLE_BYTES', 4096)
    with pytest.raises(ValueError, match='MAX_TABLE_BYTES'):
        apply([SpanConstraint([list(range(5, 45))], [3])], lp, [[]])
    assert np.isfinite(apply([SpanConstraint([[5, 6]], [3])], lp, [[]])).sum() == 2  # a small one still works
