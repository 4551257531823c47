"""Conventions shared by every task script (``python -m tasks.<name>``); experiment code, not part of the library.

* :func:`parser` — the common options: ``--quick``, ``--seed``/``--seeds``, ``--output_dir``, ``--config_path``,
  ``--checkpoint_path``, ``--dict_path``, ``--strategy``; task scripts add their own.
* :func:`start` — seeds everything, creates the output directory and the ``tf.distribute`` strategy.
* :func:`bert_paths` — the checkpoint to fine-tune: the user's, or the project's tiny Chinese BERT (pretrained on
  first use).
* :class:`Report` — collects tables, figures and notes; writes ``results.json``, ``summary.md`` and PNG plots.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np

import bert4keras_ext  # noqa: F401  (before TensorFlow resolves tf.keras)
import tensorflow as tf


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout; adds ``(default: X)`` to an option's help unless the help already speaks of
    its default or there is none to show (None, a flag)."""

    def _get_help_string(self, action):
        text = action.help or ''
        if ('default' in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS
                or action.option_strings == [] or isinstance(action, argparse._HelpAction)):
            return text
        return text + ' (default: %(default)s)'


def parser(description, default_output):
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument('--quick', action='store_true', help='small run: minutes on 2 CPU cores')
    p.add_argument('--seed', type=int, default=0, help='base random seed')
    p.add_argument('--seeds', type=int, default=None, help='number of seeds (default: 3, or 1 with --quick)')
    p.add_argument('--seed_offset', type=int, default=0,
                   help='run seeds SEED+SEED_OFFSET ... of the run whose base seed is SEED (which still draws the '
                   'data every seed shares, e.g. the fixed test set): one part of a full run split over processes, '
                   'merged with python -m tasks.runner merge')
    p.add_argument('--output_dir', default=os.path.join('outputs', default_output),
                   help='where results.json, summary.md and the plots go')
    p.add_argument('--checkpoint_dir', default=None,
                   help='a Google-format checkpoint directory (bert_config.json, bert_model.ckpt.*, vocab.txt); '
                   'default: the package\'s default Chinese BERT')
    p.add_argument('--config_path', default=None, help='bert_config.json of a Google-format checkpoint')
    p.add_argument('--checkpoint_path', default=None, help='bert_model.ckpt prefix of that checkpoint')
    p.add_argument('--dict_path', default=None, help='vocab.txt of that checkpoint')
    p.add_argument('--deterministic', action='store_true',
                   help='TensorFlow op determinism: the same seed gives the same numbers on any machine of this '
                   'kind (slower; used for the recorded full runs)')
    p.add_argument('--dropout', type=float, default=0.1,
                   help='dropout before each classifier head (the BERT checkpoint\'s own dropout is in its config)')
    p.add_argument('--resume', action='store_true',
                   help='continue an interrupted run from OUTPUT_DIR/checkpoint.json (written after every seed): its '
                   'finished seeds are kept when the package commit and every option but --seeds match (so a 5-seed '
                   'run can be extended to 10); otherwise the run is refused')
    p.add_argument('--strategy', default='default', choices=['default', 'mirrored', 'multiworker'],
                   help='tf.distribute strategy: every model of the run is built and trained inside its scope '
                   '(multiworker reads TF_CONFIG; only the chief writes the outputs)')
    p.add_argument('--replicas', type=int, default=None,
                   help='with --strategy mirrored on a machine without accelerators: split the CPU into this many '
                   'logical devices (one replica each); default: one replica per accelerator, or 2 on a CPU')
    return p


def split_cpu(n):
    """Expose the CPU as ``n`` logical devices (call before TensorFlow touches a device): lets MirroredStrategy
    run replicas on a CPU-only machine, e.g. to check distributed code paths."""
    cpus = tf.config.list_physical_devices('CPU')
    if tf.config.get_logical_device_configuration(cpus[0]) is not None and \
            len(tf.config.get_logical_device_configuration(cpus[0])) == n:
        return tf.config.list_logical_devices('CPU')
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as exc:  # the devices were initialised already
        raise SystemExit('cannot split the CPU into %d logical devices now (%s): start a new process' % (n, exc))
    return tf.config.list_logical_devices('CPU')


