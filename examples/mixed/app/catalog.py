"""The catalogue both the API handlers and the WSGI shop read.

A plain module: every worker interpreter imports its own copy, so ITEMS is
read-only here. A real service would keep items in a database that every
worker shares.
"""

ITEMS = {
    1: {"id": 1, "name": "teapot", "price": 12.5, "tags": ["kitchen"]},
    2: {"id": 2, "name": "kettle", "price": 30, "tags": ["kitchen", "electric"]},
    3: {"id": 3, "name": "mug", "price": 8, "tags": []},
}
