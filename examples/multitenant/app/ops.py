"""The ops tenant's handlers: ops is trusted, so its routes may run Python."""


def hello(request, name: str = "world"):
    """GET /hello[?name=x] on ops.localhost: the same path as acme's and
    globex's, served by Python instead of Wasm."""
    return {"hello": name, "from": "python", "host": request.host}
