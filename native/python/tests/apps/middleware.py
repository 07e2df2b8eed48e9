"""Middleware for tandem's tests: ordering, short-circuits and errors."""

import tandem


def _trace(request, name):
    request.state.setdefault("trace", []).append(name)


def outer(request, call_next):
    _trace(request, "outer-in")
    response = call_next(request)
    _trace(request, "outer-out")
    response.headers.add("X-Order", "outer")
    return response


def inner(request, call_next):
    _trace(request, "inner-in")
    response = call_next(request)
    _trace(request, "inner-out")
    response.headers.add("X-Order", "inner")
    return response


def report_trace(request):
    """A handler that returns the middleware trace seen so far."""
    return {"trace": list(request.state.get("trace", [])), "user": request.state.get("user")}


def authenticate(request, call_next):
    token = request.headers.get("Authorization")
    if token != "Bearer good":
        return {"error": "unauthorized"}, 401
    request.state["user"] = "alice"
    return call_next(request)


def sees_response(request, call_next):
    response = call_next(request)
    # Whatever the handler returned (dict, HTTPError, tuple...) arrives as a Response.
    assert isinstance(response, tandem.Response), type(response)
    response.headers["X-Seen-Status"] = str(response.status)
    response.headers["X-Seen-Type"] = type(response).__name__
    return response


def returns_dict(request, call_next):
    response = call_next(request)
    return {"wrapped_status": response.status, "wrapped_body": response.body.decode()}


def raises(request, call_next):
    raise RuntimeError("middleware failed")


def raises_http_error(request, call_next):
    raise tandem.HTTPError(429, "slow down")


def returns_garbage(request, call_next):
    call_next(request)
    return object()


def catches_errors(request, call_next):
    try:
        return call_next(request)
    except ValueError as exc:
        return {"caught": str(exc)}, 502


def wrong_signature(request):
    return None


async def async_middleware(request, call_next):
    return call_next(request)
