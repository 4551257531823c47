"""Generate the README's result sections and docs/claims.md's verdict table from the committed full runs in
results/ (no figure typed by hand).

    python -m tasks.report            # rewrite the parts of README.md and docs/claims.md between their markers
    python -m tasks.report --check    # exit 1 when either differs from what results/ gives

Each article's section is its run's summary.md (tables, plots, command, wall time, package commit), with the
plots' paths made relative to the README. The verdict table lists every claim row of every run (``claims`` in its
results.json; article 5's rows are read off its measures). A missing results file is an error that names it: a
section is never left stale or filled by hand.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = '<!-- results:begin (python -m tasks.report) -->', '<!-- results:end -->'
ARTICLES = [
    ('nontermination', 'Article 1: seq2seq that cannot stop'),
    ('mgs', 'Article 2: MLE-guided parameter search'),
    ('theseus', 'Article 3: BERT-of-Theseus'),
    ('logit_adjustment', 'Article 4: logit adjustment'),
    ('qa_generation', 'Article 5: QA-pair generation'),
    ('qa_extrinsic', 'Article 5: do generated pairs train a better reader? (extrinsic test)'),
    ('flooding', 'Article 6: flooding'),
    ('weissi', 'Article 7: WEISSI vs L2'),
    ('imbalance_losses', 'Article 8: imbalance losses'),
]


VERDICTS = ('<!-- verdicts:begin (python -m tasks.report) -->', '<!-- verdicts:end -->')
CLAIMS_DOC = os.path.join(ROOT, 'docs', 'claims.md')


class MissingResults(Exception):
    pass


def load_results(results_dir, name):
    path = os.path.join(results_dir, name, 'results.json')
    if not os.path.isfile(path):
        raise MissingResults('missing %s: run `python -m tasks.%s --output_dir results/%s` (a full run) and commit '
                             'its outputs' % (os.path.relpath(path, ROOT), name, name))
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def qa_claims(results):
    """Claims 5a-5c of article 5, read off the QA run's measures (docs/claims.md)."""
    free, aware = results['free'], results['answer_aware']
    validity = free['answer_validity']
    ours, stock = results['throughput']['ours_passages_per_s'], results['throughput']['stock_passages_per_s']
    return [['5a', 'generated answers that are passage spans', '%.1f%%' % (100 * validity),
             'holds' if validity == 1.0 else 'does not hold'],
            ['5b', 'answer-aware question ROUGE-L (target >= 0.30); degenerate questions (target <= 2%)',
             '%.3f; %.1f%% (answer-aware) / %.1f%% (free)' % (aware['question_rouge_l'],
                                                             100 * aware['degenerate_share'],
                                                             100 * free['degenerate_share']), 'reported'],
            ['5c', 'passages/s, ours / stock bert4keras (the run\'s own comparison)', '%.1fx' % (ours / stock),
             'reported']]


def theseus_speed_claims(results):
    """Claim 3c (reported, no threshold): examples/s of each successor over the predecessor, same run."""
    speed = results.get('examples_per_second', {})
    base = {k: v for k, v in speed.items() if k.startswith('predecessor')}
    if len(base) != 1:
        return []
    (base_name, base_speed), = base.items()
    return [['3c', 'examples/s, %s / %s (same run)' % (k, base_name), '%.2fx' % (v / base_speed), 'reported']
            for k, v in speed.items() if k.startswith('Theseus')]


def claim_rows(results_dir, articles=ARTICLES):
    """``[article title, claim, comparison, interval, verdict]`` of every run."""
    rows = []
    for name, title in articles:
        results = load_results(results_dir, name)
        claims = qa_claims(results) if name == 'qa_generation' else results.get('claims')
        if not claims:
            raise MissingResults('results/%s/results.json has no claims: re-run the task' % name)
        if name == 'theseus':
            claims = list(claims) + theseus_speed_claims(results)
        rows += [[title] + list(c) for c in claims]
    return rows


def verdict_table(results_dir, articles=ARTICLES):
    rows = claim_rows(results_dir, articles)
    counts = {v: sum(r[-1] == v for r in rows) for v in ('holds', 'does not hold', 'inconclusive at this scale',
                                                          'reported')}
    lines = ['| article | claim | comparison | mean difference [95% CI] | verdict |', '|---|---|---|---|---|']
    lines += ['| %s |' % ' | '.join(str(c).replace('|', '/') for c in r) for r in rows]
    lines += ['', 'Verdicts: %s.' % ', '.join('%d %s' % (n, v) for v, n in counts.items())]
    return '\n'.join(lines)


def section(results_dir, name, title):
    """The README section of one article, from ``results_dir/name/{results.json,summary.md}``."""
    folder = os.path.join(results_dir, name)
    results = load_results(results_dir, name)
    summary = os.path.join(folder, 'summary.md')
    if not os.path.isfile(summary):
        raise MissingResults('missing %s: run `python -m tasks.%s --output_dir results/%s` (a full run) and commit '
                             'its outputs' % (os.path.relpath(summary, ROOT), name, name))
    with open(summary, encoding='utf-8') as f:
        body = f.read().strip().split('\n')
    if body and body[0].startswith('## '):
        body = body[1:]  # the README gives its own heading
    rel = os.path.relpath(folder, ROOT)
    text = '\n'.join('#' + line if line.startswith('### ') else line for line in body)  # under the ### heading
    text = re.sub(r'\]\((?!https?://|/)([^)]+\.(?:png|svg))\)', lambda m: '](%s/%s)' % (rel, m.group(1)), text)
    head = '### %s\n\nFrom `%s/` (package commit `%s`, %s s wall time).\n' % (
        title, rel, results.get('commit', 'unknown'), results.get('seconds', '?'))
    return head + '\n' + text.strip() + '\n'


def render(results_dir, articles=ARTICLES):
    return '\n'.join(section(results_dir, name, title) for name, title in articles)


def replace_between_markers(readme, generated, markers=(BEGIN, END), what='README.md'):
    begin, end_marker = markers
    if begin not in readme or end_marker not in readme:
        raise MissingResults('%s has no markers (%s ... %s)' % (what, begin, end_marker))
    start = readme.index(begin) + len(begin)
    end = readme.index(end_marker)
    return readme[:start] + '\n\n' + generated.strip() + '\n\n' + readme[end:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--results_dir', default=os.path.join(ROOT, 'results'), help='where the full runs are')
    p.add_argument('--readme', default=os.path.join(ROOT, 'README.md'), help='the file to update')
    p.add_argument('--claims', default=CLAIMS_DOC, help='the claims document whose verdict table to update')
    p.add_argument('--check', action='store_true', help='only check that both files are up to date')
    args = p.parse_args(argv)
    updates = {}
    try:
        for path, generated, markers in ((args.readme, lambda: render(args.results_dir), (BEGIN, END)),
                                         (args.claims, lambda: verdict_table(args.results_dir), VERDICTS)):
            with open(path, encoding='utf-8') as f:
                old = f.read()
            updates[path] = (old, replace_between_markers(old, generated(), markers, os.path.basename(path)))
    except MissingResults as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    if args.check:
        stale = [os.path.basename(path) for path, (old, new) in updates.items() if old != new]
        if stale:
            print('%s out of date with results/: run python -m tasks.report' % ' and '.join(stale), file=sys.stderr)
            return 1
        return 0
    for path, (_, new) in updates.items():  # written only when every part could be generated
        with open(path, 'w', encoding='utf-8') as f:
            f.write(new)
    print('README.md: %d article sections, docs/claims.md: verdict table, from %s'
          % (len(ARTICLES), os.path.relpath(args.results_dir, ROOT)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
