"""Handlers the benchmarks load: the same work as the baselines' apps."""

from work import BURN_LOOPS, burn as _burn  # noqa: F401 (BURN_LOOPS for readers)


def hello(request, name: str):
    return {"hello": name}


def burn(request):
    return {"total": _burn()}
