"""Python middleware for the host package's tests."""


def tag(request, call_next):
    response = call_next(request)
    response.headers["X-Tag"] = "mw"
    return response
