"""tandem: write HTTP handlers in Python for the tandem server.

tandem runs this module as ``tandem`` in every worker interpreter, so a handler module only needs
``import tandem``.  A route of the policy names a handler as ``module:function``::

    import tandem

    def hello(request, name: str):        # path parameters bind by name, converted by annotation
        return {"hello": name}             # dict or list -> JSON, 200

    def search(request, q: str = "", page: int = 1):   # parameters with defaults read the query
        ...

    def create(request):
        item = request.json()
        return tandem.Response(item, status=201, headers={"Location": "/items/1"})

    def missing(request):
        raise tandem.HTTPError(404, "no such item")

How arguments bind (worked out once per route, when the server starts):

- the parameter named ``request`` (or annotated ``tandem.Request``), in any position, gets the
  :class:`Request`;
- a parameter named like a path parameter gets its value, converted by its annotation: ``str``
  (also when unannotated), ``int``, ``float``, ``bool`` (true/false, 1/0, yes/no, on/off),
  ``bytes`` (the raw bytes), ``Optional[T]``/``T | None``, or any other class called with the
  text (``uuid.UUID``, an ``Enum``); string annotations (``from __future__ import
  annotations``) are resolved with the handler's module globals;
- any other parameter must have a default and reads the query parameter of its name, with the
  same conversions plus ``list[T]`` for a repeated parameter; absent, it keeps its default;
  blank, an ``Optional`` one is None;
- ``**kwargs`` gets the path parameters nothing else took (the ``*`` wildcard is always in
  ``request.params["*"]``).

A value that does not convert answers 400, e.g. ``query parameter "page": expected int, got
"abc"``.  A parameter that cannot be bound is an error when the server starts.

What a handler may return:

- ``dict`` or ``list``: JSON (``application/json``), status 200;
- ``str``: ``text/plain; charset=utf-8``, status 200;
- ``bytes``, ``bytearray`` or ``memoryview``: ``application/octet-stream``, status 200;
- ``None``: 204 with an empty body;
- ``(body, status)`` or ``(body, status, headers)``, where body is any of the above and headers a
  dict or a list of ``(name, value)`` pairs;
- a :class:`Response`.

An exception becomes a 500 whose JSON body carries the request id; the traceback goes to the
server log, never to the client.  :class:`HTTPError` becomes a response with its own status.  A
handler still running at its route's timeout gets :class:`HandlerTimeout` raised inside it (the
client has had its 504 already).

Middleware is ``def mw(request, call_next)``.  ``call_next(request)`` runs the rest of the chain
and returns a :class:`Response` (an :class:`HTTPError` raised further in has already become one);
the middleware returns that response, a changed one, or anything a handler may return.

A route with ``wsgi: module:app`` serves a PEP 3333 application instead; for a path ending in
``/*`` the matched prefix is its SCRIPT_NAME.  Python middleware wraps it the same way.

Per-interpreter state lives in module globals: each worker interpreter imports its own copy of
every module.  ``python.init: module:fn`` in the policy is called once in each interpreter as
``fn(worker)``, see :class:`Worker`.

The names starting with ``_`` are the contract with the server's C side and not for users.
"""

import http
import inspect
import io
import json
import re
import sys
from _thread import allocate_lock

# traceback, typing and urllib.parse are imported where they are needed (errors, route setup of
# a generic annotation, %-escapes): every worker interpreter holds its own copy of each module
# it imports, and these three with what they pull in are about 1 MiB of each worker's memory.

__all__ = ["HTTPError", "HandlerTimeout", "Headers", "MutableHeaders", "Request", "Response", "Worker"]

# Only immutable values live at module level: several dispatchers (shared mode, a reload) and
# several threads (shared mode) use this module at once.

_REASONS = {int(s): s.phrase for s in http.HTTPStatus}

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_BINARY = "application/octet-stream"
_JSON_HEADERS = (("Content-Type", _JSON),)
_TEXT_HEADERS = (("Content-Type", _TEXT),)
_BINARY_HEADERS = (("Content-Type", _BINARY),)


def _not_json(value):
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _json_encoder(ensure_ascii):
    """A compact, strict (no NaN) JSON encoder: obj -> str.

    JSONEncoder.encode builds a new C encoder for every call, which is most of its cost on
    small bodies: build it once.  Without cycle markers (a cycle ends as RecursionError) it
    keeps no state between calls, so threads of a shared interpreter can use it at once.
    """
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # pure-Python json: no C accelerator
        return json.JSONEncoder(
            ensure_ascii=ensure_ascii, separators=(",", ":"), allow_nan=False,
            check_circular=False,
        ).encode
    quote = encoder.c_encode_basestring_ascii if ensure_ascii else encoder.c_encode_basestring
    encode = make(None, _not_json, quote, None, ":", ",", False, False, False)
    join = "".join
    return lambda value: join(encode(value, 0))


_encode_json = _json_encoder(False)
_encode_json_ascii = _json_encoder(True)

_is_token = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+").fullmatch
_has_ctl = re.compile(r"[\r\n\x00]").search
_wsgi_status = re.compile(r"([1-5][0-9][0-9])(?: [^\r\n\x00]*)?").fullmatch

_SUBINTERPRETER_REFUSAL = "does not support loading in subinterpreters"
_refused_module = re.compile(r"module (\S+) " + _SUBINTERPRETER_REFUSAL)

_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
     "trailer", "trailers", "transfer-encoding", "upgrade")
)

_ACCEPTED_RETURNS = (
    "dict, list, str, bytes, bytearray, memoryview, None, tandem.Response, "
    "(body, status) or (body, status, headers)"
)

_MISSING = object()


def _utf8_safe(text):
    """``text`` made encodable as strict UTF-8 (the C side reads log and error texts so):
    lone surrogates from undecodable input become ``\\udcff`` escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(status):
    phrase = _REASONS.get(status)
    if phrase is not None:
        return phrase
    return "Client Error" if 400 <= status < 500 else "Server Error" if status >= 500 else "Status"


# --------------------------------------------------------------------------------------------
# Errors


class HTTPError(Exception):
    """Raise to answer with an HTTP error instead of a normal response.

    The response has the given status, ``Content-Type: application/json`` and the body
    ``{"error": message, "status": status, "request_id": ...}``; without a message the standard
    reason phrase ("Not Found") stands in.  ``headers`` (a dict or a list of pairs) are added to
    the response, e.g. ``WWW-Authenticate`` with a 401 or ``Location`` with a redirect.
    """

    def __init__(self, status, message=None, headers=None):
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = headers

    def __str__(self):
        text = self.message
        if text is None and type(self.status) is int:
            text = _reason(self.status)
        return "%s %s" % (self.status, text)


class HandlerTimeout(BaseException):
    """Raised inside a handler still running when its route's timeout passes.

    The client has already been answered 504; tandem raises this in the worker's interpreter so
    that the handler stops and the worker is free for the next request.  Like
    ``KeyboardInterrupt`` it derives from ``BaseException``, so ``except Exception:`` does not
    catch it; ``finally`` blocks and ``with`` exits run as it unwinds.  A handler that catches it
    anyway (``except BaseException:`` or a bare ``except:``) and keeps going, or that is blocked
    in C code (``time.sleep``, a socket read without a timeout), has its worker replaced by a
    fresh interpreter a grace period later.  What the handler returns after it is never sent.
    """


def _drain_interrupt():
    """Called by the server after an interrupted request to take a still-pending HandlerTimeout."""


class _InvalidReturn(TypeError):
    """A handler or middleware returned something tandem cannot send; the text says what."""


class _SetupError(Exception):
    """A route cannot be built; the text is the user-facing problem."""


# --------------------------------------------------------------------------------------------
# Headers


def _sendable(value):
    """``value`` with every lone surrogate (a byte that was not UTF-8) replaced by U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


