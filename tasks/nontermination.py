"""Article 1 (kexue.fm/archives/7500): seq2seq that "cannot stop" — the non-termination ratio r_L of decoders on a
Transformer LM and an LSTM LM, each with the standard softmax and with the self-terminating head (Welleck et al.
2020), trained on People's Daily sentences (char tokens, end token [SEP]); 10-token prefixes of held-out sentences
are continued up to L steps.

The full run (defaults: 3 seeds, L = 100 as docs/claims.md fixes it, 300 prefixes, one epoch over up to 4,000
batches of training sentences, both architectures, the 7 decoders the claims need) takes about 50 minutes on 2 CPU
cores (an LM epoch is most of it); --decoders and --undertrained_steps add the other decoders and the under-trained
models. --quick is a smoke run of a few minutes.
"""
import bert4keras_ext  # noqa: F401
import numpy as np
import tensorflow as tf

from bert4keras_ext import classification as clf, metrics
from tasks import experiment, stats
from bert4keras_ext.data import corpora, train_valid_test_split
from bert4keras_ext.decoding import CachedLM, Decoder, RecurrentLM, TopK, TopP
from bert4keras_ext.layers.termination import greedy_stop_bound
from bert4keras_ext.language_models import (NextTokenNLL, build_lstm_lm, build_transformer_lm,
                                            teacher_forced_log_probs)

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


def claim_rows(table, extra, models, decoders, bound):
    """Claims 1a-1d from ``table[(model, decoder)] = [(r_L, repetition, longest output) per seed]``."""
    rows = []
    for m in [m for m in models if 'softmax' in m and 'steps' not in m]:
        for d in [d for d in ('greedy', 'beam-2') if d in decoders]:
            mean, _, lo, hi = stats.mean_ci([r[0] for r in table[(m, d)]])
            interval = ('%.1f%% [%.1f, %.1f]' % (100 * mean, 100 * lo, 100 * hi) if not np.isnan(lo)
                        else '%.1f%% (1 seed)' % (100 * mean))
            rows.append(['1a', 'r_L > 0: %s, %s' % (m, d), interval,
                         'inconclusive at this scale' if np.isnan(lo) else stats.verdict(lo, hi)])
        for d in [d for d in decoders if d.startswith('consistent')]:
            standard = d[len('consistent '):]
            if standard not in decoders:
                continue
            row = stats.claim_row('1b', 'r_L, %s - %s: %s (largest consistent r_L %.1f%%)'
                                  % (standard, d, m, 100 * max(r[0] for r in table[(m, d)])),
                                  [r[0] for r in table[(m, standard)]], [r[0] for r in table[(m, d)]])
            rows.append(row)
    for m in [m for m in models if 'self-terminating' in m]:
        worst = max(r[0] for d in decoders for r in table[(m, d)])
        longest = max(r[2] for r in table[(m, 'greedy')]) if 'greedy' in decoders else 0
        rows.append(['1c', 'r_L = 0 for every decoder and seed, greedy within %d steps: %s' % (bound, m),
                     'largest r_L %.1f%%, longest greedy output %d tokens' % (100 * worst, longest),
                     'holds' if worst == 0 and longest <= bound else 'does not hold'])
        base = m.split(',')[0] + ', softmax'
        if base in extra:
            st, sm = extra[m]['perplexity'], extra[base]['perplexity']
            row = stats.claim_row('1d', 'held-out perplexity, %s - softmax' % m, st, sm, scale=1.0, unit='',
                                  judge=False)
            rows.append(row)
    return rows