_STRATEGIES = {}


def make_strategy(name):
    """The process's one strategy of that kind: two MirroredStrategy objects in one process number their
    collectives from the same start, and their all-reduces then collide ("Shape mismatch in the collective")."""
    if name == 'default':
        return tf.distribute.get_strategy()
    if name not in ('mirrored', 'multiworker'):
        raise ValueError('unknown strategy %r: use default, mirrored or multiworker' % name)
    if name not in _STRATEGIES:
        _STRATEGIES[name] = (tf.distribute.MirroredStrategy() if name == 'mirrored'
                             else tf.distribute.MultiWorkerMirroredStrategy())
    return _STRATEGIES[name]


class Context:
    """What :func:`start` sets up: parsed args, output dir, strategy, seeds, timer."""

    def __init__(self, args):
        self.args = args
        self.output_dir = args.output_dir
        if args.strategy == 'mirrored' and not tf.config.list_physical_devices('GPU'):
            split_cpu(getattr(args, 'replicas', None) or 2)
        self.strategy = make_strategy(args.strategy)
        self._scope = None
        if args.strategy != 'default':  # every model built from here on is distributed, and fit runs on replicas
            self._scope = self.strategy.scope()
            self._scope.__enter__()
        n = args.seeds if args.seeds is not None else (1 if args.quick else 3)
        self.seeds = [args.seed + getattr(args, 'seed_offset', 0) + i for i in range(n)]
        self.started = time.time()
        self.commit = package_commit()  # at the start: the code the run imported, whatever is committed later

    def close(self):
        """Leave the strategy's scope (the end of a run; a process running several tasks calls it between them)."""
        if self._scope is not None:
            self._scope.__exit__(None, None, None)
            self._scope = None

    @property
    def is_chief(self):
        """False on the non-chief workers of a multi-worker run, which do not write the outputs."""
        resolver = getattr(self.strategy, 'cluster_resolver', None)
        if resolver is None or not getattr(resolver, 'task_type', None):
            return True
        return resolver.task_type == 'chief' or (resolver.task_type == 'worker' and resolver.task_id == 0)

    def seed(self, seed):
        """Seed Python, numpy and TensorFlow for one run."""
        tf.keras.utils.set_random_seed(seed)

    def path(self, name):
        return os.path.join(self.output_dir, name)


def start(args):
    if getattr(args, 'deterministic', False):
        tf.config.experimental.enable_op_determinism()
    os.makedirs(args.output_dir, exist_ok=True)
    ctx = Context(args)
    ctx.seed(args.seed)
    return ctx


def bert_paths(args):
    """``(config_path, checkpoint_path, dict_path)``: the user's checkpoint (``--checkpoint_dir``, or the three
    paths), or the package's default Chinese BERT."""
    given = [args.config_path, args.checkpoint_path, args.dict_path]
    directory = getattr(args, 'checkpoint_dir', None)
    if any(given):
        if directory:
            raise SystemExit('give either --checkpoint_dir or the three paths --config_path, --checkpoint_path, '
                             '--dict_path, not both')
        if not all(given):
            raise SystemExit('give all three of --config_path, --checkpoint_path and --dict_path (or '
                             '--checkpoint_dir, or none to use the default Chinese BERT)')
        paths = tuple(given)
    else:
        if directory:
            missing = [f for f in ('bert_config.json', 'vocab.txt') if not os.path.isfile(os.path.join(directory, f))]
            if missing or not glob.glob(os.path.join(directory, '*.index')):
                raise SystemExit('--checkpoint_dir %s lacks %s: expected bert_config.json, bert_model.ckpt.* and '
                                 'vocab.txt' % (directory, ', '.join(missing) or 'a checkpoint (*.index)'))
        else:
            directory = default_bert_dir()
        prefix = os.path.join(directory, 'bert_model.ckpt')
        if not os.path.isfile(prefix + '.index'):
            prefix = glob.glob(os.path.join(directory, '*.index'))[0][:-len('.index')]
        paths = (os.path.join(directory, 'bert_config.json'), prefix, os.path.join(directory, 'vocab.txt'))
    check_maxlen(paths[0], getattr(args, 'maxlen', None))
    return paths


