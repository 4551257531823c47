import numpy as np
import pytest

from bert4keras_ext.checkpoints import load_model
from bert4keras_ext.decoding import (BanNGrams, CachedLM, Decoder, EndOnlyAfter, MinLength, NoRepeatNGram,
                                     PythonProcessor, RepetitionPenalty, RequireBefore, SpanConstraint, Temperature,
                                     TopK, TopP, attach_to_autoregressive_decoder)
from tasks.baselines import bert4keras_decoder
from tests.decoding import reference

END = 3  # [SEP] in tiny_vocab


def stock_decoder(model, maxlen, minlen=1, application='unilm'):
    return bert4keras_decoder(model, END, maxlen, minlen, target_segment=1 if application == 'unilm' else 0)


def sources(n, rng, lo=4, hi=10):
    out = []
    for _ in range(n):
        ids = list(rng.randint(5, 40, size=rng.randint(lo, hi)))
        out.append([2] + ids + [END])
    return out


@pytest.fixture(scope='module')
def unilm(tiny_dir):
    model, _ = load_model(tiny_dir, application='unilm')
    return model


@pytest.mark.parametrize('application', ['unilm', 'lm'])
def test_cached_equals_uncached_over_20_steps(tiny_dir, application):
    model, _ = load_model(tiny_dir, application=application)
    lm = CachedLM(model, application)
    rng = np.random.RandomState(0)
    src = sources(3, rng)
    dec = Decoder(lm, END, maxlen=20)
    state = dec.prefill(src)
    outs = [list(x) for x in src]
    seg_value = 1 if application == 'unilm' else 0
    worst = 0.0
    for t in range(20):
        for r in range(3):
            segs = [0] * len(src[r]) + [seg_value] * (len(outs[r]) - len(src[r]))
            ref = np.log(model.predict([np.array([outs[r]]), np.array([segs])], verbose=0)[0, -1])
            worst = max(worst, np.abs(ref - state.log_probs[r]).max())
        nxt = state.log_probs.argmax(1).astype('int32')
        for r in range(3):
            outs[r].append(int(nxt[r]))
        state = dec.step(state, nxt)
    assert worst < 1e-5


@pytest.mark.parametrize('beam', [1, 3])
def test_beam_and_greedy_identical_to_bert4keras(unilm, beam):
    rng = np.random.RandomState(1)
    src = sources(4, rng)
    maxlen = 12
    ours = Decoder(unilm, END, maxlen=maxlen, minlen=2).beam_search(src, beam)
    stock = stock_decoder(unilm, maxlen, minlen=2)
    for x, r in zip(src, ours):
        expected = stock.beam_search([np.array(x), np.zeros(len(x), int)], topk=beam)
        assert list(expected) == r.ids
    if beam == 1:
        greedy = Decoder(unilm, END, maxlen=maxlen, minlen=2).greedy(src)
        assert [g.ids for g in greedy] == [r.ids for r in ours]


