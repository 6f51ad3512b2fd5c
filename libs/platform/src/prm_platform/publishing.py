"""The lifecycle of library items that are edited as a draft and published as numbered,
unchanging versions (campaigns, enablement resources): the steps they share."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from prm_platform.problems import InvalidTransition


class Publishable(Protocol):
    status: str
    version: int
    updated_at: dt.datetime


def changed(row: Publishable) -> None:
    """A new version of the row (its ETag), now."""
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)


def retire(row: Publishable, noun: str) -> None:
    """Only a published item is retired: no new use of it; what was made from it stays."""
    if row.status != "published":
        raise InvalidTransition(f"a {row.status} {noun} is not retired (only a published one)")
    row.status = "retired"
    changed(row)
