"""The soak's Python and WSGI handlers (bench/soak, docs/reliability.md).

The soak rewrites the GENERATION line for its Python reloads: a file under
python.path that changes makes a reload start new workers, which import it
again, and the answers of /py/hello say which generation served them.
"""

import time

GENERATION = 0


def hello(request, name: str):
    return {"hello": name, "generation": GENERATION}


def echo(request):
    return {"echo": request.json(), "generation": GENERATION}


def boom(request):
    """The slice of failing handlers: a 500 every time."""
    raise RuntimeError("the soak's failing handler")


def slow(request, seconds: float = 0.15):
    """The slice of timing-out requests: the route's timeout is shorter."""
    time.sleep(seconds)
    return {"slept": seconds}


def app(environ, start_response):
    """A PEP 3333 application under /wsgi/."""
    body = ("%s %s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"], GENERATION)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
