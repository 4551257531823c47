"""The serve verb's HTTP endpoint on 127.0.0.1: batching, malformed requests, a bounded load test."""
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from bert4keras_ext.qa.server import BatchingWorker, QAService, ServeLimits, make_server
from tests.qa.conftest import CHARS


def post(port, path, body, raw=None):
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode('utf-8')
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path), data=data, method='POST',
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read().decode('utf-8'))
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode('utf-8'))


@pytest.fixture(scope='module')
def server(generator):
    # a generous deadline: the first /generate traces the decoding loops (tens of seconds on a loaded 2-core machine);
    # these tests are about request handling, the deadline has its own test below
    srv = make_server(QAService(generator, reader=None, limits=ServeLimits(deadline=300.0)), port=0, max_batch=8,
                      max_wait=0.05)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_batching_worker_groups_concurrent_requests():
    seen = []

    def handle(kind, payloads):
        seen.append(len(payloads))
        time.sleep(0.01)
        return [p * 10 for p in payloads]

    worker = BatchingWorker(handle, max_batch=4, max_wait=0.1)
    results = [None] * 8

    def call(i):
        results[i] = worker.submit('answer', i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [i * 10 for i in range(8)]  # each request gets its own answer
    assert max(seen) > 1 and sum(seen) == 8 and max(seen) <= 4


def test_malformed_requests_get_4xx_and_the_server_goes_on(server):
    port = server.server_address[1]
    assert post(port, '/generate', None, raw=b'{not json')[0] == 400
    assert post(port, '/generate', {'text': 'x'}) == (400, {'error': '"passage" must be a string'})
    assert post(port, '/generate', {'passage': 'x', 'k': 0})[0] == 400
    assert post(port, '/answer', {'passage': 'x', 'question': 'y'})[0] == 404  # no reader on this server
    assert post(port, '/nowhere', {})[0] == 404
    status, rec = post(port, '/generate', {'passage': ''.join(CHARS[:12]), 'k': 2})
    assert status == 200 and rec['passage'] == ''.join(CHARS[:12]) and rec['status'] in ('ok', 'no_answer')
    status, rec = post(port, '/generate', {'passage': ''.join(CHARS[:12]), 'answers': [CHARS[3]]})
    assert status == 200 and rec['pairs'][0]['answer_start'] == 3


def test_load_200_requests_from_8_clients(server):
    """Bounded: 200 requests, 8 concurrent clients, loopback only. No request fails or gets another's record."""
    port = server.server_address[1]
    rng = np.random.RandomState(0)
    passages = [''.join(rng.choice(CHARS, size=rng.randint(6, 16))) for _ in range(200)]
    latencies, failures, lock = [], [], threading.Lock()

    def client(indices):
        for i in indices:
            start = time.time()
            status, rec = post(port, '/generate', {'passage': passages[i], 'k': 1})
            with lock:
                latencies.append(time.time() - start)
                if status != 200 or rec.get('passage') != passages[i]:
                    failures.append((i, status, rec))

    threads = [threading.Thread(target=client, args=(range(c, 200, 8),)) for c in range(8)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    seconds = time.time() - start
    assert not failures and len(latencies) == 200
    assert max(server.worker.batches) > 1  # concurrent requests shared model calls
    p50, p99 = np.percentile(latencies, [50, 99])
    print('load test: %.1f passages/s, latency p50 %.3f s, p99 %.3f s, mean batch %.1f'
          % (200 / seconds, p50, p99, np.mean(server.worker.batches)))


# ------------------------------------------------------------------ limits, overload, operations (issue #31)

class StubGenerator:
    """A generator that takes ``delay`` seconds per call and records what it was asked."""

    def __init__(self, delay=0.0):
        self.delay, self.calls = delay, []

    def generate(self, passages, k=4, seed=0):
        self.calls.append(('generate', list(passages)))
        time.sleep(self.delay)
        return [{'passage': p, 'status': 'ok', 'pairs': []} for p in passages]

    def questions(self, passages, answers):
        self.calls.append(('questions', [list(a) for a in answers]))
        time.sleep(self.delay)
        return [{'passage': p, 'status': 'ok',
                 'pairs': [{'answer': a, 'question': '%s是什么？' % a, 'status': 'ok'} for a in ans]}
                for p, ans in zip(passages, answers)]


def start(service, **kwargs):
    srv = make_server(service, port=0, **kwargs)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def raw_request(port, data, read=True, timeout=5):
    import socket
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.sendall(data)
    if not read:
        return s
    out = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b'\r\n\r\n' in out:
                head, body = out.split(b'\r\n\r\n', 1)
                n = [int(l.split(b':')[1]) for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')]
                if n and len(body) >= n[0]:
                    break
    finally:
        s.close()
    head, body = out.split(b'\r\n\r\n', 1)
    return int(head.split()[1]), head.decode('latin-1'), json.loads(body.decode('utf-8'))


def request(port, method, path, body=None):
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode('utf-8')
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path), data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_limits_refuse_oversized_requests_fast_and_name_the_limit():
    limits = ServeLimits(max_body_bytes=10_000, max_passage_chars=50, max_answers=3, read_timeout=1.0)
    stub = StubGenerator()
    srv = start(QAService(stub, limits=limits))
    port = srv.server_address[1]
    try:
        t = time.time()   # 413 from the headers alone: the 5 MB body is never sent
        code, _, body = raw_request(port, b'POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n')
        assert code == 413 and 'max_body_bytes' in body['error'] and time.time() - t < 1.0
        assert post(port, '/generate', {'passage': '长' * 51})[0] == 400
        assert 'max_passage_chars' in post(port, '/generate', {'passage': '长' * 51})[1]['error']
        code, body = post(port, '/generate', {'passage': '故宫', 'answers': ['故宫'] * 4})
        assert code == 400 and 'max_answers' in body['error']
        assert 'max_k' in post(port, '/generate', {'passage': '故宫', 'k': 33})[1]['error']
        t = time.time()   # a body that stalls: 408 after read_timeout, the thread is freed
        code, _, body = raw_request(port, b'POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pa')
        assert code == 408 and time.time() - t < 3.0
        assert stub.calls == []                   # none of these reached the model
    finally:
        srv.shutdown()
        srv.server_close()


def test_wrong_methods_and_paths_get_json_errors():
    srv = start(QAService(StubGenerator()))
    port = srv.server_address[1]
    try:
        code, headers, body = request(port, 'GET', '/generate')
        assert code == 405 and headers['Allow'] == 'POST' and 'not allowed' in json.loads(body)['error']
        code, headers, body = request(port, 'PUT', '/answer', {})
        assert code == 405 and json.loads(body)['error']
        code, headers, body = request(port, 'DELETE', '/nowhere')
        assert code == 404 and headers['Content-Type'].startswith('application/json')
        code, _, body = raw_request(port, b'FOO /generate HTTP/1.1\r\nHost: x\r\n\r\n')
        assert code == 501 and 'error' in body   # JSON, not http.server's HTML page
    finally:
        srv.shutdown()
        srv.server_close()


def test_full_queue_answers_503_at_once_and_deadline_504():
    stub = StubGenerator(delay=1.0)
    srv = start(QAService(stub, limits=ServeLimits(queue_size=2, deadline=1.5)), max_batch=1, max_wait=0.0)
    port = srv.server_address[1]
    results, lock = [], threading.Lock()

    def call(i):
        t = time.time()
        code, headers, _ = request(port, 'POST', '/generate', {'passage': 'p%d' % i, 'k': 1})
        with lock:
            results.append((code, time.time() - t, headers.get('Retry-After')))

    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
        for th in threads:
            th.start()
            time.sleep(0.05)
        for th in threads:
            th.join()
        codes = sorted(c for c, _, _ in results)
        refused = [(t, r) for c, t, r in results if c == 503]
        assert refused and all(t < 1.0 and r == '1' for t, r in refused)   # refused at once, with Retry-After
        assert codes == [200, 503, 503, 504, 504]   # 1 runs, 2 wait past the deadline, 2 find the queue full
        time.sleep(1.0)
        assert srv.worker.dropped == 1             # the last one timed out before the model reached it
    finally:
        srv.shutdown()
        srv.server_close()


def test_work_of_a_client_that_has_gone_is_dropped():
    stub = StubGenerator(delay=0.8)
    srv = start(QAService(stub), max_batch=1, max_wait=0.0)
    port = srv.server_address[1]
    try:
        first = threading.Thread(target=post, args=(port, '/generate', {'passage': 'first', 'k': 1}))
        first.start()
        time.sleep(0.2)                            # the worker is busy with 'first'
        body = json.dumps({'passage': 'gone', 'k': 1}).encode()
        s = raw_request(port, b'POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % len(body) + body,
                        read=False)
        time.sleep(0.2)
        s.close()                                  # the client leaves before the model got to its request
        first.join()
        time.sleep(1.0)
        assert [c[1] for c in stub.calls] == [['first']] and srv.worker.dropped == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_duplicate_answers_are_computed_once():
    stub = StubGenerator()
    srv = start(QAService(stub))
    port = srv.server_address[1]
    try:
        code, rec = post(port, '/generate', {'passage': '故宫在北京', 'answers': ['故宫'] * 30 + ['北京']})
        assert code == 200 and len(rec['pairs']) == 31
        assert [p['answer'] for p in rec['pairs']] == ['故宫'] * 30 + ['北京']
        assert stub.calls == [('questions', [['故宫', '北京']])]
    finally:
        srv.shutdown()
        srv.server_close()


def test_health_ready_after_warm_up_and_prometheus_metrics():
    release = threading.Event()

    class SlowWarm(QAService):
        def warm_up(self):                   # warm-up ends only when the test says so (no race with a loaded machine)
            release.wait(60)

    srv = start(SlowWarm(StubGenerator()), warm=True)
    port = srv.server_address[1]
    try:
        assert request(port, 'GET', '/health/live')[0] == 200
        assert request(port, 'GET', '/health/ready')[0] == 503      # loaded, not warmed yet
        release.set()
        deadline = time.time() + 30
        while request(port, 'GET', '/health/ready')[0] != 200 and time.time() < deadline:
            time.sleep(0.05)
        assert request(port, 'GET', '/health/ready')[0] == 200
        post(port, '/generate', {'passage': '故宫', 'k': 1})
        post(port, '/generate', {'passage': 1})
        code, headers, text = request(port, 'GET', '/metrics')
        text = text.decode()
        assert code == 200 and headers['Content-Type'].startswith('text/plain')
        assert 'qa_requests_total{route="/generate",status="200"} 1.0' in text
        assert 'qa_requests_total{route="/generate",status="400"} 1.0' in text
        for name in ('qa_request_latency_seconds_bucket', 'qa_batch_size_bucket', 'qa_queue_depth', 'qa_in_flight'):
            assert name in text
    finally:
        srv.shutdown()
        srv.server_close()


def test_sigterm_finishes_queued_work_and_exits_0(generator_dir):
    """The CLI server on the tiny generator: a request in flight when SIGTERM arrives is answered, then exit 0."""
    import os
    import signal
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, '-m', 'bert4keras_ext.qa', 'serve', '--checkpoint', generator_dir,
                             '--port', '0', '--deadline', '300'], stderr=subprocess.PIPE,  # the first call traces
                            text=True, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    try:
        port = None
        for line in proc.stderr:
            if line.startswith('serving on'):
                port = int(line.split(':')[2].split()[0])
                break
        assert port, 'the server did not start'
        while request(port, 'GET', '/health/ready')[0] != 200:
            time.sleep(0.1)
        out = {}
        th = threading.Thread(target=lambda: out.update(r=post(port, '/generate', {'passage': ''.join(CHARS[:12]),
                                                                                    'k': 2})))
        th.start()
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        th.join(60)
        assert proc.wait(60) == 0
        assert out['r'][0] == 200
        log = proc.stderr.read()
        assert '"status": 200' in log and 'stopped' in log   # one JSON log line per request
    finally:
        if proc.poll() is None:
            proc.kill()


def test_hostile_benchmark_short_version(generator_dir, tmp_path):
    """benchmarks/serve_hostile.py --short against the CLI server: it never dies, refuses in time with the right
    codes, stays under the RSS bound, and every well-formed request is answered with its own record."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, os.path.join(root, 'benchmarks', 'serve_hostile.py'), '--short',
                        '--checkpoint', generator_dir, '--output_dir', str(tmp_path)], capture_output=True,
                       text=True, timeout=600, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.load(open(tmp_path / 'results.json', encoding='utf-8'))
    assert summary['server_alive'] and summary['sigterm_exit_code'] == 0 and summary['rss_ok']
    assert summary['all_refusals_in_time'] and summary['all_codes_expected']
    assert summary['well_formed_all_correct']
    assert {c['case'].split(' (')[0] for c in summary['cases']} >= {'malformed JSON', 'oversized body',
                                                                   'slow bodies', 'huge passage'}
