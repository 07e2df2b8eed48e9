"""The work every contender of `go run ./bench compare` does, in the same code.

tandem (benchapp.py), the ASGI app run by uvicorn and gunicorn (asgiapp.py)
and the WSGI app run by gunicorn (wsgiapp.py) all call these functions, so
the handlers differ only in how the server calls them.
"""

# The CPU-bound handler's loop. Calibrated by iteration count, not time: about
# 1 ms on the embedded CPython 3.14 of the benchmark machine (2 vCPU AMD EPYC;
# 15,000 iterations, the count of the first scaling runs, took 0.7 ms there).
# Debian's CPython 3.11 runs the same loop at its own speed; `go run ./bench
# compare` prints both per-call times.
BURN_LOOPS = 20000


def burn() -> int:
    total = 0
    for i in range(BURN_LOOPS):
        total += i * i
    return total


def time_burn() -> float:
    """Milliseconds per burn() call here: the best of 15 batches of 20."""
    import time

    burn()
    best = float("inf")
    for _ in range(15):
        t = time.perf_counter()
        for _ in range(20):
            burn()
        best = min(best, time.perf_counter() - t)
    return best / 20 * 1000
