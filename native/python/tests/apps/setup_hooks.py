"""Init hooks for ``_setup_interpreter`` tests; each records what it saw in module globals."""

seen = []


def record(worker):
    seen.append(worker)


def fails(worker):
    raise RuntimeError("database unreachable")


def exits(worker):
    raise SystemExit(1)


def refused(worker):
    raise ImportError(
        "module numpy.core._multiarray_umath does not support loading in subinterpreters"
    )


not_callable = 42
