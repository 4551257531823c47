"""A small HTTP JSON endpoint for the QA tools (bert4keras' ``snippets.WebServing`` needs TF1 sessions).

    POST /generate  {"passage": "...", "k": 4}                       -> a generate() record
    POST /generate  {"passage": "...", "answers": ["...", ...]}      -> a questions() record (answer-aware)
    POST /answer    {"passage": "...", "question": "..."}            -> a reader answer
    GET  /health                                                     -> {"status": "ok", ...}

Concurrent requests are collected into batches (up to ``max_batch``, waiting at most ``max_wait`` seconds for
company) and run through one decoder call. A malformed request gets a 4xx with a message; an error inside the
model a 500 with a message; the server keeps serving.
"""
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BatchingWorker:
    """Runs ``handle(kind, payloads) -> results`` on batches of concurrently submitted requests of one kind, in one
    background thread (the model is used by that thread only)."""

    def __init__(self, handle, max_batch=16, max_wait=0.02):
        self.handle, self.max_batch, self.max_wait = handle, int(max_batch), float(max_wait)
        self.requests = queue.Queue()
        self.batches = []  # sizes of the batches run (for tests and the load report)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def submit(self, kind, payload, timeout=300):
        done = threading.Event()
        box = {}
        self.requests.put((kind, payload, box, done))
        if not done.wait(timeout):
            raise TimeoutError('no answer from the model within %d s' % timeout)
        if 'error' in box:
            raise box['error']
        return box['result']

    def _loop(self):
        while True:
            first = self.requests.get()
            batch = [first]
            try:
                while len(batch) < self.max_batch:
                    batch.append(self.requests.get(timeout=self.max_wait))
            except queue.Empty:
                pass
            groups = {}
            for item in batch:
                groups.setdefault(_group_key(item[0], item[1]), []).append(item)
            for (kind, _), items in groups.items():
                self.batches.append(len(items))
                try:
                    results = self.handle(kind, [payload for _, payload, _, _ in items])
                    for (_, _, box, done), result in zip(items, results):
                        box['result'] = result
                        done.set()
                except Exception as exc:  # reported to each waiting request, never kills the loop
                    for _, _, box, done in items:
                        box['error'] = exc
                        done.set()


def _group_key(kind, payload):
    if kind == 'generate':
        return kind, ('answers' if payload.get('answers') is not None else int(payload.get('k', 4)))
    return kind, None


class QAService:
    """The model side of the server: validates payloads, then runs batches of them."""

    def __init__(self, generator=None, reader=None, seed=0):
        self.generator, self.reader, self.seed = generator, reader, seed

    def validate(self, kind, payload):
        """An error message for a bad payload, or None."""
        if not isinstance(payload, dict):
            return 'the body must be a JSON object'
        if kind == 'generate' and self.generator is None:
            return 'this server has no generator'
        if kind == 'answer' and self.reader is None:
            return 'this server has no reader'
        if not isinstance(payload.get('passage'), str):
            return '"passage" must be a string'
        if kind == 'answer' and not isinstance(payload.get('question'), str):
            return '"question" must be a string'
        if kind == 'generate':
            k = payload.get('k', 4)
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 32:
                return '"k" must be an integer from 1 to 32'
            answers = payload.get('answers')
            if answers is not None and not (isinstance(answers, list) and all(
                    isinstance(a, str) or (isinstance(a, dict) and isinstance(a.get('text'), str)) for a in answers)):
                return '"answers" must be a list of strings or {"text", "answer_start"} objects'
        return None

    def __call__(self, kind, payloads):
        if kind == 'answer':
            return self.reader.answer([p['passage'] for p in payloads], [p['question'] for p in payloads])
        if payloads[0].get('answers') is not None:
            return self.generator.questions([p['passage'] for p in payloads], [p['answers'] for p in payloads])
        return self.generator.generate([p['passage'] for p in payloads], k=int(payloads[0].get('k', 4)),
                                       seed=self.seed)


def make_server(service, host='127.0.0.1', port=8000, max_batch=16, max_wait=0.02):
    """A ``ThreadingHTTPServer`` for ``service`` (:class:`QAService`); call ``serve_forever()`` (or run it in a
    thread) and ``shutdown()``. ``server.worker.batches`` records the batch sizes run."""
    worker = BatchingWorker(service, max_batch=max_batch, max_wait=max_wait)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code, obj):
            body = json.dumps(obj, ensure_ascii=False).encode('utf-8')
            self.send_response(code)
            self.send_header('Content-Type', 'application/json; charset=utf-8')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == '/health':
                self._send(200, {'status': 'ok', 'generator': service.generator is not None,
                                 'reader': service.reader is not None})
            else:
                self._send(404, {'error': 'unknown path %s: GET /health, POST /generate or /answer' % self.path})

        def do_POST(self):
            kind = self.path.strip('/')
            if kind not in ('generate', 'answer'):
                self._send(404, {'error': 'unknown path %s: POST /generate or /answer' % self.path})
                return
            try:
                length = int(self.headers.get('Content-Length') or 0)
                payload = json.loads(self.rfile.read(length).decode('utf-8') or 'null')
            except (ValueError, UnicodeDecodeError) as exc:
                self._send(400, {'error': 'the body is not JSON: %s' % exc})
                return
            problem = service.validate(kind, payload)
            if problem:
                self._send(400 if 'has no' not in problem else 404, {'error': problem})
                return
            try:
                result = worker.submit(kind, payload)
            except Exception as exc:
                self._send(500, {'error': '%s: %s' % (type(exc).__name__, exc)})
                return
            self._send(200, result)

        def log_message(self, fmt, *args):  # quiet: one line per request would flood a load test
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.worker = worker
    return server
