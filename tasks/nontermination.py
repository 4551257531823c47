"""Article 1 (kexue.fm/archives/7500): seq2seq that "cannot stop" — the non-termination ratio r_L of decoders on a
Transformer LM and an LSTM LM, each with the standard softmax and with the self-terminating head (Welleck et al.
2020), trained on People's Daily sentences (char tokens, end token [SEP]); 10-token prefixes of held-out sentences
are continued up to L steps.

The full run (defaults: 3 seeds, L = 100 as docs/claims.md fixes it, 300 prefixes, one epoch over up to 4,000
batches of training sentences, both architectures, the 7 decoders the claims need) takes about 50 minutes on 2 CPU
cores (an LM epoch is most of it); --decoders and --undertrained_steps add the other decoders and the under-trained
models. --quick is a smoke run of a few minutes. Through tasks.runner: the held-out sentences are fixed (each is
one test item: its 10-token prefix is continued, and the whole sentence scored for perplexity), the training
sentences redrawn per seed; each decoder is a view of its model (``<model>/<decoder>``).
"""
import bert4keras_ext  # noqa: F401
import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf, metrics
from bert4keras_ext.data import corpora, train_valid_test_split
from bert4keras_ext.decoding import CachedLM, Decoder, RecurrentLM, TopK, TopP
from bert4keras_ext.layers.termination import greedy_stop_bound
from bert4keras_ext.language_models import (NextTokenNLL, build_lstm_lm, build_transformer_lm,
                                            teacher_forced_log_probs)
from tasks import experiment, runner, stats

DECODERS = ['greedy', 'beam-2', 'beam-4', 'top-k 2', 'top-k 4', 'nucleus 0.2', 'nucleus 0.4',
            'consistent top-k 2', 'consistent top-k 4', 'consistent nucleus 0.2', 'consistent nucleus 0.4']
QUICK_DECODERS = ['greedy', 'beam-2', 'top-k 2', 'nucleus 0.4', 'consistent top-k 2', 'consistent nucleus 0.4']
# the full run: the decoders docs/claims.md judges (1a-1c), plus beam 4
FULL_DECODERS = ['greedy', 'beam-2', 'beam-4', 'top-k 2', 'nucleus 0.4', 'consistent top-k 2',
                 'consistent nucleus 0.4']


def decode(dec, name, prefixes, end, seed):
    if name == 'greedy':
        return [r.ids for r in dec.greedy(prefixes)]
    if name.startswith('beam'):
        return [r.ids for r in dec.beam_search(prefixes, int(name.split('-')[1]))]
    consistent = name.startswith('consistent')
    value = float(name.split()[-1])
    proc = TopK(int(value), consistent, end) if 'top-k' in name else TopP(value, consistent, end)
    return [r[0].ids for r in dec.sample(prefixes, 1, processors=[proc], seed=seed)]


def end_positions(seqs, end):
    """Index of the first end token of each sequence (-1: none)."""
    out = []
    for s in seqs:
        s = list(s)
        out.append(s.index(end) if end in s else -1)
    return out


def make_metrics(L):
    def ended(p):
        e = np.asarray(p['end_at'])
        return (e >= 0) & (e < L)
    return {'r_L': lambda y, p: float(1 - np.mean(ended(p))),
            'repetition': lambda y, p: float(np.mean(p['repetition'])),
            'perplexity': lambda y, p: float(np.exp(-np.sum(p['log_prob']) / np.sum(p['tokens']))),
            'longest': lambda y, p: float(np.max(p['length']))}


def non_terminated(results, name, L):
    """``[(unfinished, items)]`` per seed of result ``name``."""
    out = []
    for s in results['seeds']:
        e = np.asarray(s['results'][name]['predictions']['end_at'])
        out.append((int(np.sum((e < 0) | (e >= L))), len(e)))
    return out


def positive_ratio(name, L):
    """Claim 1a's rule: r_L > 0 when the pooled Wilson 95% interval over seeds and items lies above 0."""
    def decide(results):
        counts = non_terminated(results, name, L)
        k, n = sum(c for c, _ in counts), sum(t for _, t in counts)
        r, lo, hi = stats.wilson_interval(k, n)
        per_seed = ', '.join('%.1f%%' % (100 * c / t) for c, t in counts)
        return ('%.1f%% [%.1f, %.1f] pooled Wilson (%d of %d); per seed %s' % (100 * r, 100 * lo, 100 * hi, k, n,
                                                                               per_seed),
                'holds' if lo > 0 else 'inconclusive at this scale')
    return decide


