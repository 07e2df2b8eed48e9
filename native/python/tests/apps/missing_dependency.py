"""A handler module whose dependency is not installed."""

import no_such_dependency_pkg.sub  # noqa: F401


def handler(request):
    return "unreachable"
