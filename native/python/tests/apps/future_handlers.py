"""Handlers whose annotations are strings (PEP 563), resolved by tandem with these globals."""

from __future__ import annotations

import typing

import tandem

Count = int  # an alias only this module's globals know


def typed(request: tandem.Request, n: Count, flag: bool, maybe: typing.Optional[float] = None,
          ids: list[int] = [], opt: int | None = None):
    return {"n": n, "flag": flag, "maybe": maybe, "ids": ids, "opt": opt}


def unresolvable(request, n: NoSuchType):  # noqa: F821 - the point of the test
    return {"n": n}


def unresolvable_but_unused(request: NoSuchType):  # noqa: F821 - request annotations are not read
    return "ok"
