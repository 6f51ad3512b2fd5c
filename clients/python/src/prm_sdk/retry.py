"""When a call is tried again, and after how long.

Every POST carries an ``Idempotency-Key`` (one per logical call, the caller's own if given) and
sends the same key on every attempt, so a retry never applies a change twice. An answer of 429
or 503 (or 409 ``idempotency-key-in-use``: the first attempt is still running) is tried again
after its ``Retry-After``, a network error after a bounded exponential backoff with jitter.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import uuid
from dataclasses import dataclass

import httpx

IN_USE = "/problems/idempotency-key-in-use"


@dataclass(frozen=True)
class RetryPolicy:
    #: Retries after the first attempt (0 never retries).
    retries: int = 3
    #: The first backoff in seconds, doubled at each retry.
    min_delay: float = 0.25
    #: No backoff is longer than this.
    max_delay: float = 5.0
    #: The longest ``Retry-After`` waited for: an answer asking for longer is raised at once.
    max_retry_after: float = 60.0
    #: The statuses tried again.
    statuses: frozenset[int] = frozenset({429, 503})

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0 for the first): full jitter under a cap."""
        return random.uniform(0, min(self.max_delay, self.min_delay * 2 ** attempt))

    def delay(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before trying this answer again, or None not to."""
        if attempt >= self.retries:
            return None
        if response.status_code not in self.statuses and not key_in_use(response):
            return None
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None:
            return self.backoff(attempt)
        return wait if wait <= self.max_retry_after else None


NO_RETRIES = RetryPolicy(retries=0)


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def key_in_use(response: httpx.Response) -> bool:
    """A 409 saying the request with this Idempotency-Key is still being processed."""
    if response.status_code != 409 or "problem+json" not in response.headers.get(
            "content-type", ""):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("type", "")).endswith(IN_USE)
