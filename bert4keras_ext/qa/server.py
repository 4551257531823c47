"""A small HTTP JSON endpoint for the QA tools (bert4keras' ``snippets.WebServing`` needs TF1 sessions).

    POST /generate  {"passage": "...", "k": 4}                       -> a generate() record
    POST /generate  {"passage": "...", "answers": ["...", ...]}      -> a questions() record (answer-aware)
    POST /answer    {"passage": "...", "question": "..."}            -> a reader answer
    GET  /health/live                                                -> 200 while the process serves
    GET  /health/ready                                               -> 200 once the models are loaded and warmed
    GET  /health                                                     -> {"status": "ok", ...} (as /health/ready)
    GET  /metrics                                                    -> Prometheus text format

Concurrent requests are collected into batches (up to ``max_batch``, waiting at most ``max_wait`` seconds for
company) and run through one decoder call by one worker thread. Every resource a request can take is bounded by
:class:`ServeLimits`: the body size (413 before the body is read), the time to send it (408), the passage length,
``k`` and the answers per request (400 naming the limit), the queue of waiting requests (503 with ``Retry-After``,
answered at once), the time a request may wait for its answer (504); a request whose client has gone is dropped
before the model sees it. Duplicate answers in one request are computed once. Every error is a JSON body
``{"error": ...}``, also for an unknown path (404) or a wrong method (405, with ``Allow``). One JSON log line per
request goes to the ``bert4keras_ext.qa.server`` logger.
"""
import dataclasses
import json
import logging
import queue
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger('bert4keras_ext.qa.server')
ROUTES = {'/generate': 'POST', '/answer': 'POST', '/health': 'GET', '/health/live': 'GET', '/health/ready': 'GET',
          '/metrics': 'GET'}


@dataclasses.dataclass
class ServeLimits:
    """What one request may take; each is a flag of ``python -m bert4keras_ext.qa serve``.

    Args:
        max_body_bytes: request body size; a larger ``Content-Length`` gets 413 before the body is read.
        max_passage_chars: characters of a passage (a 1.8M-character passage took a server to 15 GB).
        max_question_chars: characters of a question (/answer).
        max_k: generated pairs per passage (``"k"``).
        max_answers: given answers per request (answer-aware /generate); duplicates are computed once.
        queue_size: requests waiting for the model; when full, 503 with ``Retry-After`` at once.
        deadline: seconds a request may wait for its answer (queue + model); then 504 and its work is dropped.
        read_timeout: seconds the client has to send headers and body (slow clients get 408 and are closed).
    """
    max_body_bytes: int = 1_000_000
    max_passage_chars: int = 20_000
    max_question_chars: int = 1_000
    max_k: int = 32
    max_answers: int = 64
    queue_size: int = 64
    deadline: float = 30.0
    read_timeout: float = 10.0


class QueueFull(Exception):
    """The bounded request queue is full (the server answers 503)."""


class Ticket:
    """One submitted request: ``wait`` for its result; ``cancel`` drops it if the worker has not started it."""

    def __init__(self, kind, payload):
        self.kind, self.payload = kind, payload
        self.done = threading.Event()
        self.cancelled = False
        self.result = self.error = None

    def cancel(self):
        self.cancelled = True

    def finish(self, result=None, error=None):
        self.result, self.error = result, error
        self.done.set()


