"""Same seed, same numbers? (issue #21, item 5). Runs one small task configuration several times in fresh
processes, with and without TensorFlow op determinism (`--deterministic`), interleaved so that machine noise hits
both alike, and prints: whether the runs of each kind gave identical figures (every number of results.json except
timings), the largest difference between runs, and the wall-time cost of determinism.

    python benchmarks/determinism.py [--task flooding] [--repeats 2] [-- extra task options]

Default configuration: `tasks.flooding --quick --train_size 200 --epochs 2 --flood_levels 0.1` (BERT fine-tuning
with the FloodingModel; a few minutes per run). Cross-machine reproducibility cannot be measured on one machine:
identical runs here are necessary, not sufficient.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OPTIONS = {'flooding': ['--quick', '--train_size', '200', '--epochs', '2', '--flood_levels', '0.1'],
                   'nontermination': ['--quick', '--train_steps', '200', '--prefixes', '40',
                                      '--decoders', 'greedy', 'top-k 2']}
TIMING_KEYS = ('seconds', 'commit', 'command', 'args', 'examples_per_second')


def numbers(tree, prefix=''):
    """``{path: float}`` of every number in a results tree, timings left out."""
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k not in TIMING_KEYS and 'second' not in str(k):
                out.update(numbers(v, '%s/%s' % (prefix, k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(numbers(v, '%s/%d' % (prefix, i)))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        out[prefix] = float(tree)
    return out


def run(task, options, deterministic, out_dir):
    cmd = [sys.executable, '-m', 'tasks.%s' % task, '--output_dir', out_dir] + options
    if deterministic:
        cmd.append('--deterministic')
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(os.path.join(out_dir, 'results.json'), encoding='utf-8') as f:
        return seconds, numbers(json.load(f))


def largest_difference(a, b):
    keys = set(a) | set(b)
    if set(a) != set(b):
        return float('inf'), sorted(set(a) ^ set(b))[:3]
    diffs = sorted(((abs(a[k] - b[k]), k) for k in keys), reverse=True)
    return (diffs[0] if diffs else (0.0, None))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--task', default='flooding', choices=sorted(DEFAULT_OPTIONS))
    p.add_argument('--repeats', type=int, default=2, help='runs of each kind (>= 2 to compare runs)')
    p.add_argument('options', nargs='*', help='task options (after --), replacing the default configuration')
    args = p.parse_args(argv)
    options = args.options or DEFAULT_OPTIONS[args.task]
    runs = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for det in (True, False):
                out = os.path.join(tmp, '%s_%d' % ('det' if det else 'plain', r))
                runs[det].append(run(args.task, options, det, out))
                print('run %d %-13s %.1f s' % (r, 'deterministic' if det else 'default', runs[det][-1][0]),
                      flush=True)
    print('\ntask: python -m tasks.%s %s' % (args.task, ' '.join(options)))
    print('| mode | runs | identical figures | largest difference between runs (key) | mean wall s |')
    print('|---|---|---|---|---|')
    for det in (True, False):
        first = runs[det][0][1]
        diffs = [largest_difference(first, other) for _, other in runs[det][1:]]
        worst = max(diffs, key=lambda d: d[0]) if diffs else (0.0, None)
        same = all(d[0] == 0 for d in diffs)
        print('| %s | %d | %s | %.4g (%s) | %.1f |' % ('deterministic' if det else 'default', len(runs[det]),
                                                       'yes' if same else 'no', worst[0],
                                                       str(worst[1]).replace('|', '/'),
                                                       sum(s for s, _ in runs[det]) / len(runs[det])))
    cost = (sum(s for s, _ in runs[True]) / sum(s for s, _ in runs[False]))
    print('\ndeterminism wall-time cost: %.2fx (same machine, runs interleaved)' % cost)


if __name__ == '__main__':
    main()
