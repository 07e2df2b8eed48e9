"""PEP 3333 applications for tandem's WSGI adapter tests.

The ``checked_*`` apps are wrapped in ``wsgiref.validate.validator``, which raises on any PEP 3333
violation by the server (tandem) as well as by the app.  The others break the rules on purpose
and so cannot go through the validator.
"""

import json
import sys
from wsgiref.validate import validator

events = []  # what the apps saw, for the tests to read (per interpreter, like any module global)


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"hello ", b"wsgi"]


def environ_echo(environ, start_response):
    native = {k: v for k, v in environ.items() if isinstance(v, str)}
    native["wsgi.version"] = list(environ["wsgi.version"])
    native["flags"] = [environ["wsgi.multithread"], environ["wsgi.multiprocess"],
                       environ["wsgi.run_once"]]
    native["has_request"] = environ.get("tandem.request") is not None
    return _json(start_response, native)


def reads_input(environ, start_response):
    stream = environ["wsgi.input"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    first = stream.readline()
    rest = stream.read(length - len(first)) if length else b""
    body = first + rest
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body[::-1]]


def uses_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"")
    return [b"then ", b"returned"]


def generator(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        for part in (b"a", b"", b"b", b"c"):
            yield part
    finally:
        events.append("generator finished")


class ClosingBody:
    def __init__(self, parts):
        self.parts = parts

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        events.append("closed")


def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ClosingBody([b"body"])


class FailingBody(ClosingBody):
    def __iter__(self):
        yield b"first"
        raise RuntimeError("failed while streaming")


def fails_in_iteration(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return FailingBody([])


def fails_before_start(environ, start_response):
    raise LookupError("app exploded")


def exc_info_before_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
    try:
        raise ValueError("recoverable")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"replaced"]


def exc_info_after_body(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"partial")
    try:
        raise ValueError("too late to replace")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"unreachable"]


def errors_stream(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write("first warning\n")
    errors.writelines(["second ", "warning\n"])
    errors.flush()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def non_ascii_header(environ, start_response):
    # PEP 3333: header values are latin-1 native strings; these are the UTF-8 bytes of "café".
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Name", "caf\u00c3\u00a9"),
                              ("X-Latin", "\u00e9t\u00e9")])
    return [b"ok"]


def empty_body(environ, start_response):
    start_response("204 No Content", [])
    return []


checked_hello = validator(hello)
checked_environ_echo = validator(environ_echo)
checked_reads_input = validator(reads_input)
checked_uses_write = validator(uses_write)
checked_generator = validator(generator)
checked_closing = validator(closing)
checked_exc_info_before_body = validator(exc_info_before_body)
checked_errors_stream = validator(errors_stream)
checked_non_ascii_header = validator(non_ascii_header)
checked_empty_body = validator(empty_body)


# --- rule breakers (not validated) ----------------------------------------------------------

def start_twice(environ, start_response):
    start_response("200 OK", [])
    start_response("200 OK", [])
    return [b"x"]


def never_starts(environ, start_response):
    return [b"body without status"]


def returns_nothing_never_starts(environ, start_response):
    return []


def bad_status(environ, start_response):
    start_response("OK", [])
    return [b"x"]


def status_not_str(environ, start_response):
    start_response(200, [])
    return [b"x"]


def headers_not_list(environ, start_response):
    start_response("200 OK", (("Content-Type", "text/plain"),))
    return [b"x"]


def header_not_latin1(environ, start_response):
    start_response("200 OK", [("X-Check", "\u2713")])
    return [b"x"]


def header_with_newline(environ, start_response):
    start_response("200 OK", [("X-Bad", "a\r\nInjected: 1")])
    return [b"x"]


def yields_str(environ, start_response):
    start_response("200 OK", [])
    return ["text, not bytes"]


def write_str(environ, start_response):
    write = start_response("200 OK", [])
    write("text")
    return []


def hop_by_hop(environ, start_response):
    start_response("200 OK", [("Connection", "close"), ("Transfer-Encoding", "chunked"),
                              ("X-Kept", "yes")])
    return [b"x"]


def writes_errors_then_fails(environ, start_response):
    environ["wsgi.errors"].write("about to fail\n")
    raise RuntimeError("failed after logging")
