"""The hello example's handlers.

Every worker interpreter imports its own copy of this module, so module
globals are per worker: ITEMS below is a read-only catalogue, and POST /items
answers what it would create instead of storing it, since a later GET could
reach another worker that never saw it.
"""

import tandem

ITEMS = {
    1: {"id": 1, "name": "teapot", "price": 12.5},
    2: {"id": 2, "name": "kettle", "price": 30},
}


def index(request):
    """GET /: what this example serves."""
    return {
        "service": "hello",
        "routes": [
            "GET /",
            "GET /hello/:name",
            "POST /items",
            "GET /items/:id",
            "GET /error",
            "ANY /wsgi/*",
        ],
    }


def hello(request, name: str):
    """GET /hello/:name: the path parameter binds by name."""
    return {"hello": name}


def create_item(request):
    """POST /items: answers the item it would create, with 201 and its Location."""
    item = request.json()
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise tandem.HTTPError(400, 'send a JSON object with a "name"')
    new_id = len(ITEMS) + 1
    return tandem.Response({**item, "id": new_id}, status=201, headers={"Location": "/items/%d" % new_id})


def get_item(request, id: int):
    """GET /items/:id: id converts by its annotation (not a number: 400)."""
    item = ITEMS.get(id)
    if item is None:
        raise tandem.HTTPError(404, "no item %d" % id)
    return item


def fail(request):
    """GET /error: an uncaught exception is a 500 with the request id; the traceback is logged."""
    raise RuntimeError("this handler fails on purpose")
