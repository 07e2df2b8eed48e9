"""Handlers exercising tandem's binding, return conversions and errors."""

import enum
import typing
import uuid

import tandem


# --- shapes of signatures -------------------------------------------------------------------

def noop(request):
    return {"ok": True}


def no_args():
    return "no args"


def hello(request, name: str):
    return {"hello": name}


def hello_no_request(name):
    return {"hello": name}


def request_last(name: str, request):
    return {"name": name, "method": request.method}


def request_keyword_only(*, request, name):
    return {"name": name, "path": request.path}


def request_by_annotation(req: tandem.Request, name: str):
    return {"name": name, "path": req.path}


def positional_only(request, name: str, /, page: int = 1):
    return {"name": name, "page": page, "path": request.path}


def var_positional(request, *args):
    return {"args": list(args)}


def typed(request, i: int, f: float, b: bool, raw: bytes, s: str):
    return {
        "i": i, "f": f, "b": b, "raw": list(raw), "s": s,
        "types": [type(v).__name__ for v in (i, f, b, raw, s)],
    }


def optional_path(request, n: typing.Optional[int]):
    return {"n": n}


def union_none_path(request, n: "int | None"):
    return {"n": n}


def annotated(request, n: typing.Annotated[int, "a count"]):
    return {"n": n}


def unannotated(request, x):
    return {"x": x, "type": type(x).__name__}


def query(request, q: str = "", page: int = 1, ratio: float = 0.5, verbose: bool = False,
          limit: typing.Optional[int] = None):
    return {"q": q, "page": page, "ratio": ratio, "verbose": verbose, "limit": limit}


def query_lists(request, ids: list[int] = [], tags: typing.List[str] = (), raw: list = []):
    return {"ids": ids, "tags": list(tags), "raw": raw}


def query_default_is_sentinel(request, missing: int = -1):
    return {"missing": missing}


def path_and_query(request, id: int, sort: str = "asc"):
    return {"id": id, "sort": sort}


def kwargs_catch(request, id: int, **rest):
    return {"id": id, "rest": rest}


def kwargs_only(**rest):
    return {"rest": rest}


def wildcard(request):
    return {"wild": request.params["*"]}


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


def custom_types(request, color: Color, key: uuid.UUID):
    return {"color": color.name, "key": str(key)}


class Callable:
    """A handler that is an instance with __call__."""

    def __call__(self, request, name: str):
        return {"called": name}


callable_instance = Callable()


class Views:
    def method(self, request, name: str):
        return {"method": name}


bound_method = Views().method


# --- return values --------------------------------------------------------------------------

def ret_dict(request):
    return {"message": "héllo ✓", "n": [1, 2.5, None, True]}


def ret_list(request):
    return [1, "two", {"three": 3}]


def ret_str(request):
    return "héllo"


def ret_bytes(request):
    return b"\x00\x01binary"


def ret_bytearray(request):
    return bytearray(b"ba")


def ret_memoryview(request):
    return memoryview(b"mv")


def ret_none(request):
    return None


def ret_tuple2(request):
    return {"created": True}, 201


def ret_tuple3_dict(request):
    return "teapot", 418, {"X-Kind": "teapot", "Set-Cookie": ["a=1", "b=2"]}


def ret_tuple3_pairs(request):
    return b"data", 200, [("Content-Type", "image/png"), ("X-A", "1"), ("X-A", "2")]


def ret_tuple_none_body(request):
    return None, 202


def ret_response(request):
    return tandem.Response({"id": 1}, status=201, headers={"Location": "/items/1"})


def ret_response_content_type(request):
    return tandem.Response("<p>hi</p>", content_type="text/html; charset=utf-8")


def ret_response_mutated(request):
    response = tandem.Response("x")
    response.status = 202
    response.body = {"changed": True}
    response.headers["Content-Type"] = "application/json"
    response.headers.add("X-Multi", "1")
    response.headers.add("X-Multi", "2")
    return response


def ret_set(request):
    return {1, 2}


def ret_int(request):
    return 42


def ret_unserializable(request):
    return {"when": object()}


def ret_nan(request):
    return {"x": float("nan")}


