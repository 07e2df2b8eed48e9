"""A raw ASGI application (no framework) doing the benchmark's work.

GET /hello/NAME answers {"hello": NAME} as tandem's benchapp.hello does;
GET /burn runs work.burn. Served by uvicorn and by gunicorn's uvicorn workers.
"""

import json

from work import burn

_HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path.startswith("/hello/"):
        status, doc = 200, {"hello": path[len("/hello/"):]}
    elif path == "/burn":
        status, doc = 200, {"total": burn()}
    else:
        status, doc = 404, {"error": "not found"}
    body = json.dumps(doc, separators=(",", ":")).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": _HEADERS + [(b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
