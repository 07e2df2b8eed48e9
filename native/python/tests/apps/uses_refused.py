"""A handler module whose import pulls in an extension that refuses sub-interpreters."""

from apps import refused_extension  # noqa: F401


def handler(request):
    return "unreachable"
