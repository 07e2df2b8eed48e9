"""Tenant c's handler in the tenant-isolation benchmark (bench/isolation)."""


def hello(request):
    return {"hello": "c", "host": request.host}
