"""The operator's own route of the multitenant example.

A route without a tenant is the operator's: trusted, and seen only by
requests whose Host belongs to no tenant (here: localhost).
"""


def index(request):
    """GET /: which Host each tenant answers on."""
    return {
        "service": "multitenant",
        "tenants": {
            "acme": {"host": "acme.localhost", "trust": "untrusted"},
            "globex": {"host": "globex.localhost", "trust": "untrusted"},
            "ops": {"host": "ops.localhost", "trust": "trusted"},
        },
    }
