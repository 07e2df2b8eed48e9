"""The JSON API of the mixed example, served under /api behind the auth plugin.

By the time a handler here runs, the Wasm auth plugin has checked the
X-Api-Key header and, for POST /api/items, tandem has checked the body
against schemas/item.json: the handlers trust both.
"""

import time

import tandem

from catalog import ITEMS


def list_items(request, tag: str = ""):
    """GET /api/items[?tag=kitchen]: the catalogue, optionally filtered by tag."""
    items = [item for item in ITEMS.values() if not tag or tag in item["tags"]]
    return {"items": items, "count": len(items)}


def get_item(request, id: int):
    """GET /api/items/:id: one item; id converts by its annotation."""
    item = ITEMS.get(id)
    if item is None:
        raise tandem.HTTPError(404, "no item %d" % id)
    return item


def create_item(request):
    """POST /api/items: the body already satisfies schemas/item.json.

    Answers the item it would create, with 201 and its Location; nothing is
    stored (see catalog.py).
    """
    item = request.json()
    new_id = max(ITEMS) + 1
    created = {"id": new_id, "name": item["name"], "price": item["price"], "tags": item.get("tags", [])}
    return tandem.Response(created, status=201, headers={"Location": "/api/items/%d" % new_id})


def slow(request, seconds: float = 1.5):
    """GET /api/slow[?seconds=S]: sleeps, then answers. The route's timeout is 1s,
    so the default answers 504 (the worker finishes the sleep regardless)."""
    time.sleep(seconds)
    return {"slept": seconds}