def bigram(seed, v=12, jit=True):
    """A random bigram backend (peaked rows: the tiny random BERT repeats one token forever) whose end ids 0 and 1
    are unlikely after most tokens and nearly certain after 2 and 3: some inputs end, some run out of length."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LMBackend
    from tests.helpers import docstring_example
    Bigram = docstring_example(LMBackend, {'tf': tf, 'LMBackend': LMBackend})['Bigram']
    rng = np.random.RandomState(seed)
    logits = rng.gumbel(size=(v, v)) * 2.0
    logits[:, :2] -= 8.0
    logits[[2, 3], 1] += 16.0
    table = (logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype('float32')
    lm = Bigram(tf.constant(table))
    lm.compile_functions(jit_compile=jit)
    return lm


def processor_sets(v=12):
    """Every built-in processor, alone and stacked, with per-input data (inputs 0..v-1)."""
    passages = [[(i + j) % v for j in range(5)] + [2, 5, 2] for i in range(v)]
    return {
        'none': [],
        'top-k': [TopK(3)], 'consistent top-k': [TopK(2, consistent=True, end_ids=[0, 1])],
        'top-p': [TopP(0.6)], 'consistent nucleus': [Temperature(1.5), TopP(0.3, consistent=True, end_ids=[1])],
        'span': [SpanConstraint(passages, [0, 1], min_span=2)],
        'question rules': [MinLength(2, [0, 1]), BanNGrams([[[i, (i + 1) % v, 4]] for i in range(v)], 2),
                           EndOnlyAfter([2, 3, 7], [0, 1]), NoRepeatNGram(2), RepetitionPenalty(1.5),
                           RequireBefore([0, 1, 2], required=[3, 4, 5], min_count=2, uncounted=[3, 4, 6])],
        'unigram bans': [BanNGrams([[[5, 6]]] * v, 1), NoRepeatNGram(1)],
        'python': [PythonProcessor(lambda lp, ids, rows: np.where(np.arange(lp.shape[1]) % 3 == 0, -np.inf, lp))],
    }


SEARCHES = [(1, 1, 1, False, False), (1, 4, 2, False, False), (2, 1, 1, False, False), (3, 3, 1, True, False),
            (4, 2, 2, False, False)]  # beam, minlen, min_ends, ln, prefer_ended
PREFER = (3, 2, 1, True, True)  # prefer_ended: with no processors and with the question rules


def reference_cases():
    """(name, beam, minlen, min_ends, ln, prefer, jit): under XLA every processor set with three searches (greedy,
    beam with length normalisation, plain beam) and 'none' with all five; the graph loop (which drops finished inputs)
    with a greedy and a beam search per set (its compaction differs between the two loops, not between beam
    widths); the Python processor only in the graph loop (it cannot run under XLA)."""
    names = list(processor_sets())[1:]
    xla = ([('none',) + c for c in SEARCHES] + [(n,) + c for n in names if n != 'python'
                                                 for c in SEARCHES[1::2] + SEARCHES[2:3]])
    graph = [('none',) + c for c in SEARCHES[::2]] + [(n,) + c for n in names for c in SEARCHES[1::2]]
    prefer = [('none',) + PREFER, ('question rules',) + PREFER]
    return ([pytest.param(*(c + (True,)), id='-'.join(map(str, c)) + '-xla') for c in xla + prefer] +
            [pytest.param(*(c + (False,)), id='-'.join(map(str, c)) + '-graph') for c in graph + prefer])


@pytest.mark.parametrize('name,beam,minlen,min_ends,ln,prefer,jit', reference_cases())
def test_the_compiled_loop_equals_the_python_reference(name, beam, minlen, min_ends, ln, prefer, jit,
                                                         monkeypatch):
    """Greedy and beam search in the one compiled loop (processors as tensor ops) give the tokens, statuses and
    scores of a Python search over the single-step API with numpy processors (tests/decoding/reference.py); the
    graph loop (no XLA) drops finished inputs as it goes (here after every input that finishes), with the same
    results."""
    from bert4keras_ext.decoding import backend
    monkeypatch.setattr(backend, 'COMPACT', 0.99)
    lm = bigram(beam + 10 * minlen, jit=jit)
    procs = processor_sets()[name]
    src = [[int(t)] for t in range(12)]
    dec = Decoder(lm, [0, 1], maxlen=8, minlen=minlen)
    if beam == 1:
        ours = dec.greedy(src, processors=procs, min_ends=min_ends)
        expected = reference.greedy(dec, src, procs, min_ends=min_ends)
    else:
        ours = dec.beam_search(src, beam, processors=procs, min_ends=min_ends, length_normalization=ln,
                               prefer_ended=prefer)
        expected = reference.beam_search(dec, src, beam, procs, min_ends=min_ends, length_normalization=ln,
                                         prefer_ended=prefer)
    assert [r.ids for r in ours] == [e[0] for e in expected]
    assert [r.status for r in ours] == [e[2] for e in expected]
    np.testing.assert_allclose([r.score for r in ours], [e[1] for e in expected], rtol=1e-5, atol=1e-5)
    if name == 'none' and not ln:
        assert {r.status for r in ours} == {'end', 'maxlen'}, [r.ids for r in ours]


def test_sampling_draws_from_the_processed_distribution():
    """The first token's empirical frequencies over 4,000 seeded draws match the processed probabilities (nucleus
    after temperature) within binomial noise, and tokens outside the nucleus never appear."""
    lm = bigram(5)
    procs = [Temperature(1.3), TopP(0.8)]
    dec = Decoder(lm, [0, 1], maxlen=1)
    n = 4000
    draws = [s.ids[0] for s in dec.sample([[4]], n=n, processors=procs, seed=3)[0]]
    expected = np.exp(reference.run(procs, lm.table.numpy()[[4]].astype('float64'), [[]], [0])[0])
    freq = np.bincount(draws, minlength=len(expected)) / n
    assert np.all(freq[expected == 0] == 0) and (expected == 0).any()
    assert np.all(np.abs(freq - expected) <= 4 * np.sqrt(expected * (1 - expected) / n) + 1e-9)


def test_batched_sampling_is_seeded_and_respects_topk(unilm):
    rng = np.random.RandomState(2)
    src = sources(3, rng)
    dec = Decoder(unilm, END, maxlen=8)
    a = dec.sample(src, n=4, processors=[TopK(1)], seed=0)
    greedy = dec.greedy(src)
    for samples, g in zip(a, greedy):
        assert all(s.ids == g.ids for s in samples)  # top-1 sampling is greedy
    b1 = dec.sample(src, n=2, seed=5)
    b2 = dec.sample(src, n=2, seed=5)
    assert [[s.ids for s in x] for x in b1] == [[s.ids for s in x] for x in b2]


def test_impossible_constraint_ends_with_status(unilm):
    dec = Decoder(unilm, END, maxlen=5)
    never = PythonProcessor(lambda lp, ids, rows: np.full_like(lp, -np.inf))
    res = dec.sample([[2, 7, 8, END]], n=2, processors=[never], seed=0)[0]
    assert all(r.status == 'no_valid_token' and r.ids == [] for r in res)
    assert dec.beam_search([[2, 7, 8, END]], 2, processors=[never])[0].status == 'no_valid_token'
    span = SpanConstraint([[]], END)  # an empty passage: no span at all, as a tensor processor
    assert dec.greedy([[2, 7, 8, END]], processors=[span])[0].status == 'no_valid_token'


def test_a_user_processor_with_python_control_flow_runs_in_the_loop(unilm):
    """The cached backend traces its loops without AutoGraph; a LogitsProcessor subclass (``autograph = True`` by
    default) still gets it: its Python ``if`` on a tensor works, in greedy and beam search alike."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LogitsProcessor

    class EndAfterTwo(LogitsProcessor):  # nothing but END from the third token on
        def __call__(self, scores, output_ids, step, rows):
            if step >= 2:  # a Python `if` on a tensor: needs AutoGraph
                only_end = tf.range(tf.shape(scores)[1]) == END
                scores = tf.where(only_end[None, :], scores, tf.constant(-np.inf, scores.dtype))
            return scores

    dec = Decoder(unilm, END, maxlen=8)
    assert dec.lm.autograph is False
    src = sources(2, np.random.RandomState(4))
    for out in (dec.greedy(src, processors=[EndAfterTwo()]), dec.beam_search(src, 2, processors=[EndAfterTwo()])):
        assert all(r.status == 'end' and len(r.ids) <= 3 and r.ids[-1] == END for r in out)


