"""Article 1 (kexue.fm/archives/7500): seq2seq that "cannot stop" — the non-termination ratio r_L of decoders on a
Transformer LM and an LSTM LM, each with the standard softmax and with the self-terminating head (Welleck et al.
2020), trained on People's Daily sentences (char tokens, end token [SEP]); 10-token prefixes of held-out sentences
are continued up to L steps.

The full run (defaults: 3 seeds, L = 100 as docs/claims.md fixes it, 300 prefixes, epochs of up to 4,000 batches
of training sentences until the validation perplexity stops improving (at most 4), both architectures, softmax and
self-terminating heads at ε = 1e-2 / 1e-3 / 1e-4, the 7 decoders the claims need, LSTM continuations unfinished at L
decoded on to L = 1,000) took 72 minutes in v1 (one epoch, one ε); v2 trains 8 models a seed for 2-4 epochs each:
several hours for 5 seeds (run it with --resume over sessions). --decoders and --undertrained_steps add the other
decoders and the under-trained models. --quick is a smoke run of a few minutes. Through tasks.runner: the held-out sentences are fixed (each is
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
    def r_long(y, p):  # r at the long limit: nan where the long decoding was not run (Transformer)
        if 'end_at_long' not in p:
            return float('nan')
        return float(np.mean(np.asarray(p['end_at_long']) < 0))

    return {'r_L': lambda y, p: float(1 - np.mean(ended(p))), 'r_long': r_long,
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
    p.add_argument('--epsilons', type=float, nargs='+', default=None,
                   help='self-terminating epsilons, one model each (default 1e-2 1e-3 1e-4; quick 1e-2)')
    p.add_argument('--max_epochs', type=int, default=None,
                   help='LMs train epoch by epoch (TRAIN_STEPS batches each) until the validation perplexity stops '
                   'improving, at most this many epochs (default 4; quick 2); the best epoch is kept')
    p.add_argument('--long_L', type=int, default=None,
                   help='continuations still unfinished at L are decoded on to this length (default 1000; quick '
                   '2 L; LSTM models: the Transformer\'s learned positions end near the training length; 0: skip)')
    p.add_argument('--undertrained_steps', type=int, default=0,
                   help='also decode softmax models trained only this many steps (0: skip), to show where '
                        'non-termination appears when the trained models terminate')
    args = p.parse_args(argv)
    ctx = experiment.start(args)
    L = args.max_steps
    epsilons = args.epsilons or ([1e-2] if args.quick else [1e-2, 1e-3, 1e-4])
    max_epochs = args.max_epochs or (2 if args.quick else 4)
    long_L = args.long_L if args.long_L is not None else (2 * L if args.quick else 1000)
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
    # v2: validation sentences (the plateau of training) carved from the pool, out of every training draw
    cut = np.random.RandomState(args.seed + 7).permutation(len(pool))
    n_valid = 60 if args.quick else 400
    valid_sents = [pool[i] for i in cut[:n_valid]]
    pool = [pool[i] for i in sorted(cut[n_valid:])]
    width = min(96, max_chars + 1)  # "sentence [SEP]": at most one token per character, plus [SEP]

    def pad(rows):
        x = np.zeros((len(rows), width), 'int32')
        for i, r in enumerate(rows):
            x[i, :min(len(r), width)] = r[:width]
        return x

    encode = lambda s: tokenizer.encode(s, maxlen=96)[0][1:]  # noqa: E731  "sentence [SEP]"
    held = pad([encode(s) for s in held_sents])
    valid = pad([encode(s) for s in valid_sents])
    prefixes = [encode(s)[:10] for s in held_sents]

    def data(seed):
        order = np.random.RandomState(seed).permutation(len(pool))[:steps * 32]
        return runner.Split(pad([encode(pool[i]) for i in order]), valid, {'prefixes': prefixes, 'held': held}, None,
                            info={'train': int(len(order)), 'valid': len(valid_sents), 'held-out': len(prefixes)})

    config = dict(vocab_size=tokenizer._vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=512, hidden_act='gelu', max_position_embeddings=max(width, 10 + L) + 8)

    def perplexity_of(model, as_inputs, h):
        """Per-sentence log-prob sums and token counts of the padded sentences ``h`` (teacher forced)."""
        targets = h[:, 1:]  # every position scored, then the padding zeroed: per-sentence sums
        picked = teacher_forced_log_probs(model, as_inputs(h[:, :-1]), targets, np.ones_like(targets))
        picked = picked.reshape(targets.shape) * (targets > 0)
        return {'log_prob': picked.sum(1), 'tokens': (targets > 0).sum(1)}

    def ppl(scored):
        return float(np.exp(-np.sum(scored['log_prob']) / np.sum(scored['tokens'])))

    def lm_arm(arch, st, short=None, epsilon=None):
        def run(data, seed):
            x = data.train
            if arch == 'transformer':
                tr, model = build_transformer_lm(config, st, end, epsilon)
                as_inputs = lambda a: [a, np.zeros_like(a)]  # noqa: E731
                backend = CachedLM(tr, 'lm', head=model.get_layer('ST-Head') if st else None)
            else:
                model = build_lstm_lm(tokenizer._vocab_size, 128, 256, st, end, epsilon)
                as_inputs = lambda a: a  # noqa: E731
                backend = RecurrentLM(model)
            model.compile(tf.keras.optimizers.Adam(1e-3), NextTokenNLL())
            clf.build_before_fit(model, None)  # one trace of the train step
            n = short * 32 if short else len(x)
            curve, best = [], None  # v2: train to the plateau of validation perplexity, keep the best epoch
            for epoch in range(1 if short else max_epochs):
                model.fit(as_inputs(x[:n, :-1]), x[:n, 1:], sample_weight=(x[:n, 1:] > 0).astype('float32'),
                          batch_size=32, epochs=1, verbose=2)
                curve.append(ppl(perplexity_of(model, as_inputs, data.valid)))
                if best is None or curve[-1] < best[0]:
                    best = (curve[-1], model.get_weights(), epoch + 1)
                elif not short:
                    break  # validation perplexity stopped improving
            model.set_weights(best[1])
            scored = perplexity_of(model, as_inputs, data.test['held'])
            dec = Decoder(backend, end, maxlen=L, application='lm')
            long_dec = Decoder(backend, end, maxlen=long_L - L, application='lm') \
                if long_L > L and arch == 'lstm' else None
            h = data.test['held']
            # the reference continuation of each held-out sentence: its tokens after the prefix, up to [SEP]
            reference = np.median([max(1, int((r > 0).sum()) - 10) for r in h])
            views = {}
            for d in decoders:
                seqs = decode(dec, d, data.test['prefixes'], end, seed)
                ends = end_positions(seqs, end)
                pred = dict(scored, end_at=ends, length=[len(s) for s in seqs],
                            repetition=[metrics.repetition(s) for s in seqs])
                if long_dec is not None:  # the unfinished ones decoded on to long_L (few: cheap)
                    open_ = [i for i, e in enumerate(ends) if e < 0]
                    long_end = list(ends)
                    if open_:
                        if d.startswith('beam'):  # a beam search is not a continuation: run it again, longer
                            more = decode(Decoder(backend, end, maxlen=long_L, application='lm'), d,
                                          [data.test['prefixes'][i] for i in open_], end, seed)
                            found = end_positions(more, end)
                        else:  # greedy and sampling continue from what they generated
                            more = decode(long_dec, d, [list(data.test['prefixes'][i]) + list(seqs[i])
                                                        for i in open_], end, seed + 1)
                            found = [L + e if e >= 0 else -1 for e in end_positions(more, end)]
                        for i, e in zip(open_, found):
                            long_end[i] = e
                    pred['end_at_long'] = long_end
                views[d] = {'predictions': pred}
                if st:  # stopping is only evidence if the model does not stop at once
                    ratio = float(np.median([len(s) for s in seqs]) / reference)
                    views[d]['check'] = {'not_too_early': {
                        'value': ratio, 'passed': ratio >= 0.5,
                        'rule': 'median continuation length / median reference continuation length >= 0.5'}}
            for v in views.values():
                v['extra'] = {'valid_perplexity': curve, 'epochs': best[2]}
                v['chosen'] = {'epochs': best[2]}
            return {'views': views}
        return run

    def name_of(arch, st, short=None, epsilon=None):
        name = '%s, %s' % (arch, 'self-terminating ε=%g' % epsilon if st else 'softmax')
        return name + (', %d steps' % short if short else '')

    variants = [(a, False, None, None) for a in archs] + [(a, True, None, e) for a in archs for e in epsilons]
    if args.undertrained_steps:
        variants += [(a, False, args.undertrained_steps, None) for a in archs]
    arms = [runner.Arm(name_of(*v), lm_arm(*v)) for v in variants]
    claims = []
    for arch in archs:
        softmax = name_of(arch, False)
        claims += [runner.CustomClaim('1a', 'r_L > 0: %s, %s' % (softmax, d), positive_ratio('%s/%s' % (softmax, d), L))
                   for d in ('greedy', 'beam-2') if d in decoders]
        for d in [d for d in decoders if d.startswith('consistent') and d[len('consistent '):] in decoders]:
            standard = d[len('consistent '):]
            claims.append(runner.Claim('1b', 'r_L, %s - %s: %s' % (standard, d, softmax), 'r_L',
                                       '%s/%s' % (softmax, standard), '%s/%s' % (softmax, d)))
        for epsilon in epsilons:
            bound = greedy_stop_bound(epsilon)
            st = name_of(arch, True, None, epsilon)
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
        rows = []  # r_L (and r at the long limit) with Wilson intervals, per seed and pooled
        for name in first:
            for key, limit in (('end_at', L), ('end_at_long', long_L)):
                if key not in first[name]['predictions']:
                    continue
                counts = []
                for s in results['seeds']:
                    e = np.asarray(s['results'][name]['predictions'][key])
                    counts.append((int(np.sum((e < 0) | (e >= limit))), len(e)))
                k, n = sum(c for c, _ in counts), sum(t for _, t in counts)
                r, lo, hi = stats.wilson_interval(k, n)
                seeds = '; '.join('%.1f [%.1f, %.1f]' % tuple(100 * v for v in stats.wilson_interval(c, t))
                                  for c, t in counts)
                rows.append([name, limit, '%.1f [%.1f, %.1f] (%d of %d)' % (100 * r, 100 * lo, 100 * hi, k, n), seeds])
        report.table('Non-termination ratio with Wilson 95% intervals (unfinished continuations, %)',
                     ['result', 'L', 'pooled over seeds', 'per seed'], rows)
        reference = [max(1, int((r > 0).sum()) - 10) for r in held]
        rows = [['reference (the held-out sentences after their prefix)', '%.0f' % np.median(reference),
                 '%.0f' % np.percentile(reference, 90), '%d' % max(reference)]]
        for name in first:
            lengths = [x for s in results['seeds'] for x in s['results'][name]['predictions']['length']]
            rows.append([name, '%.0f' % np.median(lengths), '%.0f' % np.percentile(lengths, 90), '%d' % max(lengths)])
        report.table('Continuation length (tokens, end token included; all seeds) against the reference',
                     ['result', 'median', '90th percentile', 'longest'], rows)
        curves = [[a.name, '; '.join(' '.join('%.1f' % v for v in s['results'][a.name + '/' + decoders[0]]['extra']
                                               ['valid_perplexity']) for s in results['seeds'])]
                  for a in arms]
        report.table('Validation perplexity per epoch (training stops when it stops improving; the best epoch is '
                     'kept)', ['model', 'per seed'], curves)
        fig, ax = plt.subplots(figsize=(6.5, 4))
        bins = np.arange(0, L + 2, 2)
        ax.hist(reference, bins=bins, histtype='step', color='k', linewidth=2, label='reference', density=True)
        for name in [n for n in first if n.endswith('/greedy')]:
            ax.hist(first[name]['predictions']['length'], bins=bins, histtype='step', label=name, density=True)
        ax.set_xlabel('continuation length (tokens)')
        ax.legend(fontsize=7)
        report.figure(fig, 'lengths.png', 'Greedy continuation lengths against the reference (seed %d)'
                      % ctx.seeds[0])

    return runner.run(ctx, 'Article 1: non-termination of decoders (People\'s Daily LMs)', data, arms,
                      make_metrics(L), claims, tables=tables, raw_metrics=('perplexity', 'longest'),
                      config={'L': L, 'prefixes': n_prefix, 'train_steps': steps, 'archs': archs,
                              'max_chars': max_chars, 'decoders': decoders, 'epsilons': epsilons,
                              'max_epochs': max_epochs, 'long_L': long_L, 'valid_sentences': n_valid,
                              'undertrained_steps': args.undertrained_steps})


if __name__ == '__main__':
    main()
