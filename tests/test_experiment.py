import json
import os

import numpy as np
import pytest

from tasks import experiment


def test_report_writes_results_summary_and_plot(tmp_path):
    args = experiment.parser('demo', 'demo').parse_args(['--quick', '--output_dir', str(tmp_path / 'out')])
    ctx = experiment.start(args)
    assert ctx.seeds == [0]
    report = experiment.Report(ctx, 'Demo')
    report.add('value', np.float32(0.5))
    report.table('T', ['a', 'b'], [[1, 2]])
    plt = experiment.plt()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    report.figure(fig, 'curve.png', 'a curve')
    report.write()
    results = json.load(open(ctx.path('results.json')))
    assert results['value'] == 0.5 and results['args']['quick'] is True
    summary = open(ctx.path('summary.md')).read()
    assert '| 1 | 2 |' in summary and '![a curve](curve.png)' in summary
    assert os.path.getsize(ctx.path('curve.png')) > 1000


def test_default_seeds():
    args = experiment.parser('demo', 'demo').parse_args([])
    assert experiment.Context(args).seeds == [0, 1, 2]
    assert experiment.fmt_mean_std([0.5, 0.7]) == '60.00 ± 14.14'


def test_check_maxlen_allows_up_to_the_position_table(tiny_dir):
    config = os.path.join(tiny_dir, 'bert_config.json')
    experiment.check_maxlen(config, 32)
    experiment.check_maxlen(config, None)
    with pytest.raises(SystemExit):
        experiment.check_maxlen(config, 33)
    with pytest.raises(SystemExit):
        experiment.check_maxlen(config + '.missing', 16)
