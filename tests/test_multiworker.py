"""`--strategy multiworker` through a task's runner: two worker processes on 127.0.0.1 (TF_CONFIG) run the flooding
task together and give the per-item test predictions of one worker on the same global batches; only the chief
writes outputs."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.test_tasks import checkpoint_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start_workers(n, out, tiny_dir):
    """``n`` workers of one cluster, each running the task; returns the processes."""
    hosts = ['127.0.0.1:%d' % p for p in free_ports(n)]
    argv = [sys.executable, '-m', 'tasks.flooding', '--quick', '--seeds', '1', '--train_size', '16',
            '--test_size', '12', '--epochs', '1', '--flood_levels', '0.9', '--maxlen', '16', '--dropout', '0',
            '--learning_rate', '0.01', '--strategy', 'multiworker'] + checkpoint_args(tiny_dir)
    procs = []
    for i in range(n):
        env = dict(os.environ, PYTHONPATH=ROOT,
                   TF_CONFIG=json.dumps({'cluster': {'worker': hosts}, 'task': {'type': 'worker', 'index': i}}))
        procs.append(subprocess.Popen(argv + ['--output_dir', os.path.join(out, 'w%d' % i)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def test_two_workers_match_one(tiny_dir, tmp_path):
    runs = {n: start_workers(n, str(tmp_path / str(n)), tiny_dir) for n in (2, 1)}
    for n, procs in runs.items():
        for p in procs:
            out, _ = p.communicate(timeout=600)
            assert p.returncode == 0, out[-3000:]
    two = json.load(open(str(tmp_path / '2' / 'w0' / 'results.json')))
    one = json.load(open(str(tmp_path / '1' / 'w0' / 'results.json')))
    assert two['strategy'] == {'name': 'multiworker', 'replicas': 2, 'in_scope': True}
    assert one['strategy']['replicas'] == 1
    assert os.listdir(str(tmp_path / '2' / 'w1')) == []           # the other worker writes nothing
    results = two['seeds'][0]['results']
    for name, r in results.items():
        mine = one['seeds'][0]['results'][name]
        np.testing.assert_allclose(r['predictions'], mine['predictions'], atol=3e-4, err_msg=name)
    # the training moved the models: flooding at b = 0.9 (above the loss: every step ascends) ends elsewhere
    moved = np.abs(np.array(results['flooded/last']['predictions']) - results['none/last']['predictions']).max()
    assert moved > 1e-2
    assert results['flooded/last']['check']['flood_active']['value'] == 1.0