def always_stops(model, decoders, bound, L):
    """Claim 1c's rule: no unfinished continuation for any decoder and seed, greedy within the stop bound."""
    def decide(results):
        worst = max(c / t for d in decoders for c, t in non_terminated(results, '%s/%s' % (model, d), L))
        longest = max(runner.metric_values(results, model + '/greedy', 'longest')) if 'greedy' in decoders else 0
        return ('largest r_L %.1f%%, longest greedy output %d tokens' % (100 * worst, longest),
                'holds' if worst == 0 and longest <= bound else 'does not hold')
    return decide


def main(argv=None):
    p = experiment.parser(__doc__, 'nontermination')
    p.add_argument('--max_steps', type=int, default=100, help='L, the length limit (the L of docs/claims.md)')
    p.add_argument('--prefixes', type=int, default=None, help='held-out sentences (default 300; quick 30)')
    p.add_argument('--train_steps', type=int, default=None, help='LM training steps (default 4000; quick 60)')
    p.add_argument('--archs', nargs='+', default=None, choices=['transformer', 'lstm'],
                   help='LM architectures (default both; quick: lstm, the one that shows non-termination)')
    p.add_argument('--max_chars', type=int, default=None,
                   help='longest training/held-out sentence in characters (default 80; quick 30)')
    p.add_argument('--decoders', nargs='+', default=None, choices=DECODERS,
                   help='decoders to compare (default: %s; quick: %s)' % (', '.join(FULL_DECODERS),
                                                                          ', '.join(QUICK_DECODERS)))
    p.add_argument('--epsilon', type=float, default=1e-2, help='self-terminating epsilon')
    p.add_argument('--undertrained_steps', type=int, default=0,
                   help='also decode softmax models trained only this many steps (0: skip), to show where '
                        'non-termination appears when the trained models terminate')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    L = args.max_steps
    n_prefix = args.prefixes or (30 if args.quick else 300)
    steps = args.train_steps or (60 if args.quick else 4000)
    archs = args.archs or (['lstm'] if args.quick else ['transformer', 'lstm'])
    max_chars = args.max_chars or (30 if args.quick else 80)
    decoders = args.decoders or (QUICK_DECODERS if args.quick else FULL_DECODERS)
    _, _, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    end = tokenizer._token_end_id
    sents = [s for line in corpora.peoples_daily_text() for s in corpora.split_sentences(line)
             if 12 <= len(s) <= max_chars]
    pool, _, held_sents = train_valid_test_split(sents, seed=args.seed, valid=0, test=n_prefix)
    width = min(96, max_chars + 1)  # "sentence [SEP]": at most one token per character, plus [SEP]

    def pad(rows):
        x = np.zeros((len(rows), width), 'int32')
        for i, r in enumerate(rows):
            x[i, :min(len(r), width)] = r[:width]
        return x

    encode = lambda s: tokenizer.encode(s, maxlen=96)[0][1:]  # noqa: E731  "sentence [SEP]"
    held = pad([encode(s) for s in held_sents])
    prefixes = [encode(s)[:10] for s in held_sents]

    def data(seed):
        order = np.random.RandomState(seed).permutation(len(pool))[:steps * 32]
        return runner.Split(pad([encode(pool[i]) for i in order]), None, {'prefixes': prefixes, 'held': held}, None,
                            info={'train': int(len(order)), 'held-out': len(prefixes)})

    config = dict(vocab_size=tokenizer._vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=512, hidden_act='gelu', max_position_embeddings=max(width, 10 + L) + 8)

    def lm_arm(arch, st, short=None):
        def run(data, seed):
            x = data.train
            if arch == 'transformer':
                tr, model = build_transformer_lm(config, st, end, args.epsilon)
                as_inputs = lambda a: [a, np.zeros_like(a)]  # noqa: E731
                backend = CachedLM(tr, 'lm', head=model.get_layer('ST-Head') if st else None)
            else:
                model = build_lstm_lm(tokenizer._vocab_size, 128, 256, st, end, args.epsilon)
                as_inputs = lambda a: a  # noqa: E731
                backend = RecurrentLM(model)
            model.compile(tf.keras.optimizers.Adam(1e-3), NextTokenNLL())
            n = short * 32 if short else len(x)
            model.fit(as_inputs(x[:n, :-1]), x[:n, 1:], sample_weight=(x[:n, 1:] > 0).astype('float32'),
                      batch_size=32, epochs=1, verbose=2)
            h = data.test['held']
            targets = h[:, 1:]  # every position scored, then the padding zeroed: per-sentence sums
            picked = teacher_forced_log_probs(model, as_inputs(h[:, :-1]), targets, np.ones_like(targets))
            picked = picked.reshape(targets.shape) * (targets > 0)
            scored = {'log_prob': picked.sum(1), 'tokens': (targets > 0).sum(1)}
            dec = Decoder(backend, end, maxlen=L, application='lm')
            # the reference continuation of each held-out sentence: its tokens after the prefix, up to [SEP]
            reference = np.median([max(1, int((r > 0).sum()) - 10) for r in h])
            views = {}
            for d in decoders:
                seqs = decode(dec, d, data.test['prefixes'], end, seed)
                views[d] = {'predictions': dict(scored, end_at=end_positions(seqs, end),
                                                length=[len(s) for s in seqs],
                                                repetition=[metrics.repetition(s) for s in seqs])}
                if st:  # stopping is only evidence if the model does not stop at once
                    ratio = float(np.median([len(s) for s in seqs]) / reference)
                    views[d]['check'] = {'not_too_early': {
                        'value': ratio, 'passed': ratio >= 0.5,
                        'rule': 'median continuation length / median reference continuation length >= 0.5'}}
            return {'views': views}
        return run

    def name_of(arch, st, short=None):
        name = '%s, %s' % (arch, 'self-terminating ε=%g' % args.epsilon if st else 'softmax')
        return name + (', %d steps' % short if short else '')

    variants = [(a, st, None) for a in archs for st in (False, True)]
    if args.undertrained_steps:
        variants += [(a, False, args.undertrained_steps) for a in archs]
    arms = [runner.Arm(name_of(*v), lm_arm(*v)) for v in variants]
    bound = greedy_stop_bound(args.epsilon)
    claims = []
    for arch in archs:
        softmax, st = name_of(arch, False), name_of(arch, True)
        claims += [runner.CustomClaim('1a', 'r_L > 0: %s, %s' % (softmax, d), positive_ratio('%s/%s' % (softmax, d), L))
                   for d in ('greedy', 'beam-2') if d in decoders]
        for d in [d for d in decoders if d.startswith('consistent') and d[len('consistent '):] in decoders]:
            standard = d[len('consistent '):]
            claims.append(runner.Claim('1b', 'r_L, %s - %s: %s' % (standard, d, softmax), 'r_L',
                                       '%s/%s' % (softmax, standard), '%s/%s' % (softmax, d)))
        claims.append(runner.CustomClaim('1c', 'r_L = 0 for every decoder and seed, greedy within %d steps: %s'
                                         % (bound, st), always_stops(st, decoders, bound, L),
                                         requires=['%s/%s' % (st, d) for d in decoders]))
        claims.append(runner.Claim('1d', 'held-out perplexity, %s - softmax' % st, 'perplexity',
                                   st + '/' + decoders[0], softmax + '/' + decoders[0], judge=False, scale=1.0,
                                   unit=''))

    def tables(report, results):
        models = [a.name for a in arms]
        first = results['seeds'][0]['results']
        plt = experiment.plt()
        fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), sharey=True, squeeze=False)
        for ax, m in zip(axes[0], models):
            for d in [d for d in ('greedy', 'beam-2', 'top-k 2', 'consistent top-k 2', 'nucleus 0.4') if d in decoders]:
                e = np.asarray(first['%s/%s' % (m, d)]['predictions']['end_at'])
                ax.plot(range(1, L + 1), [np.mean((e < 0) | (e >= l)) for l in range(1, L + 1)], label=d)
            ax.set_title(m, fontsize=9)
            ax.set_xlabel('L')
        axes[0][0].set_ylabel('non-termination ratio r_L')
        axes[0][-1].legend(fontsize=7)
        report.figure(fig, 'r_vs_L.png', 'Non-termination ratio against the length limit L (seed %d)'
                      % ctx.seeds[0])

    return runner.run(ctx, 'Article 1: non-termination of decoders (People\'s Daily LMs)', data, arms,
                      make_metrics(L), claims, tables=tables, raw_metrics=('perplexity', 'longest'),
                      config={'L': L, 'prefixes': n_prefix, 'train_steps': steps, 'archs': archs,
                              'max_chars': max_chars, 'decoders': decoders, 'epsilon': args.epsilon,
                              'undertrained_steps': args.undertrained_steps})


if __name__ == '__main__':
    main()
