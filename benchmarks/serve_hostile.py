"""Hostile input and overload against `python -m bert4keras_ext.qa serve` (issue #31), loopback only, bounded in
count and time. The server runs in its own process with the shipped generator and reader (or --checkpoint).

Cases: malformed JSON, wrong types, an oversized body (announced, never sent), a huge passage inside the body
limit, thousands of answers, slowloris-style slow bodies, clients that disconnect mid-request, and 2x the
measured capacity for --overload_seconds. A steady client sends well-formed /generate requests through every
case; each of its answers must be a 200 for its own passage (or an honest 503/504 during the overload).

Per case it prints the status codes seen, the slowest refusal, and whether every well-formed request got a
correct answer; at the end the server's peak RSS (VmHWM) and whether it survived. Targets: never dies, peak RSS
under --rss_bound_gb, every refusal within 1 s (slow bodies: within read_timeout + 1.5 s, the client noticing at
its next byte), no well-formed request lost or mixed up.

    python benchmarks/serve_hostile.py [--overload_seconds 60] [--output_dir results/serve_hostile]
    python benchmarks/serve_hostile.py --short --checkpoint DIR     # seconds; the test suite's version
"""
import argparse
import collections
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
from machine import cpu  # noqa: E402  (benchmarks/machine.py)

PASSAGE = '故宫位于北京中轴线的中心，是明清两代的皇家宫殿，旧称紫禁城，始建于明成祖永乐四年。'


def http(port, method, path, body=None, raw=None, timeout=120):
    data = raw if raw is not None else (None if body is None else json.dumps(body, ensure_ascii=False).encode())
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path), data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    t = time.time()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode('utf-8')), time.time() - t
    except urllib.error.HTTPError as err:
        text = err.read().decode('utf-8')
        try:
            return err.code, json.loads(text), time.time() - t
        except ValueError:
            return err.code, {'not_json': text[:200]}, time.time() - t
    except (urllib.error.URLError, ConnectionError, socket.timeout) as exc:
        return 'conn:%s' % type(exc).__name__, {}, time.time() - t