def default_bert_dir():
    """The package's default Chinese BERT directory (shipped, or pretrained once into the cache)."""
    from bert4keras_ext.pretraining import default_bert_dir as default
    return default()


def check_maxlen(config_path, maxlen):
    """Refuse a ``--maxlen`` longer than the checkpoint's position table (bert4keras would fail later with a bare
    shape error)."""
    if maxlen is None:
        return
    if not os.path.isfile(config_path):
        raise SystemExit('--config_path %s does not exist' % config_path)
    with open(config_path, encoding='utf-8') as f:
        positions = json.load(f).get('max_position_embeddings', 512)
    if maxlen > positions:
        raise SystemExit('--maxlen %d is longer than the %d positions of the checkpoint (%s: '
                         'max_position_embeddings): lower --maxlen' % (maxlen, positions, config_path))


def mean_std(values):
    values = np.asarray(values, dtype='float64')
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def fmt_mean_std(values, scale=100.0, digits=2):
    m, s = mean_std(values)
    if len(values) > 1:
        return '%.*f ± %.*f' % (digits, m * scale, digits, s * scale)
    return '%.*f' % (digits, m * scale)


class Report:
    """Results of one task run: ``results.json`` (everything), ``summary.md`` (tables + plots + command)."""

    def __init__(self, ctx, title):
        self.ctx = ctx
        self.title = title
        self.results = {'title': title, 'command': command_line(), 'args': vars(ctx.args)}
        self.sections = []

    def add(self, key, value):
        self.results[key] = value

    def table(self, heading, columns, rows, note=None):
        lines = ['### ' + heading, '', '| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
        lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
        if note:
            lines += ['', note]
        self.sections.append('\n'.join(lines))

    def text(self, paragraph):
        self.sections.append(paragraph)

    def figure(self, fig, name, caption):
        path = self.ctx.path(name)
        if getattr(self.ctx, 'is_chief', True):  # the other workers of a multi-worker run write nothing
            fig.savefig(path, dpi=110, bbox_inches='tight')
        import matplotlib.pyplot as plt
        plt.close(fig)
        self.sections.append('![%s](%s)\n\n*%s*' % (caption, name, caption))
        return path

    def write(self):
        # a resumed run counts the wall time of its earlier sessions too (tasks.runner, --resume)
        self.results['seconds'] = round(time.time() - self.ctx.started + getattr(self.ctx, 'earlier_seconds', 0.0), 1)
        self.results['commit'] = getattr(self.ctx, 'commit', None) or package_commit()
        strategy = getattr(self.ctx, 'strategy', None)
        if strategy is not None:
            self.results['strategy'] = {'name': self.ctx.args.strategy,
                                        'replicas': int(strategy.num_replicas_in_sync),
                                        'in_scope': bool(tf.distribute.has_strategy())}
        if not getattr(self.ctx, 'is_chief', True):  # another worker of a multi-worker run writes them
            self.ctx.close()
            return None
        with open(self.ctx.path('results.json'), 'w', encoding='utf-8') as f:
            json.dump(self.results, f, indent=2, ensure_ascii=False, default=_jsonable)
        md = ['## ' + self.title, '',
              'Command: `%s` (%.0f s wall time), package commit `%s`.' % (self.results['command'],
                                                                         self.results['seconds'],
                                                                         self.results['commit']),
              ''] + [s + '\n' for s in self.sections]
        with open(self.ctx.path('summary.md'), 'w', encoding='utf-8') as f:
            f.write('\n'.join(md))
        print('\n'.join(md))
        if hasattr(self.ctx, 'close'):
            self.ctx.close()  # the run is over: leave the strategy's scope
        return self.ctx.path('summary.md')


def package_commit():
    """The git commit of this checkout (``+dirty`` when tracked files differ from it), or 'unknown'."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return (head + ('+dirty' if dirty else '')) if head else 'unknown'


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def command_line():
    argv = sys.argv[:]
    main = sys.modules.get('__main__')
    spec = getattr(main, '__spec__', None)
    if spec is not None and spec.name:
        return 'python -m %s %s' % (spec.name, ' '.join(argv[1:]))
    return 'python %s' % ' '.join(argv)


def plt():
    """matplotlib.pyplot with the non-interactive backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as pyplot
    return pyplot
