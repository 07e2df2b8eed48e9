"""The public index of the mixed example: no API key needed."""


def index(request):
    """GET /: what this example serves and which routes need a key."""
    return {
        "service": "mixed",
        "public": ["GET /", "GET /shop/*"],
        "needs X-Api-Key": ["GET /api/items", "POST /api/items", "GET /api/items/:id", "GET /api/slow"],
    }
