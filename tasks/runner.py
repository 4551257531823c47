"""The experiment protocol every task runs through (experiment code, not part of the library).

A task declares four things and calls :func:`run`:

* **data** — ``data(seed) -> Split``: the training and validation sets of that seed (redrawn per seed from the
  pool) and the test set (fixed across seeds: docs/claims.md, "Data draws"); the test labels are held apart in
  ``Split.test_labels`` and never handed to an arm.
* **arms** — :class:`Arm`: a name, ``run(data, seed, **params) -> outcome`` and an optional grid of
  hyper-parameters chosen on validation only (``select``). An outcome is a dict with ``predictions`` (one per test
  item), ``valid`` (validation metrics: what selection reads), optional ``check`` (the arm's mechanism check:
  ``{name: {'value': v, 'passed': bool, 'rule': text}}``), ``chosen`` (a choice the arm made on validation itself)
  and ``extra`` (curves, norms: stored as they are), optional ``curve`` (test predictions after each epoch: the runner
  stores their metrics, not the predictions). An
  arm that yields several results from one training (e.g. the last and the best-validation epoch) returns
  ``{'views': {view: outcome}}``; each view is then a result named ``arm/view``, selected on its own.
* **metrics** — ``{name: fn(test_labels, predictions) -> float}``: every figure is computed by the runner from the
  stored predictions, so results.json alone reproduces it (and item-level bootstraps can resample it).
* **claims** — :class:`Claim` (``better - worse`` on a metric, with a threshold and an optional family corrected by
  Holm) or :class:`CustomClaim` (a rule of its own, e.g. a pooled proportion).

The runner owns the seed loop, building and training every model inside the run's ``tf.distribute`` strategy
scope, validation-only selection, the verdicts (docs/claims.md, "Decision rules, v2"), results.json (format 2:
every per-seed value, every chosen hyper-parameter with the validation and test metrics of every grid point (test
metrics of the points not chosen are reported, never read by selection), every per-item test prediction, a
fingerprint of the data each arm saw) and the summary's tables.
"""
import hashlib
import json
import os
import time

import numpy as np

import bert4keras_ext  # noqa: F401
import tensorflow as tf

from tasks import experiment, stats

FORMAT = 2


class Split:
    """One seed's data. ``train``, ``valid``: whatever the arms need (e.g. ``(x, y)``); ``test``: the test inputs
    (no labels); ``test_labels``: what the metrics compare predictions with (the arms never see it); ``info``: sizes
    and provenance for the report."""

    def __init__(self, train, valid, test, test_labels=None, info=None, arms_see_test_labels=False):
        self.train, self.valid, self.test = train, valid, test
        self.test_labels = test_labels
        self.info = dict(info or {})
        self.arms_see_test_labels = arms_see_test_labels


class ArmData:
    """What an arm receives: the seed's ``train``, ``valid`` and the test inputs. ``test_labels`` only when the
    task's measurement needs them inside the arm (``Split(arms_see_test_labels=True)``: an FGSM attack takes its
    direction from the label's loss); selection still reads validation metrics only (the protocol tests shuffle
    the test labels and check that every choice stays)."""

    __slots__ = ('train', 'valid', 'test', 'info', 'test_labels')

    def __init__(self, split):
        self.train, self.valid, self.test, self.info = split.train, split.valid, split.test, split.info
        if split.arms_see_test_labels:
            self.test_labels = split.test_labels


class Arm:
    """One arm of a comparison.

    Args:
        name: the arm's name in tables, claims and results.json.
        run: ``run(data, seed, **params) -> outcome`` (see the module docstring); ``data`` is an :class:`ArmData`.
        grid: hyper-parameter settings to try (a list of dicts); default one empty setting.
        select: ``(validation metric, 'max' | 'min')``: how the grid is decided (needed when it has several points).
        metrics: this arm's own metrics (default: the task's), for a task with several experiments.
        part: the key of ``Split.test`` / ``Split.test_labels`` this arm is scored on, for a task with several
            experiments (each a dict keyed by part); default the whole of them.
    """

    def __init__(self, name, run, grid=None, select=None, metrics=None, part=None):
        self.name, self.run, self.metrics, self.part = name, run, metrics, part
        self.grid = list(grid) if grid else [{}]
        if len(self.grid) > 1 and select is None:
            raise ValueError('arm %r has a grid of %d settings but no select=(validation metric, max|min)'
                             % (name, len(self.grid)))
        if select is not None and select[1] not in ('max', 'min'):
            raise ValueError('select of arm %r: direction must be max or min, got %r' % (name, select[1]))
        self.select = select


