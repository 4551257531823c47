"""tasks.report: README sections generated from results/, failing on a missing results file."""
import json

import pytest

from tasks import report


QA_MEASURES = {'free': {'answer_validity': 1.0, 'degenerate_share': 0.05},
               'answer_aware': {'question_rouge_l': 0.31, 'degenerate_share': 0.06},
               'throughput': {'ours_passages_per_s': 3.0, 'stock_passages_per_s': 0.2}}


def write_run(folder, name, commit='abc123'):
    d = folder / name
    d.mkdir(parents=True)
    results = {'commit': commit, 'seconds': 12.5}
    if name == 'qa_generation':
        results.update(QA_MEASURES)
    else:
        results['claims'] = [['9z', 'x - y in %s' % name, '+1.00 [+0.50, +1.50] points', 'holds']]
    (d / 'results.json').write_text(json.dumps(results), encoding='utf-8')
    (d / 'summary.md').write_text('## Title\n\nCommand: `x`\n\n### Table\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![plot](curve.png)\n',
                                  encoding='utf-8')


def test_sections_name_their_commit_and_fix_plot_paths(tmp_path):
    write_run(tmp_path, 'flooding')
    text = report.section(str(tmp_path), 'flooding', 'Article 6: flooding')
    assert text.startswith('### Article 6: flooding') and 'package commit `abc123`' in text
    assert '| 1 | 2 |' in text and '## Title' not in text
    assert '\n#### Table\n' in text and text.count('\n### ') == 0  # sub-headings under the article's ###
    assert '](' in text and text.count('curve.png') == 1 and 'flooding/curve.png)' in text


def test_missing_results_fail_and_name_the_file(tmp_path, capsys):
    write_run(tmp_path, 'flooding')
    with pytest.raises(report.MissingResults, match=r'missing .*theseus/results.json.*python -m tasks.theseus'):
        report.render(str(tmp_path), [('flooding', 'A6'), ('theseus', 'A3')])
    readme = tmp_path / 'README.md'
    readme.write_text('x\n%s\nold\n%s\ny\n' % (report.BEGIN, report.END), encoding='utf-8')
    assert report.main(['--results_dir', str(tmp_path), '--readme', str(readme),
                        '--claims', str(tmp_path / 'claims.md')]) == 1
    assert 'error: missing' in capsys.readouterr().err
    assert 'old' in readme.read_text(encoding='utf-8')  # nothing half-written


def test_replace_between_markers_and_check(tmp_path, monkeypatch):
    for name, _ in report.ARTICLES:
        write_run(tmp_path, name)
    readme = tmp_path / 'README.md'
    readme.write_text('intro\n%s\nstale\n%s\noutro\n' % (report.BEGIN, report.END), encoding='utf-8')
    claims = tmp_path / 'claims.md'
    claims.write_text('rules\n%s\nold table\n%s\n' % report.VERDICTS, encoding='utf-8')
    args = ['--results_dir', str(tmp_path), '--readme', str(readme), '--claims', str(claims)]
    assert report.main(args + ['--check']) == 1
    assert report.main(args) == 0
    text = readme.read_text(encoding='utf-8')
    assert text.startswith('intro\n') and text.endswith('outro\n') and 'stale' not in text
    assert text.count('### Article') == len(report.ARTICLES)
    table = claims.read_text(encoding='utf-8')
    assert 'old table' not in table and table.startswith('rules\n')
    n_claim_runs = len(report.ARTICLES) - 1  # every run but qa_generation writes one '9z' claim here
    assert table.count('| 9z |') == n_claim_runs
    assert '| 5a | generated answers that are passage spans | 100.0% | holds |' in table
    assert 'Verdicts: %d holds, 0 does not hold, 0 inconclusive at this scale, 2 reported.' % (n_claim_runs + 1) in table
    assert report.main(args + ['--check']) == 0
    claims.write_text('rules\n%s\nedited by hand\n%s\n' % report.VERDICTS, encoding='utf-8')
    assert report.main(args + ['--check']) == 1  # a hand edit of the table is caught


def test_theseus_speed_rows_are_derived_from_its_throughput():
    rows = report.theseus_speed_claims({'examples_per_second': {'predecessor (4 layers)': 100.0,
                                                                'direct fine-tune (2 layers)': 170.0,
                                                                'Theseus (2 layers)': 180.0, 'Theseus (1 layers)': 350.0}})
    assert [r[0] for r in rows] == ['3c', '3c'] and [r[2] for r in rows] == ['1.80x', '3.50x']
    assert all(r[3] == 'reported' for r in rows) and 'Theseus (1 layers) / predecessor (4 layers)' in rows[1][1]
    assert report.theseus_speed_claims({}) == []


def test_committed_readme_and_claims_match_the_committed_results():
    # the README's article sections and the verdict table of docs/claims.md are what results/ gives, not hand edits
    assert report.main(['--check']) == 0


def test_both_results_formats_give_the_verdict_table(tmp_path):
    """A v1 file (claims only) and a format-2 file of tasks.runner (seeds, per-item predictions, claims) side by
    side: the verdict table lists the claims of both."""
    write_run(tmp_path, 'flooding')
    d = tmp_path / 'weissi'
    d.mkdir()
    v2 = {'format': 2, 'commit': 'def456', 'seconds': 3.0, 'test_labels': [0, 1],
          'seeds': [{'seed': 0, 'results': {'cnn L2': {'predictions': {'0.0': [0, 1]}, 'metrics': {'acc': 1.0}}}}],
          'claims': [['7a', 'cnn: test accuracy, WEISSI - L2', '+0.50 [+0.10, +0.90] points (seeds x items)',
                      'holds']]}
    (d / 'results.json').write_text(json.dumps(v2), encoding='utf-8')
    (d / 'summary.md').write_text('## T\n\nx\n', encoding='utf-8')
    table = report.verdict_table(str(tmp_path), [('flooding', 'A6'), ('weissi', 'A7')])
    assert '| A6 | 9z |' in table and '| A7 | 7a | cnn: test accuracy, WEISSI - L2 |' in table
    assert 'package commit `def456`' in report.section(str(tmp_path), 'weissi', 'A7')