def test_a_plain_function_is_refused_with_what_to_write(unilm):
    dec = Decoder(unilm, END, maxlen=5)
    with pytest.raises(TypeError, match='PythonProcessor'):
        dec.greedy([[2, 7, 8, END]], processors=[lambda lp, ids, rows: lp])


def is_span(body, passage):
    """Whether ``body`` is a contiguous run of ``passage`` (whole ids: 5 is not inside 15)."""
    n = len(body)
    return any(list(passage[i:i + n]) == list(body) for i in range(len(passage) - n + 1))


def test_is_span_matches_whole_ids():
    assert is_span([10, 11], [9, 10, 11]) and not is_span([5], [15, 2]) and not is_span([1, 5], [11, 5])


def test_span_constrained_outputs_are_spans(unilm):
    rng = np.random.RandomState(3)
    src = sources(4, rng, lo=6, hi=12)
    passages = [x[1:-1] for x in src]
    dec = Decoder(unilm, END, maxlen=10)
    for samples, passage in zip(dec.sample(src, n=3, processors=[SpanConstraint(passages, END)], seed=1),
                                passages):
        for s in samples:
            body = s.ids[:-1] if s.status == 'end' else s.ids
            assert is_span(body, passage) and len(body) >= 1


def test_adapter_gives_bert4keras_decoder_the_processors(unilm):
    stock = attach_to_autoregressive_decoder(stock_decoder(unilm, 10), [SpanConstraint([9, 10, 11, 12], END)])
    np.random.seed(0)
    for ids in stock.random_sample([np.array([2, 9, 10, 11, 12, END]), np.zeros(6, int)], n=4):
        body = [int(i) for i in ids if i != END]
        assert is_span(body, [9, 10, 11, 12])


