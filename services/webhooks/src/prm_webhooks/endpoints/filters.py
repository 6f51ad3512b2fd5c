"""Event-type filters of an endpoint.

Subscribers see the CloudEvents type unchanged (``prm.deal.registered.v1``). A filter names
types by dot-separated segments: ``*`` stands for one segment, or for one or more when it ends
the filter; the ``prm.`` prefix may be left out; a filter without the version suffix matches
every version. So ``deal.*``, ``prm.deal.*`` and ``deal.registered`` all match
``prm.deal.registered.v1``, and ``*.created`` matches ``prm.partner.created.v1``.
"""

from __future__ import annotations

import re

FILTER_PATTERN = r"^(\*|[a-z][a-z0-9_-]*(\.([a-z][a-z0-9_-]*|\*))*|\*(\.([a-z][a-z0-9_-]*|\*))+)$"
_VERSION = re.compile(r"^v[0-9]+$")


def normalise(pattern: str) -> str:
    pattern = pattern.strip()
    if pattern == "*" or pattern.startswith("prm."):
        return pattern
    return "prm." + pattern


def matches(pattern: str, event_type: str) -> bool:
    wanted = pattern.split(".")
    actual = event_type.split(".")
    for i, segment in enumerate(wanted):
        if i >= len(actual):
            return False
        if segment == "*":
            if i == len(wanted) - 1:
                return True  # a trailing * takes the rest
            continue
        if segment != actual[i]:
            return False
    return len(wanted) == len(actual) or (
        len(wanted) == len(actual) - 1 and bool(_VERSION.match(actual[-1])))


def wanted(patterns: list[str], event_type: str) -> bool:
    """An endpoint without filters wants every type."""
    return not patterns or any(matches(p, event_type) for p in patterns)
