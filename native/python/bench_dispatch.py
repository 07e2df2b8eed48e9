"""Time tandem's per-request Python path: python3 native/python/bench_dispatch.py [N].

Calls the dispatcher the way the server's C side does, in this process (no HTTP, no Go), and
prints microseconds per dispatch for a few route shapes.  The handlers live in a module made
here, so the script needs nothing but tandem.py beside it.
"""

import json
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tandem  # noqa: E402

APP = '''
import tandem

def noop(request):
    return {"ok": True}

def hello(request, name: str):
    return {"hello": name}

def search(request, q: str = "", page: int = 1):
    return {"q": q, "page": page}

def timing(request, call_next):
    response = call_next(request)
    response.headers["X-Timing"] = "1"
    return response

def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
'''

ROUTES = [
    {"id": 1, "kind": "python", "target": "bench_app:noop", "path": "/", "params": []},
    {"id": 2, "kind": "python", "target": "bench_app:hello", "path": "/hello/:name",
     "params": ["name"]},
    {"id": 3, "kind": "python", "target": "bench_app:noop", "path": "/mw", "params": [],
     "middleware": ["bench_app:timing"]},
    {"id": 4, "kind": "python", "target": "bench_app:search", "path": "/search", "params": []},
    {"id": 5, "kind": "wsgi", "target": "bench_app:wsgi_app", "path": "/wsgi", "params": []},
]

HEADERS = (
    ("Host", "localhost:8080"), ("User-Agent", "bench/1.0"), ("Accept", "*/*"),
    ("Accept-Encoding", "gzip"), ("X-Request-Id", "01HZX"),
)

CASES = [
    ("no-op handler returning a dict", 1, "/", "", ()),
    ("path param name: str", 2, "/hello/world", "", (("name", "world"),)),
    ("no-op handler + one middleware", 3, "/mw", "", ()),
    ("two query params (str, int)", 4, "/search", "q=tandem&page=2", ()),
    ("WSGI app", 5, "/wsgi", "", ()),
]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    module = types.ModuleType("bench_app")
    exec(APP, module.__dict__)
    sys.modules["bench_app"] = module
    error = tandem._setup_interpreter(json.dumps(
        {"path": [], "site_packages": [], "executable": None, "init": None,
         "worker": {"index": 0, "cpu": None, "count": 1}, "isolation": "own_gil"}))
    assert error is None, error
    dispatch, error = tandem._new_dispatcher(json.dumps({"routes": ROUTES}))
    assert error is None, error
    print("Python %s, %d dispatches per case, best of 5" % (sys.version.split()[0], n))
    for label, route_id, path, query, params in CASES:
        meta = ("GET", path, query, "01HZX", "127.0.0.1:50000", "http", "HTTP/1.1",
                "localhost", "8080")
        status = dispatch(route_id, meta, HEADERS, params, b"")[0]
        assert status == 200, (label, dispatch(route_id, meta, HEADERS, params, b""))
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                dispatch(route_id, meta, HEADERS, params, b"")
            best = min(best, time.perf_counter() - start)
        print("  %-34s %6.2f us/dispatch" % (label, best / n * 1e6))


if __name__ == "__main__":
    main()