def raw_socket(port, head, body=b'', trickle=None, close_early=None, timeout=30):
    """Send ``head`` (+ ``body``, optionally a byte every ``trickle`` seconds); return (status, seconds).
    ``close_early``: 'body' leaves after half the body, 'wait' right after the whole request."""
    t = time.time()
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(head)
        if close_early:
            s.sendall(body[:len(body) // 2] if close_early == 'body' else body)
            return 'closed', time.time() - t
        if trickle:
            for b in body:
                s.sendall(bytes([b]))
                time.sleep(trickle)
                if _readable(s):
                    break
        else:
            s.sendall(body)
        out = s.recv(65536)
        return (int(out.split()[1]) if out else 'no_answer'), time.time() - t
    except (ConnectionError, socket.timeout, BrokenPipeError):
        return 'conn_closed', time.time() - t
    finally:
        s.close()


def _readable(s):
    import select
    return bool(select.select([s], [], [], 0)[0])


def peak_rss_gb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024 ** 2
    except OSError:
        return float('nan')
    return float('nan')


class Steady(threading.Thread):
    """A well-formed client, one request at a time: every answer must be its own passage's record."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.codes, self.wrong = port, threading.Event(), collections.Counter(), 0
        self.n = 0

    def run(self):
        while not self.stop.is_set():
            passage = '%s（第%d次）' % (PASSAGE, self.n)
            code, rec, _ = http(self.port, 'POST', '/generate', {'passage': passage, 'k': 1})
            self.codes[code] += 1
            if code == 200 and rec.get('passage') != passage:
                self.wrong += 1
            self.n += 1

    def take(self):
        codes, wrong = dict(self.codes), self.wrong
        self.codes, self.wrong = collections.Counter(), 0
        return codes, wrong


def run_case(name, jobs, threads, steady, rows, refusal_bound=1.0, expect=None):
    """Run ``jobs`` (callables -> (status, seconds)) on ``threads`` threads; record one row."""
    results, lock = [], threading.Lock()
    it = iter(jobs)

    def worker():
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            out = job()
            with lock:
                results.append(out)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = collections.Counter(str(c) for c, _ in results)
    refusals = [s for c, s in results if isinstance(c, int) and c >= 400]
    steady_codes, wrong = steady.take()
    row = {'case': name, 'requests': len(results), 'codes': dict(codes),
           'slowest_refusal_s': round(max(refusals), 3) if refusals else None,
           'refusals_in_time': all(s <= refusal_bound for s in refusals),
           'expected_codes': expect is None or set(codes) <= set(expect),
           'seconds': round(time.time() - t0, 1),
           'steady': {str(k): v for k, v in steady_codes.items()}, 'steady_wrong': wrong}
    rows.append(row)
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default=None, help='generator directory (default: the shipped generator)')
    p.add_argument('--short', action='store_true', help='a few seconds: small counts, 3 s of overload')
    p.add_argument('--overload_seconds', type=float, default=60.0)
    p.add_argument('--rss_bound_gb', type=float, default=2.5)
    p.add_argument('--read_timeout', type=float, default=3.0, help="the server's --read_timeout")
    p.add_argument('--output_dir', default=None, help='write results.json and summary.md here')
    args = p.parse_args(argv)
    n = 5 if args.short else 50
    overload = 3.0 if args.short else args.overload_seconds
    cmd = [sys.executable, '-m', 'bert4keras_ext.qa', 'serve', '--port', '0', '--read_timeout',
           str(args.read_timeout), '--deadline', '10', '--queue_size', '16']
    if args.checkpoint:
        cmd += ['--checkpoint', args.checkpoint]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    log_lines = collections.deque(maxlen=5)
    port = None
    for line in proc.stderr:
        if line.startswith('serving on'):
            port = int(line.split(':')[2].split()[0])
            break
    if port is None:
        raise SystemExit('the server did not start: %s' % proc.stderr.read()[-2000:])
    threading.Thread(target=lambda: [log_lines.append(l) for l in proc.stderr], daemon=True).start()
    while http(port, 'GET', '/health/ready')[0] != 200:
        time.sleep(0.2)
    rss_loaded = peak_rss_gb(proc.pid)
    steady = Steady(port)
    steady.start()
    rows = []
    big = 5_200_000
    run_case('malformed JSON', [lambda i=i: http(port, 'POST', '/generate', raw=b'{"passage": "x' + b'"' * i)[::2]
                                for i in range(n)], 4, steady, rows, expect={'400'})
    wrong = [{'passage': 3}, {'passage': 'x', 'k': 'two'}, {'passage': 'x', 'answers': 'x'}, [1, 2], 'text',
             {'passage': 'x', 'k': True}, {'question': 'q'}]
    run_case('wrong types', [lambda b=b: http(port, 'POST', '/generate', b)[::2] for b in wrong * max(1, n // 7)],
             4, steady, rows, expect={'400'})
    run_case('wrong methods and paths', [lambda m=m, u=u: http(port, m, u)[::2] for m, u in
                                         [('GET', '/generate'), ('PUT', '/answer'), ('DELETE', '/x'),
                                          ('GET', '/nowhere')] * max(1, n // 4)],
             4, steady, rows, expect={'404', '405'})
    run_case('oversized body (5.2 MB announced)',
             [lambda: raw_socket(port, b'POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % big)
              for _ in range(n)], 4, steady, rows, expect={'413'})
    huge = json.dumps({'passage': '故' * 300_000, 'k': 2}, ensure_ascii=False).encode()
    run_case('huge passage (300k characters, inside the body limit)',
             [lambda: http(port, 'POST', '/generate', raw=huge)[::2] for _ in range(max(2, n // 10))], 2, steady,
             rows, expect={'400'})
    run_case('thousands of answers (5,000 per request)',
             [lambda: http(port, 'POST', '/generate', {'passage': PASSAGE, 'answers': ['故宫'] * 5000})[::2]
              for _ in range(max(2, n // 10))], 2, steady, rows, expect={'400'})
    slow_body = json.dumps({'passage': PASSAGE, 'k': 1}, ensure_ascii=False).encode()
    head = b'POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % len(slow_body)
    run_case('slow bodies (a byte every 0.5 s)',
             [lambda: raw_socket(port, head, slow_body, trickle=0.5) for _ in range(max(4, n // 5))],
             max(4, n // 5), steady, rows, refusal_bound=args.read_timeout + 1.5, expect={'408'})
    # (the server answers at read_timeout; the client notices at its next byte, up to 0.5 s later)
    run_case('clients that disconnect mid-body and mid-wait',
             [lambda i=i: raw_socket(port, head, slow_body, close_early=('body', 'wait')[i % 2]) for i in range(n)],
             4, steady, rows, expect={'closed'})
    # capacity: as many closed-loop clients as a batch holds (16: the server's default max_batch) for a few
    # seconds, the saturated completion rate; then open-loop arrivals at twice that rate
    t0, done = time.time(), []
    window = 3.0 if args.short else 15.0

    def closed_loop():
        while time.time() - t0 < window:
            if http(port, 'POST', '/generate', {'passage': PASSAGE, 'k': 1})[0] == 200:
                done.append(1)

    loops = [threading.Thread(target=closed_loop) for _ in range(16)]
    for th in loops:
        th.start()
    for th in loops:
        th.join()
    capacity = len(done) / (time.time() - t0)
    steady.take()
    rate = 2 * capacity
    arrivals = int(rate * overload)
    results, lock, ts = [], threading.Lock(), []

    def one(i):
        passage = '%s（过载%d）' % (PASSAGE, i)
        code, rec, sec = http(port, 'POST', '/generate', {'passage': passage, 'k': 1}, timeout=60)
        with lock:
            results.append((code, sec, code != 200 or rec.get('passage') == passage))

    t0 = time.time()
    for i in range(arrivals):
        time.sleep(max(0.0, t0 + i / rate - time.time()))
        th = threading.Thread(target=one, args=(i,))
        th.start()
        ts.append(th)
    for th in ts:
        th.join()
    codes = collections.Counter(str(c) for c, _, _ in results)
    refused = [s for c, s, _ in results if c == 503]
    steady_codes, wrong = steady.take()
    row = {'case': '2x capacity for %.0f s (%.2f requests/s measured, %.2f offered)' % (overload, capacity, rate),
           'requests': len(results), 'codes': dict(codes),
           'slowest_refusal_s': round(max(refused), 3) if refused else None,
           'refusals_in_time': all(s <= 1.0 for s in refused), 'expected_codes': set(codes) <= {'200', '503', '504'},
           'mixed_up': sum(not ok for _, _, ok in results), 'seconds': round(time.time() - t0, 1),
           'steady': {str(k): v for k, v in steady_codes.items()}, 'steady_wrong': wrong}
    rows.append(row)
    print(json.dumps(row, ensure_ascii=False), flush=True)
    steady.stop.set()
    steady.join(60)
    alive = proc.poll() is None and http(port, 'GET', '/health/live')[0] == 200
    metrics = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10).read().decode()
    rss = peak_rss_gb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    exit_code = proc.wait(60)
    steady_ok = all(r['steady_wrong'] == 0 and set(r['steady']) <= ({'200'} if 'capacity' not in r['case'] else
                                                                     {'200', '503', '504'}) for r in rows)
    summary = {'cpu': cpu(), 'python': platform.python_version(), 'server_alive': alive,
               'sigterm_exit_code': exit_code, 'peak_rss_gb': round(rss, 3), 'rss_after_loading_gb': round(rss_loaded, 3),
               'rss_bound_gb': args.rss_bound_gb, 'rss_ok': rss <= args.rss_bound_gb,
               'all_refusals_in_time': all(r['refusals_in_time'] for r in rows),
               'all_codes_expected': all(r['expected_codes'] for r in rows),
               'well_formed_all_correct': steady_ok and all(r.get('mixed_up', 0) == 0 for r in rows),
               'metrics_lines': sum(1 for l in metrics.splitlines() if l.startswith('qa_')), 'cases': rows}
    print(json.dumps({k: v for k, v in summary.items() if k != 'cases'}, ensure_ascii=False), flush=True)
    if args.output_dir:
        write(args.output_dir, summary, ' '.join(['python', 'benchmarks/serve_hostile.py'] + (argv or sys.argv[1:])))
    return summary


def write(directory, summary, command):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(summary, command=command), f, indent=2, ensure_ascii=False)
    lines = ['## Hostile input and overload (`benchmarks/serve_hostile.py`)', '',
             'Command: `%s`; CPU %s. Server alive at the end: **%s**; SIGTERM exit code %s; peak RSS **%.2f GB** '
             '(%.2f GB after loading; bound %.1f GB); every refusal in time: **%s**; every well-formed request '
             'answered correctly: **%s**.' % (command, summary['cpu'], summary['server_alive'],
                                              summary['sigterm_exit_code'], summary['peak_rss_gb'],
                                              summary['rss_after_loading_gb'], summary['rss_bound_gb'],
                                              summary['all_refusals_in_time'], summary['well_formed_all_correct']),
             '', '| case | requests | status codes | slowest refusal (s) | steady client meanwhile |',
             '|---|---|---|---|---|']
    for r in summary['cases']:
        lines.append('| %s | %d | %s | %s | %s |' % (
            r['case'], r['requests'], ', '.join('%s: %d' % kv for kv in sorted(r['codes'].items())),
            r['slowest_refusal_s'] if r['slowest_refusal_s'] is not None else '—',
            ', '.join('%s: %d' % kv for kv in sorted(r['steady'].items())) + ('' if not r['steady_wrong'] else
                                                                               '; %d WRONG' % r['steady_wrong'])))
    with open(os.path.join(directory, 'summary.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