def test_bad_arguments_name_themselves(unilm):
    with pytest.raises(ValueError, match=r'end_ids \[999\] are outside the vocabulary'):
        Decoder(unilm, 999, maxlen=5)
    with pytest.raises(ValueError, match=r'maxlen \(2\) must be >= minlen \(3\)'):
        Decoder(unilm, END, maxlen=2, minlen=3)
    dec = Decoder(unilm, END, maxlen=5)
    with pytest.raises(ValueError, match='inputs is empty'):
        dec.greedy([])
    with pytest.raises(ValueError, match=r'inputs\[1\] is an empty token list'):
        dec.greedy([[2, 3], []])
    with pytest.raises(ValueError, match='beam_size must be an integer >= 1'):
        dec.beam_search([[2, 3]], 0)


def test_tokenizer_encode_output_and_bad_ids_are_clear_errors(unilm):
    """``dec.greedy(tokenizer.encode(text))`` used to decode the segment ids as a second input, silently."""
    dec = Decoder(unilm, END, maxlen=5)
    token_ids, segment_ids = [2, 9, 10, 11, END], [0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match=r'tokenizer.encode\(\).*segments=\[segment_ids\]'):
        dec.greedy((token_ids, segment_ids))
    with pytest.raises(ValueError, match='a list of token-id lists'):
        dec.greedy(token_ids)
    assert len(dec.greedy([token_ids], segments=[segment_ids])) == 1  # the right call
    vocab = dec.lm.vocab_size
    with pytest.raises(ValueError, match=r'inputs\[0\] has token ids outside the vocabulary \(size %d\)' % vocab):
        dec.greedy([[2, vocab + 3, END]])
    with pytest.raises(ValueError, match='SpanConstraint: token ids .* outside the vocabulary'):
        dec.sample([token_ids], n=1, processors=[SpanConstraint([9, 10], [vocab + 1])], seed=0)


def test_uncached_backend_for_any_keras_model_matches_cached(unilm):
    from bert4keras_ext.decoding import UncachedLM
    rng = np.random.RandomState(4)
    src = sources(3, rng)
    cached = Decoder(unilm, END, maxlen=10).beam_search(src, 2)
    uncached = Decoder(UncachedLM(unilm), END, maxlen=10).beam_search(src, 2)
    assert [r.ids for r in cached] == [r.ids for r in uncached]
    np.testing.assert_allclose([r.score for r in cached], [r.score for r in uncached], atol=1e-4)
    with pytest.raises(ValueError, match="outputs must be"):
        UncachedLM(unilm, outputs='x')


def test_cached_lm_refuses_a_non_bert_model_with_a_readable_message():
    import tensorflow as tf
    inp = tf.keras.Input((None,), dtype='int32')
    x = tf.keras.layers.Embedding(10, 4, name='Embedding-Token')(inp)
    for name in ('Embedding-Position', 'Embedding-Norm', 'MLM-Dense', 'MLM-Norm', 'MLM-Bias'):
        x = tf.keras.layers.Dense(4, name=name)(x)  # the embedding and head names, but no transformer block
    model = tf.keras.Model(inp, x)
    with pytest.raises(ValueError) as err:
        CachedLM(model)
    assert "'Transformer-<i>-MultiHeadSelfAttention'" in str(err.value) and '%d' not in str(err.value)


