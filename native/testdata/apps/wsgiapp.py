"""A plain PEP 3333 application."""


def app(environ, start_response):
    body = ("%s %s %s" % (environ["REQUEST_METHOD"], environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
