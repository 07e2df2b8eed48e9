"""A tiny Flask-like WSGI framework and app, to run a realistic WSGI app through tandem.

Like Flask it routes on PATH_INFO, builds URLs from SCRIPT_NAME, decodes the latin-1 native
strings of the environ back to UTF-8 text, parses the query and a JSON body, and turns
unmatched paths into 404s.
"""

import json
import re
from urllib.parse import parse_qs
from wsgiref.validate import validator


class NotFound(Exception):
    pass


class Request:
    def __init__(self, environ):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.script_root = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8")
        self.path = (environ.get("PATH_INFO", "") or "/").encode("latin-1").decode("utf-8")
        self.args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.headers = {
            k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")
        }

    def get_data(self):
        length = int(self.environ.get("CONTENT_LENGTH") or 0)
        return self.environ["wsgi.input"].read(length) if length else b""

    def get_json(self):
        return json.loads(self.get_data())

    def url_for(self, path):
        return self.script_root + path


class MiniFlask:
    def __init__(self, name):
        self.name = name
        self.rules = []

    def route(self, rule, methods=("GET",)):
        pattern = "^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", rule) + "$"

        def register(fn):
            self.rules.append((re.compile(pattern), tuple(methods), fn))
            return fn

        return register

    def dispatch(self, request):
        for pattern, methods, fn in self.rules:
            match = pattern.match(request.path)
            if match and request.method in methods:
                return fn(request, **match.groupdict())
        raise NotFound(request.path)

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            result = self.dispatch(request)
            status = "200 OK"
        except NotFound:
            result, status = {"error": "not found", "path": request.path}, "404 NOT FOUND"
        if isinstance(result, dict):
            body = json.dumps(result, ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        else:
            body = str(result).encode("utf-8")
            content_type = "text/html; charset=utf-8"
        start_response(status, [("Content-Type", content_type),
                                ("Content-Length", str(len(body)))])
        return [body]


app = MiniFlask(__name__)


@app.route("/")
def index(request):
    return "<h1>index</h1> users at " + request.url_for("/users/")


@app.route("/users/<name>")
def user(request, name):
    return {"user": name, "self": request.url_for("/users/" + name),
            "agent": request.headers.get("User-Agent"), "verbose": request.args.get("verbose")}


@app.route("/echo", methods=("POST",))
def echo(request):
    return {"echo": request.get_json()}


checked_app = validator(app)