class Claim:
    """``better - worse`` on ``metric`` over seeds (both are result names: ``arm`` or ``arm/view``).

    Args:
        claim_id, text: as in docs/claims.md.
        metric: a key of the task's metrics.
        better, worse: the two results compared, paired by seed.
        threshold: the claim holds when the interval lies above it.
        family: claims of one family are decided together with Holm's correction.
        judge: False for a comparison without a claimed direction ('reported').
        scale, unit: how the difference is printed (points by default).
        bootstrap: decide on the hierarchical bootstrap over seeds and test items (else the paired t interval).
    """

    def __init__(self, claim_id, text, metric, better, worse, threshold=0.0, family=None, judge=True, scale=100.0,
                 unit='points', bootstrap=True):
        self.id, self.text, self.metric, self.better, self.worse = claim_id, text, metric, better, worse
        self.threshold, self.family, self.judge = threshold, family, judge
        self.scale, self.unit, self.bootstrap = scale, unit, bootstrap


class CustomClaim:
    """A claim with its own rule: ``decide(results) -> (interval text, verdict)`` on the run's results (format 2)."""

    def __init__(self, claim_id, text, decide, requires=()):
        self.id, self.text, self.decide, self.requires = claim_id, text, decide, tuple(requires)


def fingerprint(obj):
    """A short hash of nested arrays / lists / tuples / dicts / scalars (what data an arm was given)."""
    h = hashlib.sha1()

    def feed(o):
        if isinstance(o, np.ndarray):
            h.update(str(o.dtype).encode() + str(o.shape).encode())
            h.update(np.ascontiguousarray(o).tobytes())
        elif isinstance(o, dict):
            for k in sorted(o, key=str):
                h.update(str(k).encode())
                feed(o[k])
        elif isinstance(o, (list, tuple)):
            h.update(b'[%d' % len(o))
            for v in o:
                feed(v)
        else:
            h.update(repr(o).encode())

    feed(obj)
    return h.hexdigest()[:16]


def _views(outcome):
    if not isinstance(outcome, dict) or 'predictions' not in outcome and 'views' not in outcome:
        raise TypeError('an arm must return a dict with predictions (or views): got %r' % type(outcome).__name__)
    return outcome['views'] if 'views' in outcome else {None: outcome}


def _better(a, b, direction):
    return a > b if direction == 'max' else a < b


