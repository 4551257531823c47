import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tasks import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MIRRORED = r'''
import json, sys
import numpy as np
import bert4keras_ext
import tensorflow as tf
from tasks import experiment
from bert4keras_ext.checkpoints import load_model
devices = experiment.split_cpu(2) if sys.argv[2] == 'mirrored' else None
strategy = experiment.make_strategy(sys.argv[2])  # multiworker: before anything initialises the runtime
devices = devices or tf.config.list_logical_devices('CPU')
tf.keras.utils.set_random_seed(0)
rng = np.random.RandomState(0)
ids = rng.randint(5, 40, size=(16, 8)); ids[:, 0] = 2
seg = np.zeros_like(ids); y = (ids[:, 1] > 20).astype('int32')
with strategy.scope():
    bert, _ = load_model(sys.argv[1])
    x = tf.keras.layers.Lambda(lambda t: t[:, 0])(bert.output)
    out = tf.keras.layers.Dense(2, kernel_initializer='zeros')(x)
    model = tf.keras.Model(bert.inputs, out)
    model.compile(tf.keras.optimizers.Adam(1e-2),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
h = model.fit([ids, seg], y, batch_size=8, epochs=4, shuffle=False, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "devices": len(devices),
                  "loss": h.history["loss"]}))
'''


def run(strategy, ckpt, tmp_path):
    script = tmp_path / 'mirrored.py'
    script.write_text(MIRRORED)
    result = subprocess.run([sys.executable, str(script), ckpt, strategy], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_strategy_on_two_local_workers_matches_one_worker(tiny_dir, tmp_path):
    """``--strategy multiworker``: two worker processes on 127.0.0.1 (TF_CONFIG), each with half of every global
    batch, train like one worker on the whole batch."""
    script = tmp_path / 'multiworker.py'
    script.write_text(MIRRORED)
    cluster = {'worker': ['127.0.0.1:%d' % p for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': index}})
        procs.append(subprocess.Popen([sys.executable, str(script), tiny_dir, 'multiworker'], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      env=dict(os.environ, PYTHONPATH=ROOT, TF_CONFIG=tf_config)))
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    single = run('default', tiny_dir, tmp_path)
    for worker in outputs:
        assert worker['replicas'] == 2
        np.testing.assert_allclose(worker['loss'], single['loss'], rtol=1e-4)


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
