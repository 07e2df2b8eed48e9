"""A plain PEP 3333 application, served under /wsgi/ by the hello example.

For a route ending in /*, the matched prefix (/wsgi) is SCRIPT_NAME and the
rest is PATH_INFO, as any WSGI server mounting the app there would give it.
"""


def app(environ, start_response):
    body = "wsgi: %s script_name=%s path_info=%s\n" % (
        environ["REQUEST_METHOD"],
        environ["SCRIPT_NAME"],
        environ["PATH_INFO"],
    )
    data = body.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
