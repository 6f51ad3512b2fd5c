"""Who caused what this process is doing: the actor and the request id every event records.

An API request acts for its principal (``key:<id>`` for an API key, ``user:<sub>`` for a portal
user) under its request id; a scheduled job acts as ``job:<name>``; a consumer applying an event
acts for that event's actor and request id, so the events it publishes in turn name the person
or job at the origin of the chain. ``prm_events.envelope`` reads the cause when it builds an
event; anything that runs with no cause set (a migration, a script) is ``service:<source>``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

KEY_PREFIX = "key:"
JOB_PREFIX = "job:"
SERVICE_PREFIX = "service:"


@dataclass(frozen=True)
class Cause:
    actor: str
    request_id: str | None = None


_cause: contextvars.ContextVar[Cause | None] = contextvars.ContextVar("prm_cause", default=None)


def current() -> Cause | None:
    return _cause.get()


def set_current(cause: Cause | None) -> None:
    """Set the cause for the rest of this task (a request's, when its principal is known)."""
    _cause.set(cause)


@contextlib.contextmanager
def acting(cause: Cause | None) -> Iterator[None]:
    """Run the block under ``cause``, then restore the one before."""
    token = _cause.set(cause)
    try:
        yield
    finally:
        _cause.reset(token)


def job(name: str) -> Cause:
    return Cause(JOB_PREFIX + name)