def ret_circular(request):
    data = []
    data.append(data)
    return data


def ret_bad_status(request):
    return "x", 700


def ret_bool_status(request):
    return "x", True


def ret_long_tuple(request):
    return "x", 200, {}, "extra"


def ret_bad_header_name(request):
    return "x", 200, {"Bad Name": "v"}


def ret_bad_header_value(request):
    return "x", 200, {"X-Split": "a\r\nInjected: yes"}


def ret_nul_header_value(request):
    return "x", 200, [("X-Nul", "a\x00b")]


def ret_nonstr_header_value(request):
    return "x", 200, {"X-Float": 1.5}


def ret_int_header_value(request):
    return "x", 200, {"X-Count": 3}


def ret_response_bad_status(request):
    response = tandem.Response("x")
    response.status = "200"
    return response


def ret_http_status_enum(request):
    import http

    return "made", http.HTTPStatus.CREATED


def ret_surrogates_str(request, name: str):
    return "name=" + name


def ret_surrogates_json(request, name: str):
    return {"name": name}


def ret_set_bad_header_in_handler(request):
    response = tandem.Response("x")
    response.headers["X-Bad"] = "a\nb"
    return response


# --- errors ---------------------------------------------------------------------------------

def http_error(request):
    raise tandem.HTTPError(404, "no such item")


def http_error_no_message(request):
    raise tandem.HTTPError(403)


def http_error_headers(request):
    raise tandem.HTTPError(401, "log in first", headers={"WWW-Authenticate": 'Bearer realm="api"'})


def http_error_detail(request):
    raise tandem.HTTPError(422, {"field": "name", "problem": "missing"})


def http_error_bad_status(request):
    raise tandem.HTTPError(99, "weird")


def http_error_bad_headers(request):
    raise tandem.HTTPError(400, "x", headers={"X": "a\nb"})


def raises_value_error(request):
    raise ValueError("secret internal detail")


def raises_system_exit(request):
    raise SystemExit(3)


def catches_exception(request):
    # HandlerTimeout is not an Exception: it goes past this.
    try:
        raise tandem.HandlerTimeout
    except Exception:
        return {"caught": True}


def raises_keyboard_interrupt(request):
    raise KeyboardInterrupt


def raises_generator_exit(request):
    raise GeneratorExit


def raises_chained(request):
    try:
        {}["missing"]
    except KeyError as exc:
        raise RuntimeError("lookup failed") from exc


def raises_refused_extension(request):
    raise ImportError("module fastext does not support loading in subinterpreters")


def reads_json(request):
    first = request.json()
    return {"got": first, "same": request.json() is first}


def reads_text(request):
    return {"text": request.text()}


def echo_request(request):
    return {
        "method": request.method,
        "path": request.path,
        "query_string": request.query_string,
        "request_id": request.request_id,
        "remote_addr": request.remote_addr,
        "scheme": request.scheme,
        "protocol": request.protocol,
        "server_name": request.server_name,
        "server_port": request.server_port,
        "host": request.host,
        "url": request.url,
        "route": request.route,
        "content_type": request.content_type,
        "content_length": request.content_length,
        "params": request.params,
        "query": request.query,
        "query_all": request.query_all,
    }


def lazy_state(request):
    """Report which lazily built attributes exist before and after touching them."""

    def built():
        names = ("_headers", "_params", "_query", "_query_all", "_json", "_state", "_cookies")
        return sorted(n for n in names if hasattr(request, n))

    before = built()
    request.headers
    request.query
    after = built()
    return {"before": before, "after": after}


# --- setup errors ---------------------------------------------------------------------------

def union_param(request, x: typing.Union[int, str]):
    return {"x": x}


def nested_list(request, x: list[list[int]] = []):
    return {"x": x}


def needs_path_param_named_request(request):
    return "never"


def container_param(request, x: tuple = ()):
    return {"x": x}


def raises_with_param(request, name: str):
    raise ValueError("bad name " + name)


def ret_interim_status(request):
    return ("", 103)


def copies_headers(request):
    return tandem.Response("", headers=request.headers.copy())
