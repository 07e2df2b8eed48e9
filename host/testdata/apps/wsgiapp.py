"""A PEP 3333 application for the host package's tests."""


def app(environ, start_response):
    body = ("%s %s %s %s" % (
        environ["REQUEST_METHOD"], environ["SCRIPT_NAME"], environ["PATH_INFO"], environ["QUERY_STRING"],
    )).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
