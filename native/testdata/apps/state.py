"""Handlers that expose per-interpreter state, for isolation tests."""
import os
import threading

COUNTER = 0
WORKER = None


def setup(worker):
    global WORKER
    WORKER = worker


def hit(request):
    global COUNTER
    COUNTER += 1
    try:
        import _interpreters as interpreters
    except ImportError:
        interpreters = None
    interp = interpreters.get_current()[0] if interpreters else None
    return {
        "counter": COUNTER,
        "module_id": id(globals()),
        "interp": interp,
        "worker": WORKER.index if WORKER else None,
        "cpu": WORKER.cpu if WORKER else None,
        "thread": threading.get_native_id(),
        "pid": os.getpid(),
    }


def noop(request):
    return {}


def hello(request, name: str):
    return {"hello": name}


def echo(request):
    return (request.body, 200, {"X-Method": request.method})


def boom(request):
    raise ValueError("kaboom")


def teapot(request):
    import tandem
    raise tandem.HTTPError(418, "short and stout")


def bad_return(request):
    return object()


def sleepy(request, seconds: float = 0.2):
    import time
    time.sleep(seconds)
    return {"slept": seconds}


def refuse(request):
    # A single-phase-init extension: it refuses own-GIL interpreters.
    import _testsinglephase  # noqa: F401
    return {"imported": True}


def big(request, size: int = 100000):
    return b"x" * size


def burn(request, n: int = 20000):
    total = 0
    for i in range(n):
        total += i * i
    return {"total": total}


def stdlib(request):
    import json, re, hashlib, datetime, decimal, sqlite3, zlib
    con = sqlite3.connect(":memory:")
    con.execute("create table t (x)")
    con.execute("insert into t values (?)", (json.dumps({"a": 1}),))
    row = con.execute("select x from t").fetchone()[0]
    con.close()
    return {
        "json": json.loads(row)["a"],
        "re": bool(re.match(r"a+", "aaa")),
        "sha": hashlib.sha256(b"x").hexdigest()[:8],
        "date": datetime.date(2026, 1, 2).isoformat(),
        "dec": str(decimal.Decimal("1.10") + decimal.Decimal("2.20")),
        "zlib": len(zlib.compress(b"a" * 1000)),
    }
