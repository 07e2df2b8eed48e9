"""Handlers for host/fuzz_test.go (FuzzPythonRequest).

They read every part of the request tandem converts (headers, query, path parameters, body,
JSON, text, cookies, URL) and never raise on purpose: a 500 from these routes is tandem's fault.
Text goes back hex-encoded as the bytes Go sent (``surrogateescape`` restores the bytes that
were not UTF-8), so the test compares them exactly.  An exception other than the documented
``tandem.HTTPError`` of json() and text() is not raised but reported under "unexpected", so the
handler reads on and the test names the call that failed.
"""

from typing import Optional

import tandem


def _hex(text):
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").hex()


def _touch(out, name, fn, documented=()):
    """``fn()``, or None after noting what it raised: HTTPError statuses that ``name`` may raise
    under ``out["errors"]``, anything else under ``out["unexpected"]``."""
    try:
        return fn()
    except tandem.HTTPError as exc:
        if exc.status in documented:
            out["errors"][name] = exc.status
            return None
        out["unexpected"].append("%s: HTTPError %r" % (name, exc.status))
    except Exception as exc:  # noqa: BLE001 - the point is to report it
        out["unexpected"].append("%s: %s: %s" % (name, type(exc).__name__, exc))
    return None


def _headers(out, request):
    h = request.headers
    pairs = h.items()
    names = h.keys()
    if len(h) != len(pairs) or list(h) != names or h.values() != [v for _, v in pairs]:
        out["unexpected"].append("headers: items, keys, values and len disagree")
    for name in set(names):
        values = h.getall(name)
        if not values or h.get(name) != values[0] or h[name] != values[0] or name not in h:
            out["unexpected"].append("headers: lookups of %r disagree" % name)
        # HTTP names are ASCII; str.lower() folds others too ("ı".upper().lower() is "i").
        if name.isascii() and (h.getall(name.upper()) != values or h.getall(name.lower()) != values):
            out["unexpected"].append("headers: case-insensitive lookup of %r" % name)
    repr(h)
    return [[_hex(n), _hex(v)] for n, v in pairs]


def everything(request, **params):
    """/any/:a/*: every attribute and method of the request."""
    out = {"errors": {}, "unexpected": []}
    out["method"] = request.method
    out["path"] = _hex(request.path)
    out["query_string"] = _hex(request.query_string)
    out["route"] = request.route
    out["meta"] = [_hex(v) for v in (request.request_id, request.remote_addr, request.scheme,
                                     request.protocol, request.server_name, request.server_port)]
    out["headers"] = _touch(out, "headers", lambda: _headers(out, request))
    # copy() (a MutableHeaders) checks its fields as response fields: reported apart.
    out["headers_copy"] = _touch(out, "headers.copy", lambda: len(request.headers.copy()))
    out["params"] = _touch(out, "params", lambda: sorted(
        [_hex(k), _hex(v)] for k, v in request.params.items()))
    if params != request.params:
        out["unexpected"].append("params: **kwargs and request.params disagree")
    out["query_all"] = _touch(out, "query_all", lambda: [
        [_hex(k), [_hex(v) for v in vs]] for k, vs in request.query_all.items()])
    out["query"] = _touch(out, "query", lambda: len(request.query))
    out["cookies"] = _touch(out, "cookies", lambda: sorted(
        [_hex(k), _hex(v)] for k, v in request.cookies.items()))
    out["content_type"] = _touch(out, "content_type", lambda: _hex(request.content_type))
    out["content_length"] = _touch(out, "content_length", lambda: request.content_length)
    out["host"] = _touch(out, "host", lambda: _hex(request.host))
    out["url"] = _touch(out, "url", lambda: _hex(request.url))
    out["body"] = bytes(request.body).hex()
    value = _touch(out, "json", request.json, documented=(400,))
    if "json" not in out["errors"]:
        out["json"] = type(value).__name__
        # The second call gives the same (kept) value.
        if _touch(out, "json again", request.json, documented=(400,)) is not value:
            out["unexpected"].append("json: a second call parsed again")
    text = _touch(out, "text", request.text, documented=(400,))
    out["text"] = None if text is None else len(text)
    request.state["seen"] = True
    repr(request)
    return out


def typed(request, i: int, f: float, b: bool, s: str, qi: int = 0, qf: float = 0.0,
          qb: bool = False, qs: str = "", ql: list[int] = [], qo: Optional[float] = None,
          qby: bytes = b""):
    """/typed/:i/:f/:b/:s: what the annotations converted.  Floats go back as repr: inf and
    nan convert, and strict JSON cannot carry them."""
    return {
        "i": str(i), "f": repr(f), "b": b, "s": _hex(s),
        "qi": str(qi), "qf": repr(qf), "qb": qb, "qs": _hex(qs),
        "ql": [str(v) for v in ql], "qo": None if qo is None else repr(qo), "qby": qby.hex(),
    }


def schema(request):
    """/schema: a body the route's JSON schema accepted."""
    out = {"errors": {}, "unexpected": []}
    value = _touch(out, "json", request.json, documented=(400,))
    out["json"] = type(value).__name__
    return out


def ping():
    return "pong"


def wsgi(environ, start_response):
    """/wsgi/*: a PEP 3333 app that reads the whole environ and the body."""
    size = 0
    for key, value in environ.items():
        if isinstance(value, str):
            # Native strings: latin-1 text, never surrogates (PEP 3333).
            value.encode("latin-1")
            size += len(key) + len(value)
    body = environ["wsgi.input"].read()
    length = environ.get("CONTENT_LENGTH")
    if length is not None and int(length) != len(body):
        raise AssertionError("CONTENT_LENGTH %s, body %d bytes" % (length, len(body)))
    data = ("%d %d" % (size, len(body))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [data]
