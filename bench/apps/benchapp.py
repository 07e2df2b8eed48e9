"""Handlers the benchmarks load: the same work as the baselines' apps."""

from work import BURN_LOOPS, burn as _burn, time_burn  # noqa: F401 (BURN_LOOPS for readers)


def hello(request, name: str):
    return {"hello": name}


def burn(request):
    return {"total": _burn()}


def calibrate(request):
    """What work.burn costs in this worker (go run ./bench compare prints it)."""
    return {"ms": time_burn()}
