"""A raw WSGI application (no framework) doing the benchmark's work.

GET /burn runs work.burn, GET /hello/NAME answers {"hello": NAME}: the same
code as tandem's benchapp. Served by gunicorn's sync workers.
"""

import json

from work import burn


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/burn":
        status, doc = "200 OK", {"total": burn()}
    elif path.startswith("/hello/"):
        status, doc = "200 OK", {"hello": path[len("/hello/"):]}
    else:
        status, doc = "404 Not Found", {"error": "not found"}
    body = json.dumps(doc, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