def _header(name, value):
    """Return a checked ``(name, value)`` pair or raise ValueError/TypeError saying why."""
    if type(name) is not str or not _is_token(name):
        raise ValueError("invalid header name %r: a name must be a non-empty HTTP token" % (name,))
    if type(value) is not str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(int(value))
        elif isinstance(value, str):
            value = str(value)
        else:
            raise TypeError(
                "header %s: the value must be a str, not %s" % (name, type(value).__name__)
            )
    if not value.isprintable() and _has_ctl(value):  # isprintable: the cheap common case
        raise ValueError("header %s: the value %r contains CR, LF or NUL" % (name, value))
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "header %s: the value %r contains lone surrogates and cannot be sent"
                % (name, value)
            ) from None
    return (name, value)


def _header_items(headers):
    """Yield the ``(name, value)`` pairs of a dict, a Headers or an iterable of pairs.

    A dict value that is a list or tuple gives one pair per element (several Set-Cookie).
    """
    if isinstance(headers, Headers):
        yield from headers._items
        return
    if isinstance(headers, dict):
        for name, value in headers.items():
            if isinstance(value, (list, tuple)):
                for one in value:
                    yield name, one
            else:
                yield name, value
        return
    if isinstance(headers, (str, bytes)):
        raise TypeError("headers must be a dict or a list of (name, value) pairs, not a string")
    for pair in headers:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(
                "headers must be a dict or a list of (name, value) pairs; got %r" % (pair,)
            )
        yield pair[0], pair[1]


class Headers:
    """Read-only, case-insensitive HTTP header fields; a name may appear several times.

    ``headers["Content-Type"]`` and ``headers.get(name, default)`` give the first value;
    ``getall(name)`` (alias ``get_all``) gives every value in order; ``name in headers`` tests
    presence.  ``items()``, ``keys()`` and ``values()`` list every field, repeats included,
    in the order received; iteration and ``len`` follow ``keys()``.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, headers=None):
        self._items = tuple(_header(n, v) for n, v in _header_items(headers)) if headers else ()
        self._index = None

    @classmethod
    def _wrap(cls, items):
        # The server's pairs are already checked by Go: wrap them without copying.
        self = cls.__new__(cls)
        self._items = items
        self._index = None
        return self

    def _values(self, name):
        index = self._index
        if index is None:
            index = {}
            for key, value in self._items:
                key = key.lower()
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
            self._index = index
        return index.get(name.lower(), ())

    def get(self, name, default=None):
        """The first value of ``name``, or ``default`` when absent."""
        values = self._values(name)
        return values[0] if values else default

    def getall(self, name):
        """Every value of ``name`` in order (an empty list when absent)."""
        return list(self._values(name))

    get_all = getall

    def __getitem__(self, name):
        values = self._values(name)
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name):
        return type(name) is str and bool(self._values(name))

    def keys(self):
        """Every field name, repeats included, in order."""
        return [name for name, _ in self._items]

    def values(self):
        """Every field value, in order."""
        return [value for _, value in self._items]

    def items(self):
        """Every ``(name, value)`` pair, in order."""
        return list(self._items)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._items)

    def __eq__(self, other):
        if isinstance(other, Headers):
            theirs = other._items
        elif isinstance(other, (dict, list, tuple)):
            theirs = list(_header_items(other))
        else:
            return NotImplemented
        return [(n.lower(), v) for n, v in self._items] == [(n.lower(), v) for n, v in theirs]

    __hash__ = None

    def copy(self):
        """A :class:`MutableHeaders` with the same fields.

        A request field's bytes that are not UTF-8 (kept as lone surrogates, so the request
        loses nothing) cannot be sent in a response: in the copy each becomes U+FFFD.
        """
        copy = MutableHeaders()
        copy._items = [(n, v if v.isascii() else _sendable(v)) for n, v in self._items]
        return copy

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, list(self._items))


class MutableHeaders(Headers):
    """Case-insensitive, multi-valued response header fields that can be changed.

    ``headers[name] = value`` and ``set(name, value)`` replace every field of that name;
    ``add(name, value)`` appends one more (e.g. ``Set-Cookie``); ``del headers[name]`` removes
    them all.  Names must be HTTP tokens and values must not contain CR, LF or NUL: a bad one
    raises ValueError where it is set.  An int value is stored as its decimal text.
    """

    __slots__ = ()

    def __init__(self, headers=None):
        self._items = [_header(n, v) for n, v in _header_items(headers)] if headers else []
        self._index = None

    def _values(self, name):
        key = name.lower()
        return [v for n, v in self._items if n.lower() == key]

    def _remove(self, name):
        key = name.lower()
        items = self._items
        kept = [pair for pair in items if pair[0].lower() != key]
        removed = len(items) - len(kept)
        if removed:
            items[:] = kept
        return removed

    def set(self, name, value):
        """Replace every field ``name`` with one field ``name: value`` (at the first's place)."""
        pair = _header(name, value)
        key = name.lower()
        items = self._items
        i = 0
        for old, _ in items:
            if old.lower() == key:
                items[i] = pair
                rest = items[i + 1:]
                if rest:
                    items[i + 1:] = [p for p in rest if p[0].lower() != key]
                return
            i += 1
        items.append(pair)

    __setitem__ = set

    def add(self, name, value):
        """Append a field ``name: value``, keeping the existing ones."""
        self._items.append(_header(name, value))

    def __delitem__(self, name):
        if not self._remove(name):
            raise KeyError(name)

    def pop(self, name, default=_MISSING):
        """Remove every field ``name`` and return its first value (or ``default``)."""
        values = self._values(name)
        if not values:
            if default is _MISSING:
                raise KeyError(name)
            return default
        self._remove(name)
        return values[0]

    def setdefault(self, name, value):
        """Set ``name`` to ``value`` unless present; return its (first) value."""
        values = self._values(name)
        if values:
            return values[0]
        self.add(name, value)
        return self._items[-1][1]

    def update(self, headers):
        """Set each name of ``headers`` (a dict, Headers or pairs), replacing earlier fields."""
        pairs = list(_header_items(headers))
        for name in {n.lower(): n for n, _ in pairs}.values():
            self._remove(name)
        for name, value in pairs:
            self.add(name, value)

    def clear(self):
        """Remove every field."""
        self._items.clear()


# --------------------------------------------------------------------------------------------
# Bodies and responses


def _text_bytes(text):
    # Path and header text that was not UTF-8 arrives surrogate-escaped: give those bytes back.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _json_bytes(value):
    text = _encode_json(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable input echoed back): \u escapes keep the JSON valid.
        return _encode_json_ascii(value).encode("ascii")


def _body(value):
    """Return ``(bytes, default content type or None)`` for a body value, or raise TypeError."""
    t = type(value)
    if t is dict or t is list:
        return _json_bytes(value), _JSON
    if t is str:
        return _text_bytes(value), _TEXT
    if t is bytes:
        return value, _BINARY
    if value is None:
        return b"", None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), _BINARY
    if isinstance(value, (dict, list)):
        return _json_bytes(value), _JSON
    if isinstance(value, str):
        return _text_bytes(str(value)), _TEXT
    raise TypeError(
        "a body must be dict, list, str, bytes, bytearray, memoryview or None, not %s"
        % type(value).__name__
    )


def _status(status, who):
    # 1xx are interim responses, never the final one a handler returns.
    if type(status) is int and 200 <= status <= 599:
        return status
    if isinstance(status, int) and not isinstance(status, bool) and 200 <= int(status) <= 599:
        return int(status)
    raise _InvalidReturn(
        "%s gave the status %r: a status must be an int from 200 to 599" % (who, status)
    )