def test_a_new_backend_needs_only_prefill_and_step():
    """The LMBackend docstring's example: a bigram table decodes greedily, beam-searches and reorders."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LMBackend
    from tests.helpers import docstring_example
    Bigram = docstring_example(LMBackend, {'tf': tf, 'LMBackend': LMBackend})['Bigram']
    table = np.full((5, 5), np.log(0.01), 'float32')
    for a, b in [(1, 2), (2, 3), (3, 4), (4, 0)]:  # 1 -> 2 -> 3 -> 4 -> end (0)
        table[a, b] = np.log(0.96)
    dec = Decoder(Bigram(tf.constant(table)), end_ids=0, maxlen=6)
    assert dec.greedy([[1], [3]])[0].ids == [2, 3, 4, 0]
    assert dec.beam_search([[1], [3]], beam_size=2)[1].ids == [4, 0]


def test_profile_accounts_for_the_phases(unilm):
    dec = Decoder(unilm, END, maxlen=6, minlen=6)
    dec.profile()  # reset
    dec.beam_search([[2, 9, 10, END]], 2, processors=[TopK(5)])
    prof = dec.profile()
    assert prof['steps'] == 6 and prof['prefill'] > 0 and prof['loop'] > 0
    state = dec.step(dec.prefill([[2, 9, 10, END]]), [5])
    assert state.generated == 1 and dec.profile()['step'] > 0
    assert dec.profile() == {}  # reset after reading


def test_bfloat16_log_probs_follow_float32(unilm):
    """The bfloat16 option keeps log-probs within bfloat16 rounding of float32 over prefill and 10 steps, and its
    cache is bfloat16 (so it really runs in low precision)."""
    rng = np.random.RandomState(3)
    src = sources(3, rng)
    outs = {}
    for dtype in ('float32', 'bfloat16'):
        dec = Decoder(unilm, END, maxlen=10, dtype=dtype)
        state = dec.prefill(src)
        seq = [state.log_probs]
        nxt = np.array([5, 6, 7], 'int32')  # the same forced tokens for both precisions
        for t in range(10):
            state = dec.step(state, nxt)
            seq.append(state.log_probs)
        outs[dtype] = np.stack(seq)
        assert state.cache['prefix'][0][0].dtype.name == dtype
        assert state.cache['rows']['kv'][0][0].dtype.name == dtype
    diff = np.abs(outs['bfloat16'] - outs['float32'])
    assert 0 < diff.max() < 0.1
    np.testing.assert_allclose(np.exp(outs['bfloat16']).sum(-1), 1, atol=1e-3)


def test_prefill_jit_pads_prompts_to_a_bucket_and_changes_no_output(unilm, monkeypatch):
    """``prefill_jit``: the prompts' forward as XLA programs over prompts padded to a multiple of PREFILL_BUCKET
    (never beyond max_position - maxlen: bucket 32 passes it and is cut back to it); log-probs over prefill and 10
    steps equal the default path within float rounding, and beam search returns the same hypotheses."""
    from bert4keras_ext.decoding import LMBackend
    src = sources(3, np.random.RandomState(4))
    longest = max(len(x) for x in src)

    def run(jit):
        dec = Decoder(unilm, END, maxlen=10, prefill_jit=jit)
        assert dec.lm.prefill_jit is jit
        state = dec.prefill(src)
        size = state.prompt_size
        seq = [state.log_probs]
        for t in range(10):
            state = dec.step(state, np.array([5, 6, 7], 'int32'))
            seq.append(state.log_probs)
        return size, np.stack(seq), [(r.ids, r.status) for r in dec.beam_search(src, 3)]

    size, outs, beams = run(False)
    assert size == longest
    for bucket in (8, 32):
        monkeypatch.setattr(LMBackend, 'PREFILL_BUCKET', bucket)
        size_jit, outs_jit, beams_jit = run(True)
        assert size_jit == min(-(-longest // bucket) * bucket, 32 - 10) > longest, bucket
        np.testing.assert_allclose(outs_jit, outs, atol=1e-5)
        assert beams_jit == beams, bucket


def test_bfloat16_refuses_unknown_dtype(unilm):
    with pytest.raises(ValueError, match='dtype'):
        CachedLM(unilm, dtype='float16')


def test_length_normalization_keeps_ended_hypotheses_and_compares_means():
    """It had no effect (candidates of one step share a length). A bigram table where a 1-token answer (mean log p
    -1.20) beats every longer one (-1.30 per token after two tokens) while a longer live beam leads in raw sum at
    step 1: bert4keras' search drops the short one; the length-normalised search returns it."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LMBackend
    from tests.helpers import docstring_example
    Bigram = docstring_example(LMBackend, {'tf': tf, 'LMBackend': LMBackend})['Bigram']
    end, v = 1, 12
    table = np.full((v, v), 1e-6)
    table[0, end], table[0, 2] = 0.3, 0.7            # start: end now (-1.20) or 2 (-0.36)
    table[2, end], table[2, 3:] = 0.05, 0.95 / 9     # after 2: every continuation poor (2 tokens: mean -1.30)
    table[3:, end] = 0.9                             # then the sentence ends
    table /= table.sum(1, keepdims=True)
    dec = Decoder(Bigram(tf.constant(np.log(table), tf.float32)), end_ids=end, maxlen=5)
    raw = dec.beam_search([[0]], beam_size=2)[0]
    normed = dec.beam_search([[0]], beam_size=2, length_normalization=True)[0]
    assert len(raw.ids) == 3 and raw.ids[-1] == end   # [2, x, end], sum -2.70: the short answer was dropped
    assert normed.ids == [end] and normed.score == pytest.approx(np.log(0.3), abs=1e-4)
    assert normed.status == 'end'