def _plain(x):
    """JSON-able copy (arrays to lists, floats rounded to 6 significant digits to keep files small)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        if x.dtype.kind == 'f':
            return _plain(x.tolist())
        return x.tolist()
    if isinstance(x, (np.floating, float)):
        return float('%.6g' % x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def score(metrics, labels, predictions):
    return {name: float(fn(labels, predictions)) for name, fn in metrics.items()}


def _at_edge(grid, chosen):
    """True when a grid of >= 3 settings of one numeric hyper-parameter chose its smallest or largest value: the
    validation optimum may lie outside the grid (reported beside the choice)."""
    keys = {k for g in grid for k in g}
    if len(grid) < 3 or len(keys) != 1:
        return False
    key = keys.pop()
    values = sorted(g[key] for g in grid)
    return chosen.get(key) in (values[0], values[-1])


def _labels(labels, part):
    return labels if part is None else labels[part]


def run_seed(ctx, seed, split, arms, metrics, log=print, checkpoint=None):
    """Every arm (every grid point) on one seed's split; returns ``{result name: record}``. With a
    :class:`Checkpoint`, each grid point's outcome is stored when it finishes and one stored by an interrupted
    session is reused (every grid point starts from ``ctx.seed(seed)``, so skipping one changes no other)."""
    seen = _seen(split)
    records = {}
    for arm in arms:
        data = ArmData(split)
        if arm.part is not None:
            data.test = split.test[arm.part]
            if split.arms_see_test_labels:
                data.test_labels = split.test_labels[arm.part]
        labels, fns = _labels(split.test_labels, arm.part), arm.metrics or metrics
        tried = []
        for params in arm.grid:
            stored = checkpoint.grid_point(seed, split, arm.name, params) if checkpoint is not None else None
            if stored is not None:
                tried.append((params,) + stored)
                continue
            ctx.seed(seed)
            before = fingerprint(split.train)
            started = time.perf_counter()
            with ctx.strategy.scope():
                outcome = arm.run(data, seed, **params)
            seconds = time.perf_counter() - started
            if fingerprint(split.train) != before:
                raise RuntimeError('arm %r changed the training data in place: arms of a seed must see the same '
                                   'data' % arm.name)
            tried.append((params, _views(outcome), seconds))
            if checkpoint is not None:
                checkpoint.save_grid_point(seed, split, arm.name, params, tried[-1][1], seconds)
        for view in tried[0][1]:
            name = arm.name if view is None else '%s/%s' % (arm.name, view)
            best = tried[0]
            if arm.select is not None:
                key, direction = arm.select
                for cand in tried[1:]:
                    if _better(cand[1][view]['valid'][key], best[1][view]['valid'][key], direction):
                        best = cand
            params, views, seconds = best
            out = views[view]
            at_edge = _at_edge(arm.grid, params)
            record = {'params': dict(params), 'chosen': dict(params if len(tried) > 1 else {}, **out.get('chosen', {})),
                      'valid': out.get('valid', {}),
                      'curve': [score(fns, labels, p) for p in out.get('curve', ())],
                      'metrics': score(fns, labels, out['predictions']), 'part': arm.part,
                      'predictions': out['predictions'], 'check': out.get('check', {}),
                      'extra': out.get('extra', {}), 'seconds': round(seconds, 2), 'seen': seen,
                      'grid': [{'params': p, 'valid': v[view].get('valid', {}),
                                'metrics': score(fns, labels, v[view]['predictions'])}
                               for p, v, _ in tried] if len(tried) > 1 else [],
                      'chosen_at_edge': at_edge}
            records[name] = record
            log('seed %d %-34s %s%s' % (seed, name, ' '.join('%s %.4f' % kv for kv in record['metrics'].items()),
                                         ' (chosen %s)' % params if len(tried) > 1 else ''))
    return records


class Checkpoint:
    """``checkpoint.json`` in the run's output directory: every finished seed's records, written after each seed,
    and the outcome of every finished grid point of the seed under way, written after each grid point, so that an
    interrupted run continues with ``--resume`` (a full run may outlast a session; so may one seed). Finished seeds
    and grid points are reused only when the package commit and every option except
    ``--seeds``/``--resume``/``--output_dir`` match the run that wrote them, and the seed's data has the same
    fingerprints; anything else is refused rather than mixed."""

    IGNORED = ('resume', 'seeds', 'seed_offset', 'output_dir')

    def __init__(self, ctx, config, log=print):
        self.ctx, self.path, self.log = ctx, ctx.path('checkpoint.json'), log
        self.key = {'format': FORMAT, 'commit': getattr(ctx, 'commit', None), 'config': config,
                    'args': _plain({k: v for k, v in sorted(vars(ctx.args).items()) if k not in self.IGNORED})}
        self.done, self.resumed, self.partial = {}, [], {}
        if getattr(ctx.args, 'resume', False) and os.path.exists(self.path):
            with open(self.path, encoding='utf-8') as f:
                saved = json.load(f)
            for field in ('format', 'commit', 'config', 'args'):
                if saved['key'][field] != self.key[field]:
                    raise SystemExit('--resume: %s holds a run with another %s (%r, this run %r): start it in a '
                                     'clean output directory, or resume from the checkout and options that wrote it'
                                     % (self.path, field, saved['key'][field], self.key[field]))
            self.done = saved['seeds']
            self.resumed = saved['sessions']
            self.partial = saved.get('partial', {})
            ctx.earlier_seconds = sum(s['seconds'] for s in self.resumed)
            points = sum(len(p['points']) for p in self.partial.values())
            log('--resume: seeds %s finished earlier (%s)%s' % (
                ', '.join(sorted(self.done, key=int)) or 'none', self.path,
                '; %d grid point(s) of an unfinished seed kept' % points if points else ''))
        self.session = {'seeds': [], 'seconds': 0.0}
        self.started = time.time()

    def finished(self, seed, split):
        """The stored records of ``seed`` if an earlier session finished it (on the same data), else None."""
        saved = self.done.get(str(seed))
        if saved is None:
            return None
        if saved['seen'] != _seen(split):
            raise SystemExit('--resume: seed %d of %s was run on other data (fingerprints %r, now %r)'
                             % (seed, self.path, saved['seen'], _seen(split)))
        return saved['records']

    @staticmethod
    def _point_key(arm_name, params):
        return json.dumps([arm_name, _plain(params)], sort_keys=True)

    def grid_point(self, seed, split, arm_name, params):
        """``(views, seconds)`` of a grid point an interrupted session finished for this seed (on the same data),
        else None."""
        saved = self.partial.get(str(seed))
        point = saved and saved['points'].get(self._point_key(arm_name, params))
        if not point:
            return None
        if saved['seen'] != _seen(split):
            raise SystemExit('--resume: seed %d of %s was run on other data (fingerprints %r, now %r)'
                             % (seed, self.path, saved['seen'], _seen(split)))
        return {view: out for view, out in point['views']}, point['seconds']

    def save_grid_point(self, seed, split, arm_name, params, views, seconds):
        saved = self.partial.setdefault(str(seed), {'seen': _seen(split), 'points': {}})
        saved['points'][self._point_key(arm_name, params)] = {'views': _plain([[v, out] for v, out in views.items()]),
                                                              'seconds': round(seconds, 2)}
        self._write()

    def save(self, seed, split, records, seconds):
        self.done[str(seed)] = {'seen': _seen(split), 'records': _plain(records), 'seconds': round(seconds, 1)}
        self.partial.pop(str(seed), None)
        self.session['seeds'].append(seed)
        self._write()

    def _write(self):
        self.session['seconds'] = round(time.time() - self.started, 1)
        if not getattr(self.ctx, 'is_chief', True):
            return
        _write_json(self.path, {'key': self.key, 'seeds': self.done, 'sessions': self.resumed + [self.session],
                                'partial': self.partial})


def merge_checkpoints(target, sources, ignore=(), log=print):
    """Add the finished seeds of other output directories' checkpoints to ``target``'s: one full run split over
    processes (or machines) by seed, e.g. ``--seed_offset 1 --seeds 1`` and ``--seed_offset 2 --seeds 1`` beside a
    run that did seed 0, then ``--resume`` from ``target`` with ``--seeds 3`` writes the results of all three without
    running them again (and checks every seed's data fingerprints once more). The checkpoints must agree on the
    format, the package commit, the configuration and every option except ``--seeds``, ``--seed_offset``,
    ``--resume``, ``--output_dir`` and those in ``ignore``; a source whose seeds are partly in ``target`` already, or
    a seed whose data fingerprints differ from the grid points ``target`` holds for it, is refused (a source merged
    before is skipped). Grid points of unfinished seeds in a source are not merged.

    Args:
        target: the output directory whose ``checkpoint.json`` receives the seeds (it must exist).
        sources: output directories of the other processes.
        ignore: options allowed to differ, e.g. ``('seed',)`` for parts started with another base ``--seed`` before
            ``--seed_offset`` existed; only right for a task whose seeds read nothing drawn with the base seed (many
            draw their fixed test set with it: the final ``--resume`` refuses a seed whose data differ).
        log: where the merged seeds are reported.

    Returns:
        The merged seeds' numbers, sorted.

    Example:
        ``python -m tasks.runner merge outputs/v2/flooding outputs/v2/flooding.part2``
    """
    def read(directory):
        path = os.path.join(directory, 'checkpoint.json')
        if not os.path.exists(path):
            raise SystemExit('merge: %s has no checkpoint.json' % directory)
        with open(path, encoding='utf-8') as f:
            return path, json.load(f)

    def comparable(key):
        return dict(key, args={k: v for k, v in key['args'].items() if k not in ignore})

    path, merged = read(target)
    added = []
    for source in sources:
        source_path, saved = read(source)
        for field in ('format', 'commit', 'config', 'args'):
            if comparable(saved['key'])[field] != comparable(merged['key'])[field]:
                raise SystemExit('merge: %s holds a run with another %s (%r; %s: %r)' % (
                    source_path, field, saved['key'][field], path, merged['key'][field]))
        if all(merged['seeds'].get(seed) == record for seed, record in saved['seeds'].items()):
            continue  # merged before (a repeated merge changes nothing)
        for seed, record in saved['seeds'].items():
            if seed in merged['seeds']:
                raise SystemExit('merge: seed %s is in both %s and %s' % (seed, source_path, path))
            held = merged.get('partial', {}).get(seed)
            if held is not None and held['seen'] != record['seen']:
                raise SystemExit('merge: seed %s of %s was run on other data than the grid points %s holds'
                                 % (seed, source_path, path))
            merged['seeds'][seed] = record
            merged.get('partial', {}).pop(seed, None)
            added.append(int(seed))
        name = os.path.basename(os.path.normpath(source))
        merged['sessions'] += [dict(s, merged_from=name) for s in saved['sessions']]
    _write_json(path, merged)
    log('merge: seeds %s added to %s' % (', '.join(map(str, sorted(added))) or 'none', path))
    return sorted(added)


def _write_json(path, obj):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f)
    os.replace(tmp, path)  # a run killed while writing leaves the previous checkpoint whole


def _seen(split):
    return {'train': fingerprint(split.train), 'valid': fingerprint(split.valid), 'test': fingerprint(split.test)}


def failed_checks(results, names):
    """``'<result>: <check> failed in k of n seeds (values; rule)'`` for every mechanism check of the results
    ``names`` that fails in any seed (empty when every check passes)."""
    out = []
    for name in names:
        seen = {}
        for s in results['seeds']:
            for check, c in s['results'].get(name, {}).get('check', {}).items():
                seen.setdefault(check, []).append(c)
        for check, cs in seen.items():
            bad = [c for c in cs if not c.get('passed', True)]
            if bad:
                out.append('%s: %s failed in %d of %d seed(s) (values %s; rule: %s)' % (
                    name, check, len(bad), len(cs), ', '.join(_fmt(c.get('value')) for c in cs),
                    cs[0].get('rule', '')))
    return out


def judge_claims(claims, results, metrics, n_boot=2000, arms=()):
    """Claim rows ``[id, text, interval, verdict]`` by docs/claims.md's v2 rules (``metrics``: the task's;
    ``arms``: for arms with metrics of their own)."""
    own = {arm.name: arm.metrics for arm in arms if arm.metrics}
    rows, family = [], {}
    for i, claim in enumerate(claims):
        if isinstance(claim, CustomClaim):
            failing = failed_checks(results, claim.requires)
            if failing:
                rows.append([claim.id, claim.text, '', 'not tested: ' + '; '.join(failing)])
            else:
                interval, verdict = claim.decide(results)
                rows.append([claim.id, claim.text, interval, verdict])
            continue
        seeds = [s for s in results['seeds'] if claim.better in s['results'] and claim.worse in s['results']]
        if not seeds:
            rows.append([claim.id, claim.text, '', 'not tested: %s or %s was not run' % (claim.better, claim.worse)])
            continue
        a = [s['results'][claim.better]['metrics'][claim.metric] for s in seeds]
        b = [s['results'][claim.worse]['metrics'][claim.metric] for s in seeds]
        m, sd, lo, hi = stats.paired_ci(a, b)
        sc = claim.scale
        t_text = ('%+.2f (1 seed: no t interval)' % (m * sc) if np.isnan(lo)
                  else '%+.2f [%+.2f, %+.2f]' % (m * sc, lo * sc, hi * sc) + (' (no spread)' if sd == 0 else ''))
        if claim.bootstrap:
            part = seeds[0]['results'][claim.better].get('part')
            labels = [_labels(results['test_labels'][str(s['seed'])] if results.get('labels_per_seed')
                              else results['test_labels'], part) for s in seeds]
            fn = own.get(claim.better.split('/')[0], metrics)[claim.metric]
            _, blo, bhi = stats.hierarchical_bootstrap(fn, labels,
                                                [s['results'][claim.better]['predictions'] for s in seeds],
                                                [s['results'][claim.worse]['predictions'] for s in seeds],
                                                n=n_boot)
            text = '%+.2f [%+.2f, %+.2f]%s (seeds x items); t over %d seed(s): %s' % (
                m * sc, blo * sc, bhi * sc, ' ' + claim.unit if claim.unit else '', len(seeds), t_text)
            decision = stats.verdict(blo, bhi, claim.threshold)
        else:
            text = '%s%s over %d seed(s)' % (t_text, ' ' + claim.unit if claim.unit else '', len(seeds))
            decision = ('inconclusive at this scale' if np.isnan(lo) or sd == 0
                        else stats.verdict(lo, hi, claim.threshold))
        failing = failed_checks(results, [claim.better, claim.worse])
        if failing:
            decision = 'not tested: ' + '; '.join(failing)
        elif not claim.judge:
            decision = 'reported'
        elif claim.family is not None:
            family.setdefault(claim.family, []).append((i, stats.paired_t_p_value(a, b, claim.threshold),
                                                        m > claim.threshold))
        rows.append([claim.id, claim.text, text, decision])
    for name, members in family.items():  # Holm over the family's paired t p-values (docs/claims.md)
        ps = [p for _, p, _ in members]
        if any(np.isnan(p) for p in ps):
            for i, _, _ in members:
                rows[i][3] = 'inconclusive at this scale'
                rows[i][2] += '; family %s: < 2 seeds, no Holm test' % name
            continue
        for (i, p, above), (adj, rejected) in zip(members, stats.holm(ps)):
            if not rejected:
                rows[i][3] = 'inconclusive at this scale'
            else:
                rows[i][3] = 'holds' if above else 'does not hold'
            rows[i][2] += '; Holm-adjusted p %.3g (family %s, %d comparisons)' % (adj, name, len(members))
    return rows


def run(ctx, title, data, arms, metrics, claims=(), tables=None, config=None, n_boot=None, log=None,
        raw_metrics=('loss',)):
    """Run a task's protocol and write its report.

    Args:
        ctx: from :func:`tasks.experiment.start` (seeds, strategy, output directory).
        title: the report's title.
        data: ``data(seed) -> Split``.
        arms: a list of :class:`Arm`.
        metrics: ``{name: fn(test_labels, predictions) -> float}``.
        claims: :class:`Claim` / :class:`CustomClaim` objects.
        tables: ``tables(report, results)``: the task's own tables and plots, added after the main table.
        config: the task's resolved configuration (sizes, epochs, grids), stored in results.json.
        n_boot: bootstrap replicates of each claim (default 2,000; 300 with --quick).
        raw_metrics: metrics printed as they are (the others in percent).

    Returns:
        The results (the dict written to results.json).
    """
    log = log or (lambda line: print(line, flush=True))
    if ctx.args.strategy != 'default' and not tf.distribute.has_strategy():
        raise RuntimeError('--strategy %s: the run is not inside the strategy scope' % ctx.args.strategy)
    results = {'format': FORMAT, 'config': _plain(config or {}), 'seeds': [], 'data': {}}
    checkpoint = Checkpoint(ctx, results['config'], log)
    labels, labels_per_seed = {}, False
    for seed in ctx.seeds:
        ctx.seed(seed)
        split = data(seed)
        labels[str(seed)] = split.test_labels
        if seed != ctx.seeds[0] and fingerprint(split.test_labels) != fingerprint(labels[str(ctx.seeds[0])]):
            labels_per_seed = True
        results['data'][str(seed)] = split.info
        records = checkpoint.finished(seed, split)
        if records is None:
            started = time.time()
            records = run_seed(ctx, seed, split, arms, metrics, log, checkpoint)
            checkpoint.save(seed, split, records, time.time() - started)
        results['seeds'].append({'seed': seed, 'results': records})
    results['sessions'] = checkpoint.resumed + [checkpoint.session]  # more than one when resumed
    results['labels_per_seed'] = labels_per_seed
    results['test_labels'] = labels if labels_per_seed else labels[str(ctx.seeds[0])]
    quick = getattr(ctx.args, 'quick', False)
    rows = judge_claims(list(claims), results, metrics, n_boot=n_boot or (300 if quick else 2000), arms=arms)
    results['claims'] = rows
    report = experiment.Report(ctx, title)
    for key, value in results.items():
        report.add(key, value)
    names = list(results['seeds'][0]['results'])
    info = results['data'][str(ctx.seeds[0])]
    columns = list(dict.fromkeys([m for n in names for m in results['seeds'][0]['results'][n]['metrics']]))
    sizes = (' (%s)' % ', '.join('%s %s' % kv for kv in info.items())) if info else ''
    report.table('Test metrics per arm%s' % sizes,
                 ['arm', 'chosen on validation'] + [m if m in raw_metrics else '%s (%%)' % m for m in columns],
                 [[n, _chosen_text(results, n)] +
                  [experiment.fmt_mean_std(metric_values(results, n, m), **({'scale': 1, 'digits': 3}
                                                                           if m in raw_metrics else {}))
                   if m in results['seeds'][0]['results'][n]['metrics'] else '' for m in columns] for n in names],
                 note='mean ± std over %d seed(s); %s' % (len(ctx.seeds), _draw_note(results)))
    checks = check_rows(results)
    if checks:
        report.table('Mechanism checks (a claim is judged only when the checks of both its arms pass)',
                     ['result', 'check', 'rule', 'values per seed', 'passed'], checks)
    if tables is not None:
        tables(report, results)
    report.table('Claims (docs/claims.md, decision rules v2)', stats.CLAIM_COLUMNS[:2] +
                 ['difference [95% interval]', 'verdict'], rows)
    report.results = _plain(report.results)
    report.write()
    return report.results


def _draw_note(results):
    seen = [next(iter(s['results'].values()))['seen'] for s in results['seeds'] if s['results']]
    if len(seen) < 2:
        return 'one seed.'
    moved = [part for part in ('train', 'valid', 'test') if len({x[part] for x in seen}) > 1]
    return ('%s redrawn per seed; %s fixed.' % (' and '.join(moved) or 'no set',
                                               ' and '.join(p for p in ('train', 'valid', 'test') if p not in moved)
                                               or 'nothing'))


def metric_values(results, name, metric):
    """The per-seed values of ``metric`` for result ``name`` (seeds where it was run)."""
    return [s['results'][name]['metrics'][metric] for s in results['seeds'] if name in s['results']]


def _chosen_text(results, name):
    records = [s['results'][name] for s in results['seeds'] if name in s['results']]
    if not any(r['chosen'] for r in records):
        return ''
    return '; '.join(', '.join('%s=%s' % kv for kv in r['chosen'].items()) +
                     (' (grid edge)' if r.get('chosen_at_edge') else '') for r in records)


def check_rows(results):
    rows = {}
    for s in results['seeds']:
        for name, r in s['results'].items():
            for check, c in r.get('check', {}).items():
                row = rows.setdefault((name, check), [name, check, c.get('rule', ''), [], True])
                row[3].append(c.get('value'))
                row[4] = row[4] and bool(c.get('passed', True))
    return [[n, c, rule, ', '.join(_fmt(v) for v in values), 'yes' if ok else 'NO']
            for (n, c), (_, _, rule, values, ok) in rows.items()]


def _fmt(v):
    return '%.4g' % v if isinstance(v, float) else str(v)


def load(path):
    """A results.json of either format; format-1 files (the v1 runs) are returned as they are, with
    ``format`` set to 1."""
    with open(path, encoding='utf-8') as f:
        results = json.load(f)
    results.setdefault('format', 1)
    return results


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(prog='python -m tasks.runner',
                                     description='Merge the finished seeds of parallel processes of one full run.')
    commands = parser.add_subparsers(dest='command', required=True)
    merge = commands.add_parser('merge', help=merge_checkpoints.__doc__.split('\n')[0])
    merge.add_argument('target', help='output directory receiving the seeds (then --resume from it)')
    merge.add_argument('sources', nargs='+', help='output directories of the other processes')
    merge.add_argument('--ignore', nargs='*', default=[], metavar='OPTION',
                       help='options allowed to differ (e.g. seed: see merge_checkpoints)')
    options = parser.parse_args()
    merge_checkpoints(options.target, options.sources, ignore=tuple(options.ignore))
