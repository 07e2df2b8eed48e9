"""Handlers the benchmarks load: the same work as the baselines' apps."""

# About 1 ms of pure Python on the benchmark machine (2 vCPU AMD EPYC,
# CPython 3.14); the reports give the measured one-worker latency.
BURN_LOOPS = 15000


def hello(request, name: str):
    return {"hello": name}


def burn(request):
    total = 0
    for i in range(BURN_LOOPS):
        total += i * i
    return {"total": total}