class Response:
    """An HTTP response: ``Response(body=None, status=200, headers=None, content_type=None)``.

    ``body`` may be a dict or list (sent as JSON), a str (UTF-8 text), bytes-like, or None
    (empty).  The Content-Type follows from the body unless ``content_type`` or a Content-Type in
    ``headers`` says otherwise.  ``status``, ``headers`` (a :class:`MutableHeaders`) and ``body``
    can be changed afterwards; ``body`` always reads back as bytes, and assigning a dict, list or
    str to it stores its JSON or UTF-8 bytes without touching the Content-Type.
    """

    __slots__ = ("status", "_headers", "_body")

    def __init__(self, body=None, status=200, headers=None, content_type=None):
        data, default_type = _body(body)
        self._body = data
        self.status = status
        self._headers = h = MutableHeaders(headers)
        if content_type is not None:
            h.set("Content-Type", content_type)
        elif default_type is not None and not h._values("content-type"):
            h._items.append(("Content-Type", default_type))

    @classmethod
    def _raw(cls, status, items, body):
        # For values tandem produced and checked itself.
        self = cls.__new__(cls)
        self.status = status
        h = MutableHeaders.__new__(MutableHeaders)
        h._items = items
        h._index = None
        self._headers = h
        self._body = body
        return self

    @property
    def headers(self):
        """The response header fields, a :class:`MutableHeaders`."""
        return self._headers

    @headers.setter
    def headers(self, value):
        self._headers = value if type(value) is MutableHeaders else MutableHeaders(value)

    @property
    def body(self):
        """The body as bytes."""
        return self._body

    @body.setter
    def body(self, value):
        self._body = _body(value)[0]

    @property
    def content_type(self):
        """The Content-Type header, or None."""
        return self._headers.get("Content-Type")

    def _parts(self, who):
        status = self.status
        if type(status) is not int or not 100 <= status <= 599:
            status = _status(status, who)
        body = self._body
        if type(body) is not bytes:
            body = _body(body)[0]
        return status, tuple(self._headers._items), body

    def __repr__(self):
        return "<Response %r %s, %d bytes>" % (
            self.status, self._headers.get("Content-Type"), len(self._body)
        )


def _describe(value):
    """``a set``, ``an int``, ``a mymodule.Thing``: for messages about a returned value."""
    t = type(value)
    name = t.__qualname__
    if t.__module__ != "builtins":
        name = "%s.%s" % (t.__module__, name)
    return ("an " if name[:1] in "aeiouAEIOU" else "a ") + name


def _parts(result, who):
    """Turn anything a handler may return into ``(status, header pairs, body bytes)``."""
    t = type(result)
    if t is dict or t is list:
        try:
            return 200, _JSON_HEADERS, _json_bytes(result)
        except (TypeError, ValueError, RecursionError) as exc:
            raise _InvalidReturn(
                "%s returned %s that cannot be encoded as JSON: %s" % (who, _describe(result), exc)
            ) from None
    if t is Response:
        return result._parts(who)
    if t is str:
        return 200, _TEXT_HEADERS, _text_bytes(result)
    if result is None:
        return 204, (), b""
    if t is bytes:
        return 200, _BINARY_HEADERS, result
    if t is tuple:
        return _tuple_parts(result, who)
    if isinstance(result, Response):
        return result._parts(who)
    if isinstance(result, (dict, list, str, bytes, bytearray, memoryview)):
        try:
            data, content_type = _body(result)
        except (TypeError, ValueError, RecursionError) as exc:
            raise _InvalidReturn(
                "%s returned %s that cannot be encoded as JSON: %s" % (who, _describe(result), exc)
            ) from None
        return 200, (("Content-Type", content_type),), data
    if isinstance(result, tuple):
        return _tuple_parts(tuple(result), who)
    raise _InvalidReturn(
        "%s returned %s; a handler may return %s" % (who, _describe(result), _ACCEPTED_RETURNS)
    )


def _tuple_parts(result, who):
    n = len(result)
    if n != 2 and n != 3:
        raise _InvalidReturn(
            "%s returned a tuple of %d items; a tuple must be (body, status) or "
            "(body, status, headers)" % (who, n)
        )
    status = _status(result[1], who)
    try:
        data, content_type = _body(result[0])
    except (TypeError, ValueError, RecursionError) as exc:
        raise _InvalidReturn(
            "%s returned a tuple whose body is %s: %s" % (who, _describe(result[0]), exc)
        ) from None
    headers = []
    if n == 3 and result[2] is not None:
        try:
            headers = [_header(name, value) for name, value in _header_items(result[2])]
        except (TypeError, ValueError) as exc:
            raise _InvalidReturn("%s returned invalid headers: %s" % (who, exc)) from None
    if content_type is not None:
        for name, _ in headers:
            if name.lower() == "content-type":
                break
        else:
            headers.insert(0, ("Content-Type", content_type))
    return status, tuple(headers), data


def _as_response(result, who):
    """What ``call_next`` gives a middleware: always a Response."""
    if isinstance(result, Response):
        return result
    status, headers, body = _parts(result, who)
    return Response._raw(status, list(headers), body)


def _error_response(exc, request_id):
    """The Response for an HTTPError."""
    status = exc.status
    if type(status) is not int or not 100 <= status <= 599:
        status = _status(status, "HTTPError")
    message = exc.message
    if message is None:
        message = _reason(status)
    payload = {"error": message, "status": status, "request_id": request_id}
    try:
        body = _json_bytes(payload)
    except (TypeError, ValueError, RecursionError):
        payload["error"] = str(message)
        body = _json_bytes(payload)
    items = [("Content-Type", _JSON)]
    if exc.headers:
        try:
            extra = [_header(n, v) for n, v in _header_items(exc.headers)]
        except (TypeError, ValueError) as err:
            raise _InvalidReturn("HTTPError(%d) has invalid headers: %s" % (status, err)) from None
        for name, value in extra:
            if name.lower() == "content-type":
                items[0] = (name, value)
            else:
                items.append((name, value))
    return Response._raw(status, items, body)


def _internal_error_body(request_id):
    try:
        return _json_bytes(
            {"error": "internal server error", "status": 500, "request_id": request_id}
        )
    except BaseException:
        return b'{"error":"internal server error","status":500}'


# --------------------------------------------------------------------------------------------
# Requests


def _unquote(text):
    from urllib.parse import unquote

    return unquote(text)


def _parse_query(query):
    """The ``(name, value)`` pairs of a query string.

    The same result as ``urllib.parse.parse_qsl(query, keep_blank_values=True)`` (pairs split on
    ``&``, ``+`` is a space, %-escapes are UTF-8 with invalid bytes replaced), at a third of the
    cost: most names and values need no unquoting at all.
    """
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = _unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = _unquote(value.replace("+", " "))
        pairs.append((name, value))
    return pairs


def _quoted(value, limit=100):
    if len(value) > limit:
        value = value[:limit] + "..."
    return json.dumps(value, ensure_ascii=False)


