"""The serve verb's HTTP endpoint on 127.0.0.1: batching, malformed requests, a bounded load test."""
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from bert4keras_ext.qa.server import BatchingWorker, QAService, make_server
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
    srv = make_server(QAService(generator, reader=None), port=0, max_batch=8, max_wait=0.05)
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
