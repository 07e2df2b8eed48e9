"""Handlers that do not return on their own, for the deadline tests."""
import re
import time

CLEANED = []


def spin(request):
    while True:
        pass


def swallow(request):
    # Catches every Exception its loop raises, and so would catch an
    # interruption deriving from Exception.
    n = 0
    while True:
        try:
            n += 1
            if n % 1000 == 0:
                raise ValueError(n)
        except Exception:
            pass


def swallow_all(request, seconds: float = 1.0):
    # Catches HandlerTimeout too, for a while: it is raised where the
    # handler is looping, inside the try.
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            while time.monotonic() < end:
                pass
        except BaseException:
            pass
    return {"swallowed": True}


def cleanup(request):
    try:
        while True:
            pass
    finally:
        CLEANED.append(request.request_id)


def cleaned(request):
    return {"cleaned": CLEANED}


def backtrack(request, n: int = 24):
    # Catastrophic backtracking: _sre matches in C, holding the GIL, and
    # never lets the eval loop run until it gives up.
    return {"match": bool(re.match(r"(a+)+$", "a" * n + "b"))}


def nap(request, seconds: float = 2.0):
    # time.sleep releases the GIL and does not return early for an
    # asynchronous exception.
    time.sleep(seconds)
    return {"slept": seconds}