class Request:
    """The HTTP request a handler or middleware receives.

    Plain attributes: ``method``, ``path`` (percent-decoded), ``query_string`` (raw, without
    ``?``), ``request_id``, ``remote_addr`` (``ip:port``), ``scheme``, ``protocol``
    (``HTTP/1.1``), ``server_name``, ``server_port`` (str), ``route`` (the route's path pattern)
    and ``body`` (bytes).  Built on first use and then kept: ``headers`` (:class:`Headers`),
    ``params`` (path parameters, raw str), ``query`` (name -> first value), ``query_all``
    (name -> every value), ``cookies`` and ``json()``.  ``state`` is a dict for middleware to
    hand data to the handler.  Text that was not valid UTF-8 on the wire arrives decoded with
    ``surrogateescape``.
    """

    __slots__ = (
        "_route", "_meta", "_header_items", "_param_items", "body", "_log",
        "_headers", "_params", "_query", "_query_all", "_json", "_state", "_cookies",
    )

    def __init__(self, route, meta, headers, params, body):
        self._route = route
        self._meta = meta
        self._header_items = headers
        self._param_items = params
        self.body = body
        self._log = None

    def _note(self, text):
        if self._log is None:
            self._log = [text]
        else:
            self._log.append(text)

    @property
    def method(self):
        """The request method, e.g. ``GET``."""
        return self._meta[0]

    @property
    def path(self):
        """The percent-decoded request path."""
        return self._meta[1]

    @property
    def query_string(self):
        """The raw query string, without the ``?``."""
        return self._meta[2]

    @property
    def request_id(self):
        """The id the server gave this request (also in logs and error bodies)."""
        return self._meta[3]

    @property
    def remote_addr(self):
        """The client address as ``ip:port``."""
        return self._meta[4]

    @property
    def scheme(self):
        """``http`` or ``https``."""
        return self._meta[5]

    @property
    def protocol(self):
        """The protocol, e.g. ``HTTP/1.1``."""
        return self._meta[6]

    @property
    def server_name(self):
        """The name of the server that received the request."""
        return self._meta[7]

    @property
    def server_port(self):
        """The port of the server that received the request, as text."""
        return self._meta[8]

    @property
    def route(self):
        """The path pattern of the matched route, e.g. ``/hello/:name``."""
        return self._route.path

    @property
    def headers(self):
        """The request header fields, a read-only case-insensitive :class:`Headers`."""
        try:
            return self._headers
        except AttributeError:
            headers = self._headers = Headers._wrap(self._header_items)
            return headers

    @property
    def params(self):
        """The path parameters as a dict of raw str (the ``*`` wildcard under ``"*"``)."""
        try:
            return self._params
        except AttributeError:
            params = self._params = dict(self._param_items)
            return params

    @property
    def query_all(self):
        """The query parameters as a dict name -> list of every value, in order."""
        try:
            return self._query_all
        except AttributeError:
            pass
        result = {}
        query = self._meta[2]
        if query:
            for name, value in _parse_query(query):
                values = result.get(name)
                if values is None:
                    result[name] = [value]
                else:
                    values.append(value)
        self._query_all = result
        return result

    @property
    def query(self):
        """The query parameters as a dict name -> first value."""
        try:
            return self._query
        except AttributeError:
            query = self._query = {k: v[0] for k, v in self.query_all.items()}
            return query

    @property
    def cookies(self):
        """The cookies of the Cookie header(s) as a dict name -> value (first wins)."""
        try:
            return self._cookies
        except AttributeError:
            pass
        jar = {}
        for header in self.headers._values("cookie"):
            for part in header.split(";"):
                name, sep, value = part.partition("=")
                name = name.strip()
                if not sep or not name:
                    continue
                value = value.strip()
                if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                    value = value[1:-1]
                jar.setdefault(name, value)
        self._cookies = jar
        return jar

    @property
    def state(self):
        """A dict, empty at first, for middleware to hand data to the handler."""
        try:
            return self._state
        except AttributeError:
            state = self._state = {}
            return state

    @property
    def content_type(self):
        """The Content-Type header, or None."""
        return self.headers.get("Content-Type")

    @property
    def content_length(self):
        """The length of the body in bytes (the server reads the whole body first)."""
        return len(self.body)

    @property
    def host(self):
        """The Host header, else ``server_name[:server_port]``."""
        host = self.headers.get("Host")
        if host:
            return host
        meta = self._meta
        port = meta[8]
        if not port or (meta[5], port) in (("http", "80"), ("https", "443")):
            return meta[7]
        return "%s:%s" % (meta[7], port)

    @property
    def url(self):
        """The full URL: scheme, host, percent-encoded path and query."""
        from urllib.parse import quote

        meta = self._meta
        path = quote(meta[1].encode("utf-8", "surrogateescape"), safe="/:@!$&'()*+,;=~")
        url = "%s://%s%s" % (meta[5], self.host, path)
        return url + "?" + meta[2] if meta[2] else url

    def _charset(self):
        content_type = self.headers.get("Content-Type")
        if content_type:
            for param in content_type.split(";")[1:]:
                name, _, value = param.partition("=")
                if name.strip().lower() == "charset":
                    value = value.strip().strip('"').strip()
                    if value:
                        return value
        return "utf-8"

    def text(self):
        """The body decoded by the Content-Type charset (UTF-8 when none is given).

        Raises HTTPError 400 when the body does not decode or the charset is unknown.
        """
        charset = self._charset()
        try:
            return bytes(self.body).decode(charset)
        except (LookupError, ValueError) as exc:
            if isinstance(exc, UnicodeDecodeError):
                raise HTTPError(
                    400,
                    "request body is not valid %s: %s at byte %d" % (charset, exc.reason, exc.start),
                ) from None
            # An unknown name, a codec that is not a text encoding ("undefined"), a name
            # with a NUL or that is not ASCII.
            raise HTTPError(
                400, "request body has an unknown charset %s" % _quoted(charset)
            ) from None
        except UnicodeDecodeError as exc:
            raise HTTPError(
                400,
                "request body is not valid %s: %s at byte %d" % (charset, exc.reason, exc.start),
            ) from None

    def json(self):
        """The body parsed as JSON, whatever the Content-Type; parsed once and kept.

        Raises HTTPError 400 ``request body is not valid JSON: <detail>`` when it does not parse.
        """
        try:
            return self._json
        except AttributeError:
            pass
        try:
            value = json.loads(self.body, parse_constant=_no_constant)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
            raise HTTPError(400, "request body is not valid JSON: %s" % exc) from None
        except RecursionError:
            raise HTTPError(400, "request body is not valid JSON: nested too deeply") from None
        self._json = value
        return value

    def __repr__(self):
        return "<Request %s %s id=%s>" % (self._meta[0], self._meta[1], self._meta[3])


# --------------------------------------------------------------------------------------------
# Interpreter setup


class Worker:
    """The worker an interpreter serves, given to the ``python.init`` hook (read-only).

    ``index`` counts from 0 to ``count - 1``; ``cpu`` is the logical CPU the worker is pinned to,
    or None when unpinned; ``isolation`` is ``"own_gil"`` or ``"shared"``.
    """

    __slots__ = ("_index", "_cpu", "_count", "_isolation")

    def __init__(self, index, cpu, count, isolation="own_gil"):
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_cpu", cpu)
        object.__setattr__(self, "_count", count)
        object.__setattr__(self, "_isolation", isolation)

    def __setattr__(self, name, value):
        raise AttributeError("tandem.Worker is read-only")

    __delattr__ = __setattr__

    index = property(lambda self: self._index, doc="The worker's number, from 0.")
    cpu = property(lambda self: self._cpu, doc="The logical CPU it is pinned to, or None.")
    count = property(lambda self: self._count, doc="How many workers serve the policy.")
    isolation = property(lambda self: self._isolation, doc='"own_gil" or "shared".')

    def __repr__(self):
        return "Worker(index=%r, cpu=%r, count=%r, isolation=%r)" % (
            self._index, self._cpu, self._count, self._isolation
        )


def _this_file():
    return _this_file.__code__.co_filename


_THIS_FILE = _this_file()


def _trim(te):
    # Leave out tandem's own frames, except where the exception was raised: the user reads
    # their code, and a bug in tandem still shows its last frame.
    stack = te.stack
    if len(stack) > 1 and any(f.filename == _THIS_FILE for f in stack[:-1]):
        import traceback

        te.stack = traceback.StackSummary.from_list(
            [f for f in stack[:-1] if f.filename != _THIS_FILE] + [stack[-1]]
        )


