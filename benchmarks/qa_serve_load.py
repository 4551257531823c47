"""Load test of `python -m bert4keras_ext.qa serve` with the shipped generator and reader (issue #20), on 127.0.0.1:
N requests from C concurrent clients (default 200 from 8) over held-out CMRC2018 passages (first windows), half
/generate and half /answer. Prints latency percentiles, requests/s, the batch sizes the server ran, and checks that
no request failed or got another request's record (a /generate record names its passage; an /answer must sit at
its answer_start in the request's passage).

    python benchmarks/qa_serve_load.py [--requests 200] [--clients 8] [--k 2]
"""
import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def post(port, path, body):
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path),
                                 data=json.dumps(body, ensure_ascii=False).encode('utf-8'), method='POST',
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return resp.status, json.loads(resp.read().decode('utf-8'))
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode('utf-8'))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--requests', type=int, default=200)
    p.add_argument('--clients', type=int, default=8)
    p.add_argument('--k', type=int, default=2, help='answers per /generate request')
    args = p.parse_args(argv)
    import bert4keras_ext  # noqa: F401
    from bert4keras_ext.qa.data import cmrc_split
    from bert4keras_ext.qa.generator import QAGenerator
    from bert4keras_ext.qa.reader import Reader
    from bert4keras_ext.qa.server import QAService, make_server
    from tasks.qa_generation import CMRC, gold_pairs
    with open(CMRC, encoding='utf-8') as f:
        _, held = cmrc_split(json.load(f))
    generator, reader = QAGenerator.load(), Reader.load()
    passages, golds = gold_pairs(held)
    firsts = [generator.windows(text)[0][1] for text in passages]
    jobs = []
    for i in range(args.requests):
        j = i % len(passages)
        if i % 2 == 0:
            jobs.append(('/generate', {'passage': firsts[j], 'k': args.k}, firsts[j]))
        else:
            jobs.append(('/answer', {'passage': passages[j], 'question': golds[j][0]['question']}, passages[j]))
    server = make_server(QAService(generator, reader), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    post(port, '/generate', jobs[0][1])  # warm-up (traces the compiled steps)
    post(port, '/answer', jobs[1][1])
    server.worker.batches.clear()
    latencies, failures, lock = [], [], threading.Lock()

    def client(indices):
        for i in indices:
            path, body, passage = jobs[i]
            start = time.perf_counter()
            status, rec = post(port, path, body)
            with lock:
                latencies.append(time.perf_counter() - start)
                if path == '/generate':  # a generate record names its passage
                    ok = rec.get('passage') == passage
                else:  # an answer must sit where it says in this request's passage
                    start = rec.get('answer_start', -1)
                    ok = start == -1 or passage[start:start + len(rec.get('answer', ''))] == rec.get('answer')
                if status != 200 or not ok:
                    failures.append((i, status))

    threads = [threading.Thread(target=client, args=(range(c, args.requests, args.clients),))
               for c in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    server.shutdown()
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    print('| requests | clients | failed or mismatched | requests/s | latency p50 / p90 / p99 s | model calls | '
          'mean batch |\n|---|---|---|---|---|---|---|')
    print('| %d (half /generate k=%d, half /answer) | %d | %d | %.2f | %.2f / %.2f / %.2f | %d | %.1f |'
          % (args.requests, args.k, args.clients, len(failures), args.requests / seconds, p50, p90, p99,
             len(server.worker.batches), float(np.mean(server.worker.batches))))
    if failures:
        raise SystemExit('failed or mismatched requests: %s' % failures[:5])


if __name__ == '__main__':
    main()
