"""Helpers shared by the tests: build dispatchers and call them the way the C side does.

Every dispatch made through :func:`call` also checks the return contract: a 4-tuple of an int
status 100-599, a tuple of (str, str) pairs, bytes and None or str, every str strict UTF-8.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
for _path in (PYTHON_DIR, HERE):  # tandem.py, and the apps package
    if _path not in sys.path:
        sys.path.insert(0, _path)

import tandem  # noqa: E402


def route(target, path="/", params=(), middleware=(), kind="python", id=1):
    return {"id": id, "kind": kind, "target": target, "middleware": list(middleware),
            "path": path, "params": list(params)}


def build(*routes):
    """A dispatcher for ``routes``; fails the test with the error text when there is one."""
    dispatch, error = tandem._new_dispatcher(json.dumps({"routes": list(routes)}))
    if error is not None:
        raise AssertionError("unexpected setup error:\n" + error)
    assert callable(dispatch)
    return dispatch


def build_error(*routes):
    """The error text building ``routes`` must produce."""
    result = tandem._new_dispatcher(json.dumps({"routes": list(routes)}))
    assert isinstance(result, tuple) and len(result) == 2, result
    dispatch, error = result
    if error is None:
        raise AssertionError("expected a setup error, got a dispatcher")
    assert dispatch is None
    assert isinstance(error, str) and error
    return error


class Result:
    def __init__(self, raw):
        check_contract(raw)
        self.raw = raw
        self.status, self.headers, self.body, self.log = raw

    def header(self, name):
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode("utf-8")

    def __repr__(self):
        return "Result%r" % (self.raw,)


def check_contract(raw):
    assert type(raw) is tuple and len(raw) == 4, raw
    status, headers, body, log = raw
    assert type(status) is int and 100 <= status <= 599, raw
    assert type(headers) is tuple, raw
    for pair in headers:
        assert type(pair) is tuple and len(pair) == 2, raw
        assert type(pair[0]) is str and type(pair[1]) is str, raw
        # The C side reads these with PyUnicode_AsUTF8AndSize: strict UTF-8.
        pair[0].encode("utf-8")
        pair[1].encode("utf-8")
    assert type(body) is bytes, raw
    assert log is None or type(log) is str, raw
    if log is not None:
        log.encode("utf-8")


def meta(path="/", method="GET", query="", request_id="req-1", remote="203.0.113.7:51234",
         scheme="http", protocol="HTTP/1.1", server_name="example.test", server_port="8080"):
    return (method, path, query, request_id, remote, scheme, protocol, server_name, server_port)


def call(dispatch, route_id=1, path="/", params=(), headers=(), body=b"", **meta_args):
    headers = tuple(headers)
    if not any(name == "Host" for name, _ in headers):
        headers = (("Host", "example.test:8080"),) + headers
    raw = dispatch(route_id, meta(path, **meta_args), headers, tuple(params), body)
    return Result(raw)


def serve(target, path="/", params=(), middleware=(), kind="python", route_path=None, **kwargs):
    """Build a one-route dispatcher for ``target`` and call it once."""
    if route_path is None:
        route_path = path
        names = [name for name, _ in params]
    else:
        names = [p[1:] if p.startswith(":") else "*" for p in route_path.split("/")
                 if p.startswith(":") or p == "*"]
    dispatch = build(route(target, route_path, names, middleware, kind))
    return call(dispatch, 1, path, params, **kwargs)