def _format_exception(exc, routes=None):
    """The traceback of ``exc`` as text, without tandem's frames, plus a hint where one helps.

    ``routes`` names the route(s) concerned, for the hint.
    """
    try:
        import traceback

        te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        seen = set()
        node = te
        while node is not None and id(node) not in seen:
            seen.add(id(node))
            _trim(node)
            node = node.__cause__ or (None if node.__suppress_context__ else node.__context__)
        text = "".join(te.format()).rstrip("\n")
    except BaseException:
        text = "%s: %r (tandem could not format the traceback)" % (type(exc).__name__, exc)
    hint = _hint(exc, routes)
    return text + "\n" + hint if hint else text


def _refusal(exc):
    """The ImportError in ``exc``'s chain saying an extension refuses sub-interpreters."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ImportError) and _SUBINTERPRETER_REFUSAL in str(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _hint(exc, routes=None):
    refused = _refusal(exc)
    if refused is None:
        return ""
    found = _refused_module.search(str(refused))
    module = found.group(1) if found else (refused.name or "an extension module")
    where = " (%s)" % routes if routes else ""
    return (
        "hint: the extension module %s does not support a per-interpreter GIL (PEP 684), so it "
        "cannot load in an own-GIL worker interpreter. The route(s) using it%s must run with "
        "`python: {isolation: shared}` in the policy." % (module, where)
    )


def _config_object(text):
    try:
        config = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError("not JSON: %s" % exc) from None
    if not isinstance(config, dict):
        raise ValueError("expected a JSON object, got %s" % type(config).__name__)
    return config


def _strings(config, key):
    value = config.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(type(v) is str for v in value):
        raise ValueError('"%s" must be a list of strings' % key)
    return value


# The init hooks that already ran in this interpreter.  In shared mode every worker sets up the
# one main interpreter, and a reload sets it up again: a hook still runs once per interpreter.
# This is interpreter state, not dispatcher state, hence module-level.
_inits_done = set()
_inits_lock = allocate_lock()


def _setup_interpreter(config_json):
    """Prepare this interpreter (sys.path, virtualenv, init hook); None or an error text.

    Safe to call again in the same interpreter (shared mode calls it for every worker): paths
    are not added twice and an init hook that succeeded does not run again.
    """
    text = _setup(config_json)
    return None if text is None else _utf8_safe(text)


def _setup(config_json):
    try:
        config = _config_object(config_json)
        paths = _strings(config, "path")
        site_packages = _strings(config, "site_packages")
        executable = config.get("executable")
        if executable is not None and type(executable) is not str:
            raise ValueError('"executable" must be a string or null')
        init = config.get("init")
        if init is not None and type(init) is not str:
            raise ValueError('"init" must be a string "module:function" or null')
        info = config.get("worker") or {}
        if not isinstance(info, dict):
            raise ValueError('"worker" must be an object')
    except (TypeError, ValueError) as exc:
        return "tandem: invalid interpreter configuration: %s" % exc
    try:
        for entry in reversed(paths):
            while entry in sys.path:
                sys.path.remove(entry)
            sys.path.insert(0, entry)
        if site_packages:
            import site

            for entry in site_packages:
                site.addsitedir(entry)
        if executable:
            sys.executable = executable
        worker = Worker(
            info.get("index", 0), info.get("cpu"), info.get("count", 1),
            config.get("isolation") or "own_gil",
        )
    except BaseException as exc:
        return "tandem: cannot prepare the interpreter:\n" + _format_exception(exc)
    if not init:
        return None
    with _inits_lock:
        if init in _inits_done:
            return None
        text = _run_init(init, worker)
        if text is None:
            _inits_done.add(init)
        return text


def _run_init(init, worker):
    try:
        fn = _Loader().resolve(init, "python.init")
    except _SetupError as exc:
        return "python.init: " + str(exc)
    except _ImportFailed as failed:
        return "python.init %s: %s" % (init, failed.failure.text("every route"))
    except BaseException as exc:
        return "python.init %s could not be loaded:\n%s" % (init, _format_exception(exc))
    try:
        fn(worker)
    except BaseException as exc:
        return "python.init %s failed in worker %s:\n%s" % (
            init, worker.index, _format_exception(exc)
        )
    return None


# --------------------------------------------------------------------------------------------
# Route setup: imports, signatures, binding plans


class _ImportFailure:
    """One module that failed to import, with every route and role that needed it."""

    def __init__(self, module, exc):
        self.module = module
        self.exc = exc
        self.users = []

    def text(self, users=None):
        users = users or ", ".join(self.users)
        exc = self.exc
        heading = 'cannot import module "%s" (needed by %s)' % (self.module, users)
        missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
        if missing and (self.module == missing or self.module.startswith(missing + ".")):
            # The target itself is not on sys.path: its traceback is only tandem's frames.
            return (
                "%s: %s: %s\nhint: add the folder that contains it to python.path in the policy "
                "(sys.path is %s)" % (heading, type(exc).__name__, exc, sys.path)
            )
        text = "%s:\n%s" % (heading, _format_exception(exc, users))
        if missing:
            text += (
                "\nhint: install %s where this Python finds it (python.runtime may name a "
                "virtualenv)" % missing.partition(".")[0]
            )
        return text


class _Loader:
    """Imports targets once per dispatcher build and remembers which modules failed."""

    def __init__(self):
        self.failures = {}

    def resolve(self, target, role):
        if type(target) is not str:
            raise _SetupError("%s must be a string module:function, not %r" % (role, target))
        module_name, sep, attr_path = target.partition(":")
        if not sep or not module_name.strip() or not attr_path.strip():
            raise _SetupError('%s "%s" is not of the form module:function' % (role, target))
        module_name = module_name.strip()
        failure = self.failures.get(module_name)
        if failure is not None:
            raise failure
        try:
            # __import__ (not importlib.import_module) so that CPython drops importlib's own
            # frames from the traceback the user reads.
            __import__(module_name)
            module = sys.modules[module_name]
        except BaseException as exc:
            failure = self.failures[module_name] = _ImportFailed(_ImportFailure(module_name, exc))
            raise failure from None
        obj = module
        for attr in attr_path.strip().split("."):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise _SetupError(
                    '%s "%s": module "%s" has no attribute "%s"'
                    % (role, target, module_name, attr_path.strip())
                ) from None
        if not callable(obj):
            raise _SetupError(
                '%s "%s" is %s, not a function' % (role, target, _describe(obj))
            )
        return obj


class _ImportFailed(Exception):
    def __init__(self, failure):
        super().__init__(failure.module)
        self.failure = failure


class _Route:
    """One route of the dispatcher's configuration."""

    __slots__ = ("id", "kind", "path", "target", "params", "middleware", "label")

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a route must be an object, not %s" % type(spec).__name__)
        self.id = spec.get("id")
        self.kind = spec.get("kind", "python")
        self.path = spec.get("path", "")
        self.target = spec.get("target")
        if type(self.id) is not int:
            raise ValueError('route "%s": "id" must be an int' % self.path)
        for key in ("kind", "path", "target"):
            if type(getattr(self, key)) is not str:
                raise ValueError('route "%s": "%s" must be a string' % (self.path, key))
        self.params = tuple(_strings(spec, "params"))
        self.middleware = tuple(_strings(spec, "middleware"))
        self.label = 'route "%s" (%s %s)' % (self.path, self.kind, self.target)


_BOOLS = {
    "true": True, "1": True, "yes": True, "on": True,
    "false": False, "0": False, "no": False, "off": False,
}


