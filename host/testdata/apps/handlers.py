"""Handlers for the host package's tests: one per status and feature."""

import time

import tandem


def hello(request, name: str):
    return {"hello": name}


def create(request):
    item = request.json()
    return tandem.Response(item, status=201, headers={"Location": "/items/7"})


def empty(request):
    return None


def sleep(request, seconds: float = 1.0):
    time.sleep(seconds)
    return {"slept": seconds}


def boom(request):
    raise ValueError("kaboom: a secret the client must not see")


def echo(request):
    return request.body


def size(request):
    return {"size": len(request.body)}


def params(request, **params):
    return {"params": request.params, "path": request.path}


def describe(request):
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "request_id": request.request_id,
        "remote_addr": request.remote_addr,
        "scheme": request.scheme,
        "protocol": request.protocol,
        "host": request.host,
        "server_name": request.server_name,
        "server_port": request.server_port,
        "header": request.headers.get("X-Test"),
    }


def tagged(request):
    return {"tagged": True}


def framing(request):
    # Headers that belong to the server; tandem drops them and frames the
    # response itself.
    return ("hello", 200, {"Content-Length": "100", "Transfer-Encoding": "chunked",
                           "Connection": "close", "X-Kept": "yes"})


def gated(request):
    # What the gate plugin set on the request it passed on.
    return {"gate": request.headers.get("X-Gate"), "body": request.body.decode()}
