"""Generate the README's result sections from the committed full runs in results/ (no figure typed by hand).

    python -m tasks.report            # rewrite the part of README.md between the results markers
    python -m tasks.report --check    # exit 1 when README.md differs from what results/ gives

Each article's section is its run's summary.md (tables, plots, command, wall time, package commit), with the
plots' paths made relative to the README. A missing results file is an error that names it: a section is never
left stale or filled by hand.
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
    ('flooding', 'Article 6: flooding'),
    ('weissi', 'Article 7: WEISSI vs L2'),
    ('imbalance_losses', 'Article 8: imbalance losses'),
]


class MissingResults(Exception):
    pass


def section(results_dir, name, title):
    """The README section of one article, from ``results_dir/name/{results.json,summary.md}``."""
    folder = os.path.join(results_dir, name)
    paths = {f: os.path.join(folder, f) for f in ('results.json', 'summary.md')}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise MissingResults('missing %s: run `python -m tasks.%s --output_dir results/%s` (a full run) and commit '
                             'its outputs' % (', '.join(os.path.relpath(p, ROOT) for p in missing), name, name))
    with open(paths['results.json'], encoding='utf-8') as f:
        results = json.load(f)
    with open(paths['summary.md'], encoding='utf-8') as f:
        body = f.read().strip().split('\n')
    if body and body[0].startswith('## '):
        body = body[1:]  # the README gives its own heading
    rel = os.path.relpath(folder, ROOT)
    text = '\n'.join(body)
    text = re.sub(r'\]\((?!https?://|/)([^)]+\.(?:png|svg))\)', lambda m: '](%s/%s)' % (rel, m.group(1)), text)
    head = '### %s\n\nFrom `%s/` (package commit `%s`, %s s wall time).\n' % (
        title, rel, results.get('commit', 'unknown'), results.get('seconds', '?'))
    return head + '\n' + text.strip() + '\n'


def render(results_dir, articles=ARTICLES):
    return '\n'.join(section(results_dir, name, title) for name, title in articles)


def replace_between_markers(readme, generated):
    if BEGIN not in readme or END not in readme:
        raise MissingResults('README.md has no results markers (%s ... %s)' % (BEGIN, END))
    start = readme.index(BEGIN) + len(BEGIN)
    end = readme.index(END)
    return readme[:start] + '\n\n' + generated.strip() + '\n\n' + readme[end:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--results_dir', default=os.path.join(ROOT, 'results'), help='where the full runs are')
    p.add_argument('--readme', default=os.path.join(ROOT, 'README.md'), help='the file to update')
    p.add_argument('--check', action='store_true', help='only check that the README is up to date')
    args = p.parse_args(argv)
    try:
        generated = render(args.results_dir)
        with open(args.readme, encoding='utf-8') as f:
            readme = f.read()
        updated = replace_between_markers(readme, generated)
    except MissingResults as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    if args.check:
        if updated != readme:
            print('README.md is out of date with results/: run python -m tasks.report', file=sys.stderr)
            return 1
        return 0
    with open(args.readme, 'w', encoding='utf-8') as f:
        f.write(updated)
    print('README.md: %d article sections from %s' % (len(ARTICLES), os.path.relpath(args.results_dir, ROOT)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