def _to_bool(value):
    try:
        return _BOOLS[value.lower()]
    except KeyError:
        raise ValueError(value) from None


def _to_bytes(value):
    return value.encode("utf-8", "surrogateescape")


def _no_constant(name):
    """json.loads' parse_constant: NaN and Infinity are not JSON (RFC 8259)."""
    raise ValueError("%s is not a JSON value" % name)


_INT = re.compile(r"[+-]?[0-9]+\Z", re.ASCII)


def _to_int(text):
    """An int from ASCII decimal digits with an optional sign: what a URL means by a number,
    not all Python's int() accepts (spaces, underscores, other scripts' digits)."""
    if not _INT.match(text):
        raise ValueError("not a decimal integer")
    return int(text)


_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z", re.ASCII)


def _to_float(text):
    """A finite float written in ASCII decimal: no inf, nan, underscores or spaces, and no
    value too large to be finite (JSON cannot carry those back)."""
    if not _FLOAT.match(text):
        raise ValueError("not a decimal number")
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


_CONVERTERS = {
    str: (None, "str"),
    int: (_to_int, "int"),
    float: (_to_float, "float"),
    bool: (_to_bool, "bool (true/false/1/0/yes/no/on/off)"),
    bytes: (_to_bytes, "bytes"),
}

_CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError)

# Calling these with the text would split it into characters: not a conversion.
_CONTAINERS = (tuple, set, frozenset, dict, bytearray, memoryview)


def _evaluate(annotation, globalns):
    """Resolve string and forward-reference annotations with the function's globals."""
    if isinstance(annotation, str):
        return eval(annotation, globalns)  # noqa: S307 - the handler's own annotation
    arg = getattr(annotation, "__forward_arg__", None)
    if isinstance(arg, str):
        return eval(arg, globalns)  # noqa: S307
    return annotation


def _optional(convert):
    def optional(value):
        return None if value == "" else convert(value)

    return optional


def _converter(annotation, globalns):
    """``(convert or None, type name, is_list)`` for a parameter annotation.

    Raises _SetupError for an annotation tandem cannot convert text into.
    """
    annotation = _evaluate(annotation, globalns)
    if annotation is inspect.Parameter.empty or annotation is object:
        return None, "str", False
    found = _CONVERTERS.get(annotation) if isinstance(annotation, type) else None
    if found is not None:
        return found[0], found[1], False
    import typing

    if annotation is typing.Any:
        return None, "str", False
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # the metadata is not a type: leave it alone
        return _converter(typing.get_args(annotation)[0], globalns)
    args = [_evaluate(a, globalns) for a in typing.get_args(annotation)]
    if origin is typing.Union or origin is type(int | None):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            convert, name, is_list = _converter(rest[0], globalns)
            if convert is not None and not is_list:
                convert = _optional(convert)
            return convert, name, is_list
        raise _SetupError(
            "unsupported annotation %s: only Optional[T] unions convert" % _type_name(annotation)
        )
    if annotation is list or origin is list:
        item = args[0] if args else str
        convert, name, is_list = _converter(item, globalns)
        if is_list:
            raise _SetupError("unsupported annotation %s: lists of lists" % _type_name(annotation))
        return convert, name, True
    if isinstance(annotation, type) and origin is None and annotation not in _CONTAINERS:
        # Any other class converts by calling it with the text: uuid.UUID, an Enum, Decimal...
        return annotation, annotation.__name__, False
    raise _SetupError("unsupported annotation %s" % _type_name(annotation))


def _type_name(annotation):
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def _globals_of(fn):
    target = inspect.unwrap(fn) if callable(fn) else fn
    candidates = (
        target, getattr(target, "__func__", None), getattr(target, "func", None),
        getattr(type(target), "__call__", None),
    )
    for candidate in candidates:
        namespace = getattr(candidate, "__globals__", None)
        if isinstance(namespace, dict):
            return namespace
    module = sys.modules.get(getattr(target, "__module__", None) or "")
    return vars(module) if module is not None else {}


_BUILD_MEMO = None


def _signature(fn):
    memo = _BUILD_MEMO
    if memo is not None:
        try:
            return memo[("sig", fn)]
        except (KeyError, TypeError):
            pass
    sig = _signature_uncached(fn)
    if memo is not None:
        try:
            memo[("sig", fn)] = sig
        except TypeError:
            pass
    return sig


def _signature_uncached(fn):
    if sys.version_info >= (3, 14):
        import annotationlib

        return inspect.signature(fn, annotation_format=annotationlib.Format.FORWARDREF)
    return inspect.signature(fn)


def _plan_handler(fn, route, target):
    """Return ``call(request)`` that binds and calls ``fn``; raise _SetupError if it cannot.

    The parameter named ``request`` (or annotated ``tandem.Request``) gets the Request; a
    parameter named like a path parameter gets its converted value; any other parameter must
    have a default and reads the query parameter of its name; ``**kwargs`` gets the path
    parameters nothing else took.  The ``*`` wildcard stays in ``request.params`` unless there is
    a ``**kwargs``.
    """
    where = 'route "%s": handler %s' % (route.path, target)
    if _is_async(fn):
        raise _SetupError("%s is a coroutine function: tandem calls handlers synchronously, "
                          "define it with def" % where)
    try:
        signature = _signature(fn)
    except (TypeError, ValueError) as exc:
        raise _SetupError("%s: cannot read its signature: %s" % (where, exc)) from None
    globalns = _globals_of(fn)
    route_params = route.params
    path_plan = {}  # path parameter -> (argument name, convert, type name)
    query_plan = []  # (query parameter, convert, type name, is_list)
    request_args = []  # argument names that receive the Request
    positional = []  # positional-only parameters, in order
    defaults = {}
    var_keyword = False
    bound = []  # (parameter, source) for every parameter that gets a value
    for param in signature.parameters.values():
        name = param.name
        kind = param.kind
        if kind is param.VAR_POSITIONAL:
            continue
        if kind is param.VAR_KEYWORD:
            var_keyword = True
            continue
        if kind is param.POSITIONAL_ONLY:
            positional.append(name)
        if param.default is not param.empty:
            defaults[name] = param.default
        try:
            annotation = _evaluate(param.annotation, globalns)
        except Exception:
            annotation = param.annotation
        if name == "request" or annotation is Request:
            if name in route_params:
                raise _SetupError(
                    '%s: the path parameter "%s" clashes with the request parameter' % (where, name)
                )
            request_args.append(name)
            bound.append((param, "request"))
            continue
        if name in route_params:
            source = "path"
        elif param.default is not param.empty:
            source = "query"
        else:
            raise _SetupError(
                '%s: parameter "%s" has no default and is neither "request" nor a path parameter '
                "of the route (path parameters: %s); give it a default to read it from the "
                "query string" % (where, name, ", ".join(route_params) or "none")
            )
        try:
            convert, type_name, is_list = _converter(param.annotation, globalns)
        except _SetupError as exc:
            raise _SetupError('%s: parameter "%s": %s' % (where, name, exc)) from None
        except Exception as exc:
            raise _SetupError(
                '%s: parameter "%s": cannot resolve its annotation %r: %s: %s'
                % (where, name, param.annotation, type(exc).__name__, exc)
            ) from None
        if source == "path":
            if is_list:
                raise _SetupError(
                    '%s: path parameter "%s" cannot be a list (only query parameters repeat)'
                    % (where, name)
                )
            path_plan[name] = (name, convert, type_name)
        else:
            query_plan.append((name, convert, type_name, is_list))
        bound.append((param, source))
    for name in route_params:
        if name not in path_plan and name != "*" and not var_keyword:
            raise _SetupError(
                '%s cannot accept the path parameter "%s": add a parameter named %s or **kwargs'
                % (where, name, name)
            )
    if not var_keyword:
        # The common shapes skip the binder: fn() and fn(request).
        if not bound:
            return lambda request: fn()
        if len(bound) == 1 and bound[0][1] == "request" and bound[0][0].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
        ):
            return fn
        if (not query_plan and not positional and "*" not in route_params
                and all(convert is None for _, convert, _ in path_plan.values())):
            # Only str path parameters, named as in the route: the pairs are the arguments.
            return _path_binder(fn, tuple(request_args))
    return _binder(fn, path_plan, query_plan, tuple(request_args), tuple(positional),
                   defaults, var_keyword)