class BatchingWorker:
    """Runs ``handle(kind, payloads) -> results`` on batches of concurrently submitted requests of one kind, in one
    background thread (the model is used by that thread only), from a queue of at most ``queue_size`` requests.

    Args:
        handle: the model side (e.g. :class:`QAService`).
        max_batch: requests per model call at most. max_wait: seconds to wait for company.
        queue_size: waiting requests at most (``submit`` raises :class:`QueueFull` beyond; 0: unbounded).
        metrics: an optional :class:`ServerMetrics`.

    Example::

        worker = BatchingWorker(lambda kind, payloads: [p * 2 for p in payloads], max_batch=4)
        assert worker.submit('answer', 21) == 42
    """

    def __init__(self, handle, max_batch=16, max_wait=0.02, queue_size=0, metrics=None):
        self.handle, self.max_batch, self.max_wait = handle, int(max_batch), float(max_wait)
        self.requests = queue.Queue(maxsize=int(queue_size))
        self.batches = []  # sizes of the batches run (for tests and the load report)
        self.dropped = 0   # requests cancelled (deadline, client gone) before the model saw them
        self.metrics = metrics
        self.busy = False
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def enqueue(self, kind, payload):
        """A :class:`Ticket` for the request; raises :class:`QueueFull` at once when the queue is full."""
        ticket = Ticket(kind, payload)
        try:
            self.requests.put_nowait(ticket)
        except queue.Full:
            raise QueueFull('%d requests are waiting already' % self.requests.maxsize) from None
        return ticket

    def submit(self, kind, payload, timeout=300):
        """Run one request and return its result (raises its error, or ``TimeoutError`` after ``timeout``)."""
        ticket = self.enqueue(kind, payload)
        if not ticket.done.wait(timeout):
            ticket.cancel()
            raise TimeoutError('no answer from the model within %d s' % timeout)
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def depth(self):
        return self.requests.qsize()

    def stop(self, drain=True, timeout=60):
        """Stop the worker thread after the queued requests (``drain``) or refusing them (their tickets get a
        ``RuntimeError``)."""
        if not drain:
            while True:
                try:
                    self.requests.get_nowait().finish(error=RuntimeError('the server is shutting down'))
                except queue.Empty:
                    break
        self._stop = True
        self.requests.put(None)  # wakes the loop (blocks briefly when the queue is full)
        self.thread.join(timeout)

    def _next_batch(self):
        first = self.requests.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.time() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                item = self.requests.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                break
            if item is None:
                self.requests.put(None)
                break
            batch.append(item)
        return batch

    def _loop(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                if self._stop:
                    return
                continue
            live = [t for t in batch if not t.cancelled]
            self.dropped += len(batch) - len(live)
            groups = {}
            for ticket in live:
                groups.setdefault(_group_key(ticket.kind, ticket.payload), []).append(ticket)
            for (kind, _), tickets in groups.items():
                self.batches.append(len(tickets))
                if self.metrics is not None:
                    self.metrics.batch_size.observe(len(tickets))
                self.busy = True
                try:
                    results = self.handle(kind, [t.payload for t in tickets])
                    for ticket, result in zip(tickets, results):
                        ticket.finish(result=result)
                except Exception as exc:  # reported to each waiting request, never kills the loop
                    for ticket in tickets:
                        ticket.finish(error=exc)
                finally:
                    self.busy = False


def _group_key(kind, payload):
    if kind == 'generate':
        return kind, ('answers' if payload.get('answers') is not None else int(payload.get('k', 4)))
    return kind, None


class QAService:
    """The model side of the server: validates payloads against :class:`ServeLimits`, then runs batches."""

    def __init__(self, generator=None, reader=None, seed=0, limits=None):
        self.generator, self.reader, self.seed = generator, reader, seed
        self.limits = limits or ServeLimits()

    def validate(self, kind, payload):
        """An error message for a bad payload (naming the limit it breaks), or None."""
        lim = self.limits
        if not isinstance(payload, dict):
            return 'the body must be a JSON object'
        if kind == 'generate' and self.generator is None:
            return 'this server has no generator'
        if kind == 'answer' and self.reader is None:
            return 'this server has no reader'
        passage = payload.get('passage')
        if not isinstance(passage, str):
            return '"passage" must be a string'
        if len(passage) > lim.max_passage_chars:
            return ('"passage" has %d characters; the limit is %d (max_passage_chars): split it into passages'
                    % (len(passage), lim.max_passage_chars))
        if kind == 'answer':
            question = payload.get('question')
            if not isinstance(question, str):
                return '"question" must be a string'
            if len(question) > lim.max_question_chars:
                return '"question" has %d characters; the limit is %d (max_question_chars)' % (
                    len(question), lim.max_question_chars)
        if kind == 'generate':
            k = payload.get('k', 4)
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= lim.max_k:
                return '"k" must be an integer from 1 to %d (max_k)' % lim.max_k
            answers = payload.get('answers')
            if answers is not None:
                if not (isinstance(answers, list) and all(
                        isinstance(a, str) or (isinstance(a, dict) and isinstance(a.get('text'), str))
                        for a in answers)):
                    return '"answers" must be a list of strings or {"text", "answer_start"} objects'
                if len(answers) > lim.max_answers:
                    return '"answers" has %d items; the limit is %d per request (max_answers)' % (
                        len(answers), lim.max_answers)
        return None

    def __call__(self, kind, payloads):
        if kind == 'answer':
            return self.reader.answer([p['passage'] for p in payloads], [p['question'] for p in payloads])
        if payloads[0].get('answers') is not None:
            return self._questions(payloads)
        return self.generator.generate([p['passage'] for p in payloads], k=int(payloads[0].get('k', 4)),
                                       seed=self.seed)

    def _questions(self, payloads):
        """Answer-aware generation with each distinct answer of a request computed once."""
        unique, index = [], []
        for p in payloads:
            seen, order, rows = {}, [], []
            for a in p['answers']:
                key = json.dumps(a, sort_keys=True, ensure_ascii=False)
                if key not in seen:
                    seen[key] = len(order)
                    order.append(a)
                rows.append(seen[key])
            unique.append(order)
            index.append(rows)
        records = self.generator.questions([p['passage'] for p in payloads], unique)
        for rec, rows in zip(records, index):
            if 'pairs' in rec and rec['pairs'] is not None:
                rec['pairs'] = [dict(rec['pairs'][j]) for j in rows]
        return records

    def warm_up(self):
        """One tiny request through each model (traces the decoders), so the first user does not pay for it; with
        answer trimming on, the name gazetteer is read too."""
        if self.generator is not None:
            self.generator.generate(['今天天气很好。'], k=1, seed=self.seed)
            if self.generator.trim_answers:
                from bert4keras_ext.qa.answer_types import entity_gazetteer
                entity_gazetteer()
        if self.reader is not None:
            self.reader.answer(['今天天气很好。'], ['天气怎么样？'])


class ServerMetrics:
    """Prometheus metrics of one server (its own registry): requests by route and status, latency, batch sizes,
    queue depth and in-flight requests."""

    def __init__(self, worker_depth):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        self.registry = CollectorRegistry()
        self.requests = Counter('qa_requests', 'HTTP requests by route and status', ['route', 'status'],
                                registry=self.registry)
        self.latency = Histogram('qa_request_latency_seconds', 'time from request to response', ['route'],
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry)
        self.batch_size = Histogram('qa_batch_size', 'requests per model call', buckets=(1, 2, 4, 8, 16, 32, 64),
                                    registry=self.registry)
        self.queue_depth = Gauge('qa_queue_depth', 'requests waiting for the model', registry=self.registry)
        self.queue_depth.set_function(worker_depth)
        self.in_flight = Gauge('qa_in_flight', 'requests being handled', registry=self.registry)

    def text(self):
        from prometheus_client import generate_latest
        return generate_latest(self.registry)


def make_server(service, host='127.0.0.1', port=8000, max_batch=16, max_wait=0.02, limits=None, warm=False):
    """A ``ThreadingHTTPServer`` for ``service`` (:class:`QAService`).

    Args:
        service: the model side; ``limits`` (default ``service.limits``) bound every request.
        host, port: where to listen (port 0: any free port; ``server.server_address`` tells).
        max_batch, max_wait: the batching of concurrent requests.
        warm: warm the models up in the background; /health/ready answers 503 until then (else ready at once).

    Returns:
        The server: call ``serve_forever()`` (or run it in a thread) and :func:`shutdown_gracefully`.
        ``server.worker.batches`` records the batch sizes run, ``server.metrics`` the Prometheus metrics.

    Example::

        server = make_server(QAService(generator), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    """
    limits = limits or service.limits
    service.limits = limits
    holder = {}
    metrics = ServerMetrics(lambda: holder['worker'].depth())
    worker = BatchingWorker(service, max_batch=max_batch, max_wait=max_wait, queue_size=limits.queue_size,
                            metrics=metrics)
    holder['worker'] = worker
    ready = threading.Event()
    state = {'in_flight': 0, 'lock': threading.Lock(), 'accepting': True}

    class Handler(BaseHTTPRequestHandler):
        timeout = limits.read_timeout  # socket timeout: a client that stalls sending its request is closed
        protocol_version = 'HTTP/1.1'

        # ---------------------------------------------------------------- plumbing
        def _send(self, code, obj, headers=None, content_type='application/json; charset=utf-8'):
            body = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode('utf-8')
            self._record(code)  # before the client can read the answer (and then ask /metrics)
            try:
                self.send_response(code)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if self.close_connection:
                    self.send_header('Connection', 'close')
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                self.close_connection = True
            self._status = code

        def send_error(self, code, message=None, explain=None):  # BaseHTTPRequestHandler's HTML pages -> JSON
            self.close_connection = True
            self._send(code, {'error': message or self.responses.get(code, ('error',))[0]})
            self._log_line()

        def _route(self):
            return self.path.split('?', 1)[0].rstrip('/') or '/'

        def _begin(self):
            self._t0, self._status, self._bytes_in, self._recorded = time.time(), None, 0, False
            with state['lock']:
                state['in_flight'] += 1
            metrics.in_flight.inc()

        def _record(self, status):
            """Count the request once, by route and status, with its latency."""
            if getattr(self, '_recorded', True):
                return
            self._recorded = True
            route = self._route() if self._route() in ROUTES else 'other'
            metrics.requests.labels(route, str(status)).inc()
            metrics.latency.labels(route).observe(time.time() - self._t0)

        def _end(self):
            self._record(499)  # no answer was sent: the client went away
            metrics.in_flight.dec()
            with state['lock']:
                state['in_flight'] -= 1
            self._log_line()

        def _log_line(self):
            LOG.info(json.dumps({'time': round(time.time(), 3), 'client': self.client_address[0],
                                 'method': self.command, 'path': getattr(self, 'path', None),
                                 'status': getattr(self, '_status', None) or 499,
                                 'ms': round(1000 * (time.time() - getattr(self, '_t0', time.time())), 1),
                                 'bytes_in': getattr(self, '_bytes_in', 0)}, ensure_ascii=False))

        def _wrong_method(self):
            route = self._route()
            if route in ROUTES:
                self._send(405, {'error': '%s %s is not allowed: use %s' % (self.command, route, ROUTES[route])},
                           headers={'Allow': ROUTES[route]})
            else:
                self._send(404, {'error': 'unknown path %s: POST /generate or /answer, GET /health/live, '
                                          '/health/ready or /metrics' % self.path})

        def _read_body(self, length):
            """The body, or None when it has not arrived within ``read_timeout`` in total (a client sending a
            byte now and then is not let to hold its thread)."""
            chunks, got, end = [], 0, time.time() + limits.read_timeout
            while got < length:
                left = end - time.time()
                if left <= 0:
                    return None
                self.connection.settimeout(left)
                try:
                    chunk = self.rfile.read1(min(65536, length - got))
                except (socket.timeout, OSError):
                    return None
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            self.connection.settimeout(limits.read_timeout)
            return b''.join(chunks)

        def _client_gone(self):
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b''
            except (OSError, ValueError):
                return True

        # ---------------------------------------------------------------- verbs
        def do_GET(self):
            self._begin()
            try:
                route = self._route()
                if route == '/health/live':
                    self._send(200, {'status': 'live'})
                elif route in ('/health/ready', '/health'):
                    ok = ready.is_set() and state['accepting']
                    self._send(200 if ok else 503, {'status': 'ready' if ok else 'not ready',
                                                    'generator': service.generator is not None,
                                                    'reader': service.reader is not None})
                elif route == '/metrics':
                    self._send(200, metrics.text(), content_type='text/plain; version=0.0.4; charset=utf-8')
                else:
                    self._wrong_method()
            finally:
                self._end()

        def do_POST(self):
            self._begin()
            try:
                self._post()
            finally:
                self._end()

        def _post(self):
            route = self._route()
            if ROUTES.get(route) != 'POST':
                self._wrong_method()
                return
            if not state['accepting']:
                self.close_connection = True
                self._send(503, {'error': 'the server is shutting down'}, headers={'Retry-After': '5'})
                return
            length = self.headers.get('Content-Length')
            if length is None:
                self.close_connection = True
                self._send(411, {'error': 'a Content-Length header is required'})
                return
            try:
                length = int(length)
            except ValueError:
                self.close_connection = True
                self._send(400, {'error': 'Content-Length %r is not a number' % length})
                return
            if length > limits.max_body_bytes:  # refused before a byte of the body is read
                self.close_connection = True
                self._send(413, {'error': 'the body has %d bytes; the limit is %d (max_body_bytes)'
                                          % (length, limits.max_body_bytes)})
                return
            raw = self._read_body(length)
            if raw is None:
                self.close_connection = True
                self._send(408, {'error': 'the body did not arrive within %g s (read_timeout)'
                                          % limits.read_timeout})
                return
            self._bytes_in = len(raw)
            if len(raw) < length:
                self.close_connection = True
                self._send(400, {'error': 'the body ended after %d of %d bytes' % (len(raw), length)})
                return
            try:
                payload = json.loads(raw.decode('utf-8') or 'null')
            except (ValueError, UnicodeDecodeError) as exc:
                self._send(400, {'error': 'the body is not JSON: %s' % exc})
                return
            kind = route.strip('/')
            problem = service.validate(kind, payload)
            if problem:
                self._send(400 if 'has no' not in problem else 404, {'error': problem})
                return
            try:
                ticket = worker.enqueue(kind, payload)
            except QueueFull as exc:
                self._send(503, {'error': 'overloaded: %s (queue_size %d); retry later' % (exc, limits.queue_size)},
                           headers={'Retry-After': '1'})
                return
            deadline = time.time() + limits.deadline
            while not ticket.done.wait(0.05):
                if self._client_gone():
                    ticket.cancel()  # dropped before the model sees it, if it has not started
                    self.close_connection = True
                    return
                if time.time() > deadline:
                    ticket.cancel()
                    self._send(504, {'error': 'no answer within %g s (deadline)' % limits.deadline})
                    return
            if ticket.error is not None:
                self._send(500, {'error': '%s: %s' % (type(ticket.error).__name__, ticket.error)})
                return
            self._send(200, ticket.result)

        def _other(self):
            self._begin()
            try:
                self._wrong_method()
            finally:
                self._end()

        do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _other

        def log_message(self, fmt, *args):  # the JSON line of _log_line replaces http.server's own
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server((host, port), Handler)
    server.worker, server.metrics, server.ready, server.limits, server.state = worker, metrics, ready, limits, state

    if warm:
        def warm_up():
            service.warm_up()
            ready.set()
        threading.Thread(target=warm_up, daemon=True).start()
    else:
        ready.set()
    return server


def shutdown_gracefully(server, drain=True, timeout=60):
    """Stop accepting (new requests get 503), finish the queued work (``drain``; else refuse it), wait for the
    in-flight requests to be answered (at most ``timeout`` seconds), then stop the server. Call it from another
    thread than the one running ``serve_forever`` (e.g. a SIGTERM handler's thread)."""
    server.state['accepting'] = False
    server.ready.clear()
    server.worker.stop(drain=drain, timeout=timeout)
    end = time.time() + timeout
    while server.state['in_flight'] > 0 and time.time() < end:
        time.sleep(0.05)
    server.shutdown()
