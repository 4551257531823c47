"""The main job: run every task script that exists in --quick mode and write one report.

    python -m tasks.run_all [--output_dir outputs/run_all] [--full] [--jobs 2]

Two tasks run at once by default (each task's output goes to <output_dir>/<task>/log.txt; about 5 minutes on 2
cores of an AVX-512 machine). The default checkpoint is the Chinese BERT shipped with the package (nothing is pretrained). --quick runs are smoke
runs: one seed, small data; the evidence for each article's claims is the full runs committed in results/ (see
docs/claims.md; `bash scripts/full_runs.sh` makes them).
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import time

# (article, module) in article order; modules that do not exist yet are listed as missing in the report.
TASKS = [
    ('1', 'tasks.nontermination'),
    ('2', 'tasks.mgs'),
    ('3', 'tasks.theseus'),
    ('4', 'tasks.logit_adjustment'),
    ('5', 'tasks.qa_generation'),
    ('6', 'tasks.flooding'),
    ('7', 'tasks.weissi'),
    ('8', 'tasks.imbalance_losses'),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--output_dir', default=os.path.join('outputs', 'run_all'))
    p.add_argument('--full', action='store_true', help='run the full experiments instead of --quick (hours)')
    p.add_argument('--only', nargs='*', default=None, help='article numbers to run (default: all)')
    p.add_argument('--jobs', type=int, default=None,
                   help='tasks run at once (default 2 for the quick runs: on 2 cores one task\'s single-threaded '
                   'tracing overlaps the other\'s training; 1 with --full, whose timings must not share the cores); '
                   'each task\'s output goes to <output_dir>/<task>/log.txt')
    args = p.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.time()

    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.pretraining import default_bert_dir
    pretrain_start = time.time()
    ckpt = default_bert_dir()
    pretrain_seconds = time.time() - pretrain_start

    parts = ['# bert4keras_ext: main job report', '',
             'Produced by `python -m tasks.run_all%s`. Default checkpoint: the Chinese BERT in `%s`.'
             % (' --full' if args.full else '', ckpt), '']
    if not args.full:
        parts += ['**These are smoke runs** (`--quick`: one seed, small data, minutes each): they show that every '
                  'task runs end to end, not whether a claim holds. The evidence is the full runs in `results/` '
                  '(several seeds, 95% intervals, a verdict per claim; see `docs/claims.md`).', '']
    parts += [_pretrain_summary(ckpt), '']
    failures = []
    todo = []
    for article, module in TASKS:
        if args.only and article not in args.only:
            continue
        if importlib.util.find_spec(module) is None:
            parts += ['## Article %s: `%s` not implemented yet' % (article, module), '']
            continue
        out = os.path.join(args.output_dir, module.split('.')[-1])
        cmd = [sys.executable, '-m', module, '--output_dir', out] + ([] if args.full else ['--quick'])
        todo.append((article, module, out, cmd))
    results = run_jobs(todo, args.jobs or (1 if args.full else 2))
    for article, module, out, cmd in todo:
        rc, seconds = results[module]
        summary = os.path.join(out, 'summary.md')
        if rc != 0 or not os.path.isfile(summary):
            failures.append(module)
            parts += ['## Article %s: `%s` FAILED (exit code %d; its output: %s)'
                      % (article, module, rc, os.path.join(out, 'log.txt')), '']
            continue
        with open(summary, encoding='utf-8') as f:
            text = f.read()
        rel = os.path.relpath(out, args.output_dir)
        text = text.replace('](', '](%s/' % rel).replace('](%s/http' % rel, '](http')
        parts += ['# Article %s (%.0f s)' % (article, seconds), '', text, '']
    parts.insert(3, 'Total time: %.0f s (default BERT set-up this run: %.0f s).' % (
        time.time() - start, pretrain_seconds))
    report = os.path.join(args.output_dir, 'report.md')
    with open(report, 'w', encoding='utf-8') as f:
        f.write('\n'.join(parts))
    print('\nreport: %s' % report)
    if failures:
        print('failed: %s' % ', '.join(failures), file=sys.stderr)
        sys.exit(1)


def run_jobs(todo, jobs):
    """Run the commands ``todo`` ((article, module, out, cmd) each), ``jobs`` at a time, each writing its output to
    ``out/log.txt``; prints a line as each starts and ends. Returns ``{module: (exit code, seconds)}``."""
    pending, running, results = list(todo), {}, {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            article, module, out, cmd = pending.pop(0)
            os.makedirs(out, exist_ok=True)
            log = open(os.path.join(out, 'log.txt'), 'w')
            print('=== article %s: %s (log: %s)' % (article, ' '.join(cmd[1:]), log.name), flush=True)
            running[module] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, time.time())
        for module, (proc, log, started) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                results[module] = (proc.returncode, time.time() - started)
                print('    %s: exit code %d after %.0f s' % (module, proc.returncode, results[module][1]),
                      flush=True)
                del running[module]
        time.sleep(0.5)
    return results


def _pretrain_summary(ckpt):
    import json
    path = os.path.join(ckpt, 'pretrain_report.json')
    if not os.path.isfile(path):
        return ''
    with open(path, encoding='utf-8') as f:
        r = json.load(f)
    c, s = r['config'], r['settings']
    ood = ('; on the CMRC2018 trial passages (outside the corpus) **%.3f**' % r['ood_mlm_acc']
           if 'ood_mlm_acc' in r else '')
    return ('## Tiny Chinese BERT\n\n%d layers, hidden %d, vocab %d chars; MLM pretraining %d steps x %d x %d tokens '
            '(%.1f CPU-hours); held-out masked-token accuracy **%.3f** (loss %.3f; always predicting the most '
            'frequent character: %.3f)%s.'
            % (c['num_hidden_layers'], c['hidden_size'], r['vocab_size'], r['steps_done'], s['batch_size'],
               s['maxlen'], r['cpu_hours'], r['heldout_mlm_acc'], r['heldout_mlm_loss'], r['heldout_unigram_acc'],
               ood))

if __name__ == '__main__':
    main()
