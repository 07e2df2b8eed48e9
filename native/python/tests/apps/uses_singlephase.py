"""Imports CPython's own single-phase-init test extension, which refuses own-GIL interpreters
for real (the same failure numpy or a PyO3 extension gives)."""

import _testsinglephase  # noqa: F401


def handler(request):
    return "loaded"