def _path_binder(fn, request_args):
    if len(request_args) == 1:
        request_arg = request_args[0]

        def call(request):
            kwargs = dict(request._param_items)
            kwargs[request_arg] = request
            return fn(**kwargs)

        return call

    def call(request):
        kwargs = dict(request._param_items)
        for name in request_args:
            kwargs[name] = request
        return fn(**kwargs)

    return call


def _binder(fn, path_plan, query_plan, request_args, positional, defaults, var_keyword):
    query_plan = tuple(query_plan) or None

    def call(request):
        kwargs = {}
        for name, value in request._param_items:
            plan = path_plan.get(name)
            if plan is None:
                if var_keyword:
                    kwargs[name] = value
                continue
            convert = plan[1]
            if convert is not None:
                try:
                    value = convert(value)
                except _CONVERSION_ERRORS:
                    raise HTTPError(400, 'path parameter "%s": expected %s, got %s'
                                    % (name, plan[2], _quoted(value))) from None
            kwargs[plan[0]] = value
        if query_plan is not None and request._meta[2]:
            query = request.query_all
            for name, convert, type_name, is_list in query_plan:
                values = query.get(name)
                if values is None:
                    continue
                try:
                    if is_list:
                        kwargs[name] = (values[:] if convert is None
                                        else [convert(v) for v in values])
                    else:
                        kwargs[name] = values[0] if convert is None else convert(values[0])
                except _CONVERSION_ERRORS:
                    bad = values[0]
                    if is_list:
                        for bad in values:
                            try:
                                convert(bad)
                            except _CONVERSION_ERRORS:
                                break
                    raise HTTPError(400, 'query parameter "%s": expected %s, got %s'
                                    % (name, type_name, _quoted(bad))) from None
        for name in request_args:
            kwargs[name] = request
        if positional:
            args = [kwargs.pop(n) if n in kwargs else defaults.get(n) for n in positional]
            return fn(*args, **kwargs)
        return fn(**kwargs)

    return call


def _is_async(fn):
    memo = _BUILD_MEMO
    if memo is not None:
        try:
            return memo[("async", fn)]
        except (KeyError, TypeError):
            pass
    r = _is_async_uncached(fn)
    if memo is not None:
        try:
            memo[("async", fn)] = r
        except TypeError:
            pass
    return r


def _is_async_uncached(fn):
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)
    )


def _check_middleware(fn, route, target):
    if _is_async(fn):
        raise _SetupError(
            'route "%s": middleware %s is a coroutine function: tandem calls middleware '
            "synchronously, define it with def" % (route.path, target)
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, None)
    except TypeError as exc:
        raise _SetupError(
            'route "%s": middleware %s must accept (request, call_next): %s'
            % (route.path, target, exc)
        ) from None


# --------------------------------------------------------------------------------------------
# WSGI (PEP 3333)


def _native(text):
    """PEP 3333 native string: the text's bytes (UTF-8, surrogates restored) as latin-1."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _unnative(text):
    """A latin-1 native header value back to text: its bytes as UTF-8 where they are."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _split_wildcard(path, wildcard):
    """(SCRIPT_NAME, PATH_INFO) for a route ending in ``/*`` whose ``*`` matched ``wildcard``."""
    candidates = (wildcard, _unquote(wildcard)) if "%" in wildcard else (wildcard,)
    for tail in candidates:
        if path.endswith(tail):
            prefix = path[: len(path) - len(tail)]
            if prefix.endswith("/"):
                return prefix[:-1], "/" + tail
            if not tail:
                return prefix, ""
    return "", path


def _wsgi_status_line(status):
    if type(status) is not str:
        raise TypeError("WSGI status must be a str, not %s" % type(status).__name__)
    matched = _wsgi_status(status)
    if matched is None or not status.isascii():
        raise ValueError('WSGI status %r is not of the form "200 OK"' % (status,))
    return int(matched.group(1))


def _wsgi_headers(headers):
    if not isinstance(headers, list):
        raise TypeError("WSGI response headers must be a list, not %s" % type(headers).__name__)
    items = []
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2:
            raise TypeError("WSGI response headers must be (name, value) tuples, not %r" % (pair,))
        name, value = pair
        if type(name) is not str or type(value) is not str:
            raise TypeError("WSGI header names and values must be str: %r" % (pair,))
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(
                "WSGI header %s: the value %r is not latin-1" % (name, value)
            ) from None
        if name.lower() in _HOP_BY_HOP:
            continue  # the server owns the connection
        items.append(_header(name, _unnative(value)))
    return items


def _wsgi_caller(app, route):
    wildcard = route.path.endswith("/*")

    def call(request):
        meta = request._meta
        method, path, query, request_id, remote, scheme, protocol, server_name, server_port = meta
        if wildcard:
            wildcard_value = ""
            for name, value in request._param_items:
                if name == "*":
                    wildcard_value = value
            script_name, path_info = _split_wildcard(path, wildcard_value)
        else:
            script_name, path_info = "", path
        host, sep, port = remote.rpartition(":")
        if not sep or "]" in port:  # no port: a bare address or [v6]
            host, port = remote, ""
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        body = request.body
        errors = io.StringIO()
        environ = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": _native(script_name),
            "PATH_INFO": _native(path_info),
            "QUERY_STRING": _native(query),
            "SERVER_NAME": _native(server_name),
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": protocol,
            "REMOTE_ADDR": host,
            "REMOTE_PORT": port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": errors,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "tandem.request_id": request_id,
            "tandem.request": request,
        }
        has_length = bool(body)
        for name, value in request._header_items:
            if "_" in name:
                continue  # X_Forwarded_For would pass for X-Forwarded-For
            key = name.upper().replace("-", "_")
            if key == "CONTENT_LENGTH":
                has_length = True
                continue
            value = _native(value)
            if key != "CONTENT_TYPE":
                key = "HTTP_" + key
            old = environ.get(key)
            if old is None:
                environ[key] = value
            else:
                environ[key] = old + ("; " if key == "HTTP_COOKIE" else ",") + value
        if has_length:
            environ["CONTENT_LENGTH"] = str(len(body))

        state = [None, None, False]  # status, headers, body started
        chunks = []

        def write(data):
            if state[0] is None:
                raise AssertionError("WSGI write() called before start_response()")
            if not isinstance(data, bytes):
                raise TypeError("WSGI write() takes bytes, not %s" % type(data).__name__)
            if data:
                state[2] = True
                chunks.append(bytes(data))

        def start_response(status, headers, exc_info=None):
            if exc_info is not None:
                try:
                    if state[2]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state[0] is not None:
                raise AssertionError("start_response() called a second time without exc_info")
            code = _wsgi_status_line(status)
            state[1] = _wsgi_headers(headers)
            state[0] = code
            return write

        try:
            result = app(environ, start_response)
            try:
                for chunk in result:
                    if not isinstance(chunk, bytes):
                        raise TypeError("the WSGI application yielded %s; it must yield bytes"
                                        % _describe(chunk))
                    if chunk:
                        if state[0] is None:
                            raise AssertionError(
                                "the WSGI application yielded body data before start_response()"
                            )
                        state[2] = True
                        chunks.append(bytes(chunk))
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if state[0] is None:
                raise RuntimeError("the WSGI application returned without calling start_response()")
        finally:
            text = errors.getvalue()
            if text:
                request._note("wsgi.errors: " + text.rstrip("\n"))
        return Response._raw(state[0], state[1], b"".join(chunks))

    return call


