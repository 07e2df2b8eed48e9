"""A plain PEP 3333 application, standard library only: the "legacy" shop
pages, mounted at /shop/*.

tandem gives it SCRIPT_NAME /shop (the matched prefix) and the rest as
PATH_INFO, as any WSGI server mounting it there would, so its links are
built from SCRIPT_NAME and it runs unchanged under another prefix.
"""

import html

from catalog import ITEMS


def app(environ, start_response):
    script = environ["SCRIPT_NAME"]
    path = environ["PATH_INFO"] or "/"
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
        return respond(start_response, "405 Method Not Allowed", "only GET here\n", [("Allow", "GET, HEAD")])
    if path == "/":
        rows = "".join(
            '<li><a href="%s/items/%d">%s</a></li>' % (script, item["id"], html.escape(item["name"]))
            for item in ITEMS.values()
        )
        return respond(start_response, "200 OK", "<h1>Shop</h1><ul>%s</ul>\n" % rows, html_page=True)
    if path.startswith("/items/") and path[len("/items/"):].isdigit():
        item = ITEMS.get(int(path[len("/items/"):]))
        if item is not None:
            page = "<h1>%s</h1><p>%.2f EUR</p>\n" % (html.escape(item["name"]), item["price"])
            return respond(start_response, "200 OK", page, html_page=True)
    return respond(start_response, "404 Not Found", "no page %s%s\n" % (script, path))


def respond(start_response, status, text, headers=(), html_page=False):
    data = text.encode("utf-8")
    ctype = "text/html; charset=utf-8" if html_page else "text/plain; charset=utf-8"
    # No Content-Length: framing is the server's job (tandem sets it from the body).
    start_response(status, [("Content-Type", ctype)] + list(headers))
    return [data]