def main(argv=None):
    p = experiment.parser(__doc__, 'nontermination')
    p.add_argument('--max_steps', type=int, default=100, help='L, the length limit (the L of docs/claims.md)')
    p.add_argument('--prefixes', type=int, default=None, help='held-out prefixes (default 300; quick 30)')
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
    undertrained = args.undertrained_steps or 0
    _, _, dict_path = experiment.bert_paths(args)
    tokenizer = clf.tokenizer_for(dict_path)
    end = tokenizer._token_end_id
    sents = [s for line in corpora.peoples_daily_text() for s in corpora.split_sentences(line) if 12 <= len(s) <= max_chars]
    train, _, test = train_valid_test_split(sents, seed=args.seed, valid=0, test=n_prefix + 200)
    encode = lambda s: tokenizer.encode(s, maxlen=96)[0][1:]  # noqa: E731  "sentence [SEP]"
    rows = [encode(s) for s in train[:steps * 32]]
    width = max(map(len, rows))
    x = np.zeros((len(rows), width), 'int32')
    for i, r in enumerate(rows):
        x[i, :len(r)] = r
    weights = (x[:, 1:] > 0).astype('float32')
    held = [encode(s) for s in test[n_prefix:]]
    hx = np.zeros((len(held), width), 'int32')
    for i, r in enumerate(held):
        hx[i, :min(len(r), width)] = r[:width]
    prefixes = [encode(s)[:10] for s in test[:n_prefix]]
    vocab = tokenizer._vocab_size
    config = dict(vocab_size=vocab, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=512, hidden_act='gelu', max_position_embeddings=max(width, 10 + L) + 8)
    table, curves, extra = {}, {}, {}
    variants = [(a, st, None) for a in archs for st in (False, True)]
    if undertrained:
        variants += [(a, False, undertrained) for a in archs]
    for seed, (arch, st, short) in [(s, v) for s in ctx.seeds for v in variants]:
        name = '%s, %s' % (arch, 'self-terminating ε=%g' % args.epsilon if st else 'softmax')
        if short:
            name += ', %d steps' % short
        ctx.seed(seed)
        if arch == 'transformer':
            tr, model = build_transformer_lm(config, st, end, args.epsilon)
            inputs, held_inputs = [x[:, :-1], np.zeros_like(x[:, :-1])], [hx[:, :-1], np.zeros_like(hx[:, :-1])]
            backend = CachedLM(tr, 'lm', head=model.get_layer('ST-Head') if st else None)
        else:
            model = build_lstm_lm(vocab, 128, 256, st, end, args.epsilon)
            inputs, held_inputs = x[:, :-1], hx[:, :-1]
            backend = RecurrentLM(model)
        model.compile(tf.keras.optimizers.Adam(1e-3), NextTokenNLL())
        n = short * 32 if short else len(x)
        fit_inputs = [a[:n] for a in inputs] if isinstance(inputs, list) else inputs[:n]
        model.fit(fit_inputs, x[:n, 1:], sample_weight=weights[:n], batch_size=32, epochs=1, verbose=2)
        lp = teacher_forced_log_probs(model, held_inputs, hx[:, 1:], hx[:, 1:] > 0)
        extra.setdefault(name, {'perplexity': []})['perplexity'].append(metrics.perplexity(lp))
        dec = Decoder(backend, end, maxlen=L, application='lm')
        for d in decoders:
            seqs = decode(dec, d, prefixes, end, seed)
            r = metrics.non_termination_ratio(seqs, end, L)
            rep = float(np.mean([metrics.repetition(s) for s in seqs]))
            longest = max(len(s) for s in seqs)
            table.setdefault((name, d), []).append((r, rep, longest))
            if seed == ctx.seeds[0]:
                curves[(name, d)] = [metrics.non_termination_ratio(seqs, end, l) for l in range(1, L + 1)]
            print('seed %d %-40s %-24s r_L %.3f repetition %.3f' % (seed, name, d, r, rep), flush=True)
    models = list(extra)
    claims = claim_rows(table, extra, models, decoders, greedy_stop_bound(args.epsilon))
    report = experiment.Report(ctx, 'Article 1: non-termination of decoders (People\'s Daily LMs)')
    report.add('r_L', {'%s | %s' % k: [r[0] for r in v] for k, v in table.items()})
    report.add('repetition', {'%s | %s' % k: [r[1] for r in v] for k, v in table.items()})
    report.add('perplexity', extra)
    report.add('claims', claims)
    report.table('r_L (%%) with L = %d, %d held-out 10-token prefixes; %d training sentences of 12-%d chars, 1 epoch'
                 % (L, n_prefix, len(x), max_chars), ['decoder'] + models,
                 [[d] + [experiment.fmt_mean_std([r[0] for r in table[(m, d)]], digits=1) for m in models]
                  for d in decoders],
                 note='mean ± std over %d seed(s). Perplexity on %d held-out sentences: %s. Repetition (share of '
                      'repeated 4-grams) is in results.json.'
                      % (len(ctx.seeds), len(held), '; '.join('%s %.1f' % (m, np.mean(extra[m]['perplexity']))
                                                               for m in models)))
    report.table('Claims (docs/claims.md) over %d seed(s)' % len(ctx.seeds), stats.CLAIM_COLUMNS, claims)
    plt = experiment.plt()
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), sharey=True)
    for ax, m in zip(axes, models):
        for d in [d for d in ('greedy', 'beam-2', 'top-k 2', 'consistent top-k 2', 'nucleus 0.4') if d in decoders]:
            ax.plot(range(1, L + 1), curves[(m, d)], label=d)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel('L')
    axes[0].set_ylabel('non-termination ratio r_L')
    axes[-1].legend(fontsize=7)
    report.figure(fig, 'r_vs_L.png', 'Non-termination ratio against the length limit L')
    report.write()


if __name__ == '__main__':
    main()
