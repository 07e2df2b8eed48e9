"""Python middleware for every Python route of the mixed example."""

import time


def elapsed(request, call_next):
    """Adds X-Elapsed-Ms: the time spent in the rest of the chain, in milliseconds."""
    start = time.perf_counter()
    response = call_next(request)
    response.headers["X-Elapsed-Ms"] = "%.3f" % ((time.perf_counter() - start) * 1000)
    return response