# --------------------------------------------------------------------------------------------
# Dispatch


def _log_text(request):
    notes = request._log
    if not notes:
        return None
    prefix = "request %s %s: " % (request._meta[3], request._route.label)
    return _utf8_safe("\n".join(prefix + note for note in notes))


_LAST_RESORT = (
    500, _JSON_HEADERS, b'{"error":"internal server error","status":500}',
    "tandem: an error happened while reporting an error",
)


def _failure(request, exc):
    """The 500 response tuple for an exception that escaped the route."""
    if request is None:
        return _LAST_RESORT
    try:
        if isinstance(exc, _InvalidReturn):
            request._note(str(exc))
        else:
            request._note("unhandled exception\n" + _format_exception(exc, request._route.label))
        return (500, _JSON_HEADERS, _internal_error_body(request._meta[3]), _log_text(request))
    except BaseException:
        return _LAST_RESORT


def _chain(stage, stage_who, middleware):
    """Wrap ``stage`` (request -> result) in middleware, first listed outermost.

    Returns ``(call, who)``: the outermost callable and the name its result is blamed on.
    """
    call, who = stage, stage_who
    for fn, mw_who in reversed(middleware):
        call = _layer(fn, _call_next(call, who))
        who = mw_who
    return call, who


def _call_next(inner, inner_who):
    def call_next(request):
        try:
            result = inner(request)
        except HTTPError as exc:
            return _error_response(exc, request._meta[3])
        return _as_response(result, inner_who)

    return call_next


def _layer(fn, call_next):
    def layer(request):
        return fn(request, call_next)

    return layer


def _runner(route, call, who):
    """The per-route function the dispatcher calls; it never raises."""

    def run(meta, headers, params, body):
        request = None
        try:
            request = Request(route, meta, headers, params, body)
            try:
                result = call(request)
            except HTTPError as exc:
                result = _error_response(exc, meta[3])
            status, out_headers, out_body = _parts(result, who)
            return (status, out_headers, out_body, _log_text(request))
        except BaseException as exc:
            return _failure(request, exc)

    return run


def _compile(route, loader, problems):
    role = "handler" if route.kind == "python" else "WSGI app"
    if route.kind not in ("python", "wsgi"):
        raise _SetupError(
            'route "%s": unknown kind "%s" (python or wsgi)' % (route.path, route.kind)
        )
    try:
        target = loader.resolve(route.target, role)
    except _ImportFailed as failed:
        failed.failure.users.append('route "%s" (%s %s)' % (route.path, role, route.target))
        target = None
    except _SetupError as exc:
        problems.append('route "%s": %s' % (route.path, exc))
        target = None
    middleware = []
    for spec in route.middleware:
        try:
            fn = loader.resolve(spec, "middleware")
        except _ImportFailed as failed:
            failed.failure.users.append('route "%s" (middleware %s)' % (route.path, spec))
            continue
        except _SetupError as exc:
            problems.append('route "%s": %s' % (route.path, exc))
            continue
        try:
            _check_middleware(fn, route, spec)
        except _SetupError as exc:
            problems.append(str(exc))
            continue
        middleware.append((fn, "middleware " + spec))
    if target is None or len(middleware) < len(route.middleware):
        return None
    if route.kind == "wsgi":
        stage = _wsgi_caller(target, route)
    else:
        stage = _plan_handler(target, route, route.target)
    call, who = _chain(stage, "%s %s" % (role, route.target), middleware)
    return _runner(route, call, who)


def _new_dispatcher(routes_json):
    """Build the dispatcher for a policy's Python routes.

    Returns ``(dispatch, None)``, or ``(None, text)`` with every problem found.  Never raises.
    """
    global _BUILD_MEMO
    try:
        _BUILD_MEMO = {}
        dispatch, error = _build_dispatcher(routes_json)
        return dispatch, None if error is None else _utf8_safe(error)
    except BaseException as exc:
        text = "tandem: cannot build the Python routes:\n" + _format_exception(exc)
        return None, _utf8_safe(text)
    finally:
        _BUILD_MEMO = None


def _build_dispatcher(routes_json):
    try:
        config = _config_object(routes_json)
        specs = config.get("routes") or []
        if not isinstance(specs, list):
            raise ValueError('"routes" must be a list')
        routes = [_Route(spec) for spec in specs]
    except (TypeError, ValueError) as exc:
        return None, "tandem: invalid Python routes configuration: %s" % exc
    loader = _Loader()
    problems = []  # str or _ImportFailure, in the order found
    table = {}
    compiled = {}
    for route in routes:
        if route.id in table:
            problems.append('route "%s": duplicate route id %d' % (route.path, route.id))
            continue
        reused = _reuse(route)
        if reused is not None:
            table[route.id] = reused[2]
            compiled[route.id] = reused
            continue
        known = len(loader.failures)
        try:
            run = _compile(route, loader, problems)
        except _SetupError as exc:
            problems.append(str(exc))
            run = None
        for failed in list(loader.failures.values())[known:]:
            problems.append(failed.failure)
        if run is not None:
            table[route.id] = run
            compiled[route.id] = (_route_key(route), _modules_of(route), run)
    if problems:
        texts = [p if isinstance(p, str) else p.text() for p in problems]
        heading = "1 problem" if len(texts) == 1 else "%d problems" % len(texts)
        return None, "%s in the Python routes:\n\n%s" % (heading, "\n\n".join(texts))

    _COMPILED.clear()
    _COMPILED.update(compiled)
    get = table.get

    def dispatch(route_id, meta, headers, params, body):
        run = get(route_id) if type(route_id) is int else None
        if run is None:
            return _unknown_route(route_id, meta)
        return run(meta, headers, params, body)

    return dispatch, None


# _COMPILED keeps, by route id, what the last dispatcher built of each
# route: (its key, the objects it was built from, its runner).  A reload
# that keeps the workers (see native.Pool.SetRoutes) rebuilds the whole
# table; a route whose id, kind, target, middleware and path are unchanged,
# and whose handler and middleware are the very objects sys.modules still
# leads to, takes its runner from here instead of being compiled again.
# In shared isolation the host drops the application's modules before new
# workers import them; the identity check then sees new objects.
_COMPILED = {}


def _route_key(route):
    return (route.kind, route.target, route.middleware, route.path, route.params)


def _modules_of(route):
    """What route's runner was built from: each "module:attr" it names with
    the object found there now (None if it cannot be found)."""
    return tuple((ref, _lookup(ref)) for ref in (route.target,) + route.middleware)


def _lookup(ref):
    name, _, attrs = ref.partition(":")
    obj = sys.modules.get(name)
    try:
        for attr in attrs.split("."):
            if obj is None:
                return None
            obj = getattr(obj, attr)
    except Exception:
        return None
    return obj


def _reuse(route):
    entry = _COMPILED.get(route.id)
    if entry is None or entry[0] != _route_key(route):
        return None
    for ref, obj in entry[1]:
        if obj is None or _lookup(ref) is not obj:
            return None
    return entry


def _unknown_route(route_id, meta):
    try:
        request_id = meta[3]
    except BaseException:
        request_id = ""
    try:
        return (
            500, _JSON_HEADERS, _internal_error_body(request_id),
            _utf8_safe("request %s: tandem has no Python route with id %r"
                       % (request_id, route_id)),
        )
    except BaseException:
        return _LAST_RESORT