@pytest.mark.parametrize('jit', [True, False], ids=['xla', 'graph'])
def test_prefer_ended_returns_the_ended_hypothesis_over_a_better_unfinished_beam(jit):
    """A bigram table where ending at once has mean log p -2.30 and a loop that never ends -0.11 per token: at
    maxlen the length-normalised search returns the unfinished loop (status maxlen); with ``prefer_ended`` it
    returns the ended hypothesis it kept. Without length normalisation the option is refused."""
    import tensorflow as tf
    from bert4keras_ext.decoding import LMBackend
    from tests.helpers import docstring_example
    Bigram = docstring_example(LMBackend, {'tf': tf, 'LMBackend': LMBackend})['Bigram']
    end, v = 1, 6
    table = np.full((v, v), 1e-6)
    table[0, end], table[0, 2] = 0.1, 0.9            # start: end now (-2.30) or 2 (-0.11)
    table[2, 2], table[2, end] = 0.9, 1e-4           # 2 repeats itself and hardly ever ends
    table /= table.sum(1, keepdims=True)
    lm = Bigram(tf.constant(np.log(table), tf.float32))
    lm.compile_functions(jit_compile=jit)
    dec = Decoder(lm, end_ids=end, maxlen=4)
    live = dec.beam_search([[0], [0]], beam_size=2, length_normalization=True)
    ended = dec.beam_search([[0], [0]], beam_size=2, length_normalization=True, prefer_ended=True)
    assert [(r.ids, r.status) for r in live] == [([2, 2, 2, 2], 'maxlen')] * 2
    assert [(r.ids, r.status) for r in ended] == [([end], 'end')] * 2
    assert ended[0].score == pytest.approx(np.log(0.1), abs=1e-4)
    with pytest.raises(ValueError, match='prefer_ended needs length_normalization'):
        dec.beam_search([[0]], beam_size=2, prefer_ended=True)


def test_graph_loops_that_drop_finished_inputs_give_the_same_results(unilm, monkeypatch):
    """The graph loops (no XLA) drop finished inputs from the batch (when the inputs still running fall to 2/3 or
    to 0.99 of those in the loop): samples (span-constrained nucleus, seeded), greedy and length-normalised beam
    search of the cached BERT equal those of the same loops that drop none."""
    from bert4keras_ext.decoding import backend
    rng = np.random.RandomState(7)
    src = sources(9, rng, lo=3, hi=14)
    bodies = [s[1:-1] for s in src]
    results = {}
    for share in (0, 2 / 3, 0.99):  # 0: never drop
        monkeypatch.setattr(backend, 'COMPACT', share)
        dec = Decoder(CachedLM(unilm, 'unilm'), [END, 5, 6], maxlen=10)
        samples = dec.sample(src, n=3, processors=[SpanConstraint(bodies, [END, 5, 6]), TopP(0.9)], seed=4)
        beams = dec.beam_search(src, 3, processors=[NoRepeatNGram(2)], length_normalization=True)
        results[share] = [r for rs in samples for r in rs] + beams + dec.greedy(src)
    assert {r.status for r in results[0]} == {'end', 'maxlen'}  # inputs finish at different steps
    assert len({len(r.ids) for r in results[0]}) > 2
    for compact in (2 / 3, 0.99):
        assert [(r.ids, r.status) for r in results[compact]] == [(r.ids, r.status) for r in results[0]]
        np.testing.assert_allclose([r.score for r in results[compact]], [r.score for r in results[0]], rtol=1e-6)
