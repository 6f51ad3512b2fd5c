"""Sends due deliveries, at least once, with the same ``webhook-id`` on every try.

A worker claims due deliveries in a short transaction (``FOR UPDATE SKIP LOCKED``, so any
number of workers share the work) and holds each by a lease: a token and a time. The attempt
itself runs outside any transaction; its outcome is recorded only by the holder of the token.
A worker that dies mid-attempt (SIGKILL) leaves its leases to run out, and another worker sends
those deliveries again. Claims are fair to receivers: at most ``per_endpoint_concurrency``
deliveries of one endpoint are in flight across all workers, and at most ``rate_limit`` are
started per second, so a receiver that never answers holds up no one else. An ordered
endpoint gets an aggregate's next message only after the one before it has succeeded or
finally failed. The deliveries of a barred partner's endpoints (suspended, offboarded: its keys
are refused too) are held: not claimed, so neither attempted nor counted as failures, until the
partner is active again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import httpx
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_contracts import WebhookEndpointDisabledV1
from prm_events import outbox
from prm_platform import metrics, telemetry
from prm_platform.db import Statement
from prm_platform.ids import new_id
from prm_webhooks.config import EVENT_SOURCE, Settings
from prm_webhooks.delivery.connections import Connections
from prm_webhooks.delivery.fanout import ADDED, BARRED_STATUSES
from prm_webhooks.delivery.signing import signature
from prm_webhooks.delivery.targets import Resolver, TargetRefused, system_resolver

log = logging.getLogger("prm.webhooks")

USER_AGENT = "PRM-Webhooks/1.0"
# How many due rows a claim looks at to pick a fair batch from.
_SCAN = 2000

# Metrics (when PRM_TELEMETRY is on, docs/operations.md).
ATTEMPTS = Counter("prm_webhook_attempts", "Delivery attempts recorded, by what they left the "
                   "delivery: 'succeeded', 'retrying' or 'failed' (given up).", ["outcome"])
QUEUE = Gauge("prm_webhook_queue_deliveries", "Deliveries not settled yet: 'due' now, or "
              "'waiting' for their next attempt.", ["state"])
_SETTLED_AS = {"succeeded": "succeeded", "pending": "retrying", "failed": "failed"}
_QUEUE = text("SELECT count(*) FILTER (WHERE next_attempt_at <= now()), count(*) "
              "FROM webhook_deliveries WHERE status = 'pending'")


async def sample_queue(session: AsyncSession) -> None:
    """Set ``prm_webhook_queue_deliveries`` (the worker samples it every few seconds)."""
    due, pending = (await session.execute(_QUEUE)).one()
    QUEUE.labels("due").set(due)
    QUEUE.labels("waiting").set(pending - due)

_CLAIM = Statement("""
WITH held AS (
    -- The endpoints of barred partners, once per claim: their deliveries wait, and must not
    -- take the places of due ones in the scan below.
    SELECT e.id FROM webhook_endpoints e
    JOIN credential_partners s ON s.partner_id = e.partner_id
    WHERE s.status = ANY(CAST(:barred AS text[]))
), due AS (
    SELECT d.id, d.endpoint_id, d.ordering_key, d.seq, d.next_attempt_at
    FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until <= now())
      AND d.endpoint_id NOT IN (SELECT id FROM held)
    ORDER BY d.next_attempt_at LIMIT :scan
), ranked AS (
    SELECT due.id, due.endpoint_id, due.next_attempt_at, e.rate_limit,
           row_number() OVER (PARTITION BY due.endpoint_id
                              ORDER BY due.next_attempt_at, due.seq) AS rank
    FROM due JOIN webhook_endpoints e ON e.id = due.endpoint_id
    WHERE e.enabled AND (NOT e.ordered OR NOT EXISTS (
        SELECT 1 FROM webhook_deliveries p
        WHERE p.endpoint_id = due.endpoint_id AND p.ordering_key = due.ordering_key
          AND p.status = 'pending' AND p.seq < due.seq))
), candidates AS (
    -- Only an endpoint's first few due rows can fit its share: the rest are not looked at.
    SELECT * FROM ranked WHERE rank <= :per_endpoint
), busy AS (
    -- Each endpoint's leases and recent starts counted once, not once per due row (which,
    -- with a backlog of thousands for one endpoint, made every claim take seconds).
    SELECT b.endpoint_id,
           count(*) FILTER (WHERE b.status = 'pending' AND b.lease_until > now()) AS leased,
           count(*) FILTER (WHERE b.leased_at > now() - interval '1 second') AS started
    FROM webhook_deliveries b
    WHERE b.endpoint_id IN (SELECT endpoint_id FROM candidates)
      AND ((b.status = 'pending' AND b.lease_until > now())
           OR b.leased_at > now() - interval '1 second')
    GROUP BY b.endpoint_id
), fair AS (
    SELECT c.id, c.next_attempt_at FROM candidates c
    LEFT JOIN busy ON busy.endpoint_id = c.endpoint_id
    WHERE c.rank + COALESCE(busy.leased, 0) <= :per_endpoint
      AND (c.rate_limit IS NULL OR c.rank + COALESCE(busy.started, 0) <= c.rate_limit)
    ORDER BY c.next_attempt_at LIMIT :limit
), locked AS (
    SELECT d.id FROM webhook_deliveries d JOIN fair ON fair.id = d.id
    WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= now())
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d
    SET lease_token = :token, lease_until = now() + make_interval(secs => :lease),
        leased_at = now(), attempts = d.attempts + 1, updated_at = now()
    FROM locked WHERE d.id = locked.id
    RETURNING d.id, d.attempts, d.message_id, d.endpoint_id
)
-- What sending them needs, in the same statement: a claim is one round trip, committed by
-- itself (a worker that dies now leaves leases that run out, as after any claim).
SELECT c.id, c.attempts, c.message_id, m.payload, m.traceparent, e.id AS endpoint_id, e.url,
       e.headers,
       ARRAY(SELECT s.secret FROM webhook_endpoint_secrets s
             WHERE s.endpoint_id = e.id AND (s.expires_at IS NULL OR s.expires_at > now())
             ORDER BY s.created_at DESC) AS secrets
FROM claimed c
JOIN webhook_messages m ON m.id = c.message_id
JOIN webhook_endpoints e ON e.id = c.endpoint_id
""")
# Outcomes are recorded in batches: one transaction for every attempt that ended meanwhile,
# not one per attempt (which cost more than the attempt itself against a fast receiver). One
# statement writes each attempt's row and settles its delivery (only for the holder of the
# lease): the deliveries it answers settled.
_SETTLE = Statement("""
WITH t AS (
    SELECT * FROM unnest(
        CAST(:attempt_ids AS uuid[]), CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]),
        CAST(:messages AS uuid[]), CAST(:endpoints AS uuid[]), CAST(:ats AS timestamptz[]),
        CAST(:attempted AS text[]), CAST(:outcomes AS text[]), CAST(:nexts AS timestamptz[]),
        CAST(:statuses AS int[]), CAST(:latencies AS int[]), CAST(:bodies AS text[]),
        CAST(:attempt_errors AS text[]), CAST(:errors AS text[]))
        AS t(attempt_id, id, token, message, endpoint, at, attempted, outcome, next, status,
             latency, body, attempt_error, error)
), attempt AS (
    INSERT INTO webhook_attempts (id, delivery_id, message_id, endpoint_id, attempted_at,
                                  outcome, response_status, latency_ms, response_body, error)
    SELECT attempt_id, id, message, endpoint, at, attempted, status, latency, body,
           attempt_error
    FROM t
)
UPDATE webhook_deliveries d
SET status = t.outcome, next_attempt_at = COALESCE(t.next, d.next_attempt_at),
    lease_token = NULL, lease_until = NULL, last_response_status = t.status,
    last_error = t.error, updated_at = now()
FROM t
WHERE d.id = t.id AND d.lease_token = t.token
RETURNING d.id
""")
_HEALTHY = Statement("UPDATE webhook_endpoints SET failing_since = NULL "
                     "WHERE id = ANY(CAST(:ids AS uuid[])) AND failing_since IS NOT NULL")
_FAILING = text("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now()) "
                "WHERE id = ANY(CAST(:ids AS uuid[])) RETURNING id, failing_since")
# How many outcomes one recording transaction takes at most.
_RECORD_BATCH = 500
_DISABLE = text("""
UPDATE webhook_endpoints SET enabled = false, disabled_reason = :reason, version = version + 1,
    updated_at = now()
WHERE id = :id AND enabled RETURNING id, partner_id, failing_since, version, updated_at
""")


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    token: uuid.UUID
    attempts: int
    message_id: uuid.UUID
    payload: str
    endpoint_id: uuid.UUID
    url: str
    headers: dict[str, str]
    secrets: list[str]
    traceparent: str | None = None  # of the event's trace, for the delivery's span


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a response status (None if none came) or an error."""

    status: int | None
    body: str | None
    error: str | None
    latency_ms: int
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    answer: Answer
    attempted_at: dt.datetime


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, when.timestamp() - now)
    return None


class Dispatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *,
                 resolver: Resolver = system_resolver,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock
        self.connections = Connections(resolver=resolver, allow_loopback=settings.allow_loopback,
                                       limit=settings.concurrency)
        self.in_flight: set[asyncio.Task[None]] = set()
        # Set when an attempt in flight ends (its endpoint may take the next delivery now) or
        # this process committed new deliveries.
        self.freed = asyncio.Event()
        self.outcomes: asyncio.Queue[tuple[Outcome, asyncio.Future[None]]] = asyncio.Queue()
        self.recorder: asyncio.Task[None] | None = None

    # -- claiming ---------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        token = new_id()
        async with self.sessionmaker() as session:
            connection = await session.connection(
                execution_options={"isolation_level": "AUTOCOMMIT"})
            rows = await _CLAIM.fetch(connection, {
                "scan": _SCAN, "limit": limit, "token": token, "barred": BARRED_STATUSES,
                "lease": self.settings.lease_seconds,
                "per_endpoint": self.settings.per_endpoint_concurrency})
        return [Claimed(id=r["id"], token=token, attempts=r["attempts"],
                        message_id=r["message_id"], payload=r["payload"],
                        endpoint_id=r["endpoint_id"], url=r["url"],
                        headers=dict(r["headers"] or {}), secrets=list(r["secrets"]),
                        traceparent=r["traceparent"]) for r in rows]

    # -- one attempt ------------------------------------------------------------------------

    def request_headers(self, claimed: Claimed, timestamp: int) -> list[tuple[str, str]]:
        """The endpoint's own headers first, then ours (which they cannot name: the endpoint
        schema refuses them). Nothing internal, such as trace context or principals."""
        webhook_id = str(claimed.message_id)
        return [*claimed.headers.items(),
                ("Content-Type", "application/json"),
                ("User-Agent", USER_AGENT),
                ("webhook-id", webhook_id),
                ("webhook-timestamp", str(timestamp)),
                ("webhook-signature", signature(claimed.secrets, webhook_id, timestamp,
                                                claimed.payload))]

    async def send(self, claimed: Claimed) -> Answer:
        settings = self.settings
        started = time.monotonic()
        timestamp = int(self.clock())

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        if not claimed.secrets:
            return Answer(None, None, "the endpoint has no valid secret", 0)
        timeout = settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                async with self.connections.session().post(
                        claimed.url, data=claimed.payload.encode(),
                        headers=self.request_headers(claimed, timestamp),
                        allow_redirects=False) as response:
                    # Kept to the cap. A body longer than the client buffers (flow control
                    # stops reading the socket) is never read whole: its connection is dropped.
                    kept = bytearray()
                    while len(kept) < settings.response_body_bytes:
                        chunk = await response.content.read(
                            settings.response_body_bytes - len(kept))
                        if not chunk:
                            break
                        kept += chunk
                    return Answer(response.status, kept.decode("utf-8", "replace"), None,
                                  elapsed(), retry_after(response.headers.get("Retry-After"),
                                                         self.clock()))
        except TargetRefused as exc:
            return Answer(None, None, f"target refused: {exc}", elapsed())
        except TimeoutError:
            return Answer(None, None, f"no answer within {timeout:g} s", elapsed())
        except (aiohttp.ClientError, OSError) as exc:
            return Answer(None, None, f"{type(exc).__name__}: {exc}"[:500], elapsed())

    async def traced_send(self, claimed: Claimed) -> Answer:
        """``send`` in a span of the trace of the event delivered. The receiver gets no trace
        context: it belongs to our internals, and endpoints cannot ask for it (the endpoint
        schema refuses a ``traceparent`` header)."""
        with telemetry.span("webhook delivery", parent=claimed.traceparent,
                            kind=telemetry.SpanKind.CLIENT,
                            attributes={"http.request.method": "POST",
                                        "server.address": httpx.URL(claimed.url).host,
                                        "prm.webhook.endpoint_id": str(claimed.endpoint_id),
                                        "prm.webhook.message_id": str(claimed.message_id),
                                        "prm.webhook.attempt": claimed.attempts}) as span:
            answer = await self.send(claimed)
            if answer.status is not None:
                span.set_attribute("http.response.status_code", answer.status)
            if not answer.succeeded:
                telemetry.failed(span, answer.error or f"HTTP {answer.status}")
            return answer

    # -- recording --------------------------------------------------------------------------

    def delay(self, attempts: int, answer: Answer) -> float | None:
        """Seconds until the next attempt after ``attempts`` tries, None when none is left."""
        schedule = self.settings.retry_schedule_seconds
        if attempts > len(schedule):
            return None
        if answer.status == 429 and answer.retry_after is not None:
            return min(answer.retry_after, self.settings.max_retry_after_seconds)
        base = schedule[attempts - 1]
        jitter = self.settings.retry_jitter
        return base * random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 - not security

    def settlement(self, claimed: Claimed, answer: Answer, attempted_at: dt.datetime
                   ) -> tuple[str, dt.datetime | None]:
        """The delivery's status after this attempt, and when to try again."""
        if answer.succeeded:
            return "succeeded", None
        if answer.status == 410:
            return "failed", None
        wait = self.delay(claimed.attempts, answer)
        if wait is None:
            return "failed", None
        return "pending", attempted_at + dt.timedelta(seconds=wait)

    async def record(self, claimed: Claimed, answer: Answer) -> None:
        await self.record_many([Outcome(claimed, answer,
                                        dt.datetime.fromtimestamp(self.clock(), dt.UTC))])

    async def record_many(self, outcomes: list[Outcome]) -> None:
        """Record attempts, in one transaction: each attempt's row, its delivery settled (only
        by the holder of the lease), and its endpoint's health."""
        settled_as = [self.settlement(o.claimed, o.answer, o.attempted_at) for o in outcomes]
        async with self.sessionmaker() as session:
            settled = {r[0] for r in await _SETTLE.fetch(session, {
                "attempt_ids": [new_id() for _ in outcomes],
                "ids": [o.claimed.id for o in outcomes],
                "tokens": [o.claimed.token for o in outcomes],
                "messages": [o.claimed.message_id for o in outcomes],
                "endpoints": [o.claimed.endpoint_id for o in outcomes],
                "ats": [o.attempted_at for o in outcomes],
                "attempted": ["succeeded" if o.answer.succeeded else "failed"
                              for o in outcomes],
                "outcomes": [status for status, _ in settled_as],
                "nexts": [next_at for _, next_at in settled_as],
                "statuses": [o.answer.status for o in outcomes],
                "latencies": [o.answer.latency_ms for o in outcomes],
                "bodies": [o.answer.body for o in outcomes],
                "attempt_errors": [o.answer.error for o in outcomes],
                "errors": [None if o.answer.succeeded
                           else (o.answer.error or f"HTTP {o.answer.status}")[:500]
                           for o in outcomes]})}
            # Each endpoint's health follows its latest attempt here.
            latest: dict[uuid.UUID, Outcome] = {}
            for outcome in outcomes:
                if outcome.claimed.id in settled:
                    latest[outcome.claimed.endpoint_id] = outcome
                else:
                    # The lease ran out and another worker has the delivery now: it decides.
                    log.warning("delivery %s: lease lost before its outcome was recorded",
                                outcome.claimed.id)
            healthy = [e for e, o in latest.items() if o.answer.succeeded]
            gone = [e for e, o in latest.items() if o.answer.status == 410]
            failing = [e for e, o in latest.items()
                       if not o.answer.succeeded and o.answer.status != 410]
            if healthy:
                await _HEALTHY.execute(session, {"ids": healthy})
            for endpoint_id in gone:
                await self.disable(session, endpoint_id, "gone")
            if failing:
                limit = dt.timedelta(days=self.settings.disable_after_failing_days)
                for endpoint_id, since in (await session.execute(_FAILING, {"ids": failing})
                                           ).all():
                    if latest[endpoint_id].attempted_at - since >= limit:
                        await self.disable(session, endpoint_id, "failing")
            await session.commit()
        if metrics.enabled():
            for outcome, (status, _) in zip(outcomes, settled_as, strict=True):
                if outcome.claimed.id in settled:
                    ATTEMPTS.labels(_SETTLED_AS[status]).inc()

    async def disable(self, session: AsyncSession, endpoint_id: uuid.UUID, reason: str) -> None:
        row = (await session.execute(_DISABLE, {"id": endpoint_id, "reason": reason})).first()
        if row is None:
            return  # disabled already
        log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        await outbox.publish(session, WebhookEndpointDisabledV1(
            endpoint_id=row.id, partner_id=row.partner_id, reason=reason,
            failing_since=row.failing_since, disabled_at=row.updated_at, version=row.version),
            source=EVENT_SOURCE, aggregate_id=row.id, partner_id=row.partner_id)

    async def deliver(self, claimed: Claimed) -> None:
        if telemetry.enabled():
            answer = await self.traced_send(claimed)
        else:
            answer = await self.send(claimed)
        outcome = Outcome(claimed, answer, dt.datetime.fromtimestamp(self.clock(), dt.UTC))
        recorded = asyncio.get_running_loop().create_future()
        self.outcomes.put_nowait((outcome, recorded))
        if self.recorder is None or self.recorder.done():
            self.recorder = asyncio.create_task(self._record_outcomes(), name="recorder")
        await recorded

    async def _record_outcomes(self) -> None:
        """Record whatever attempts ended while the previous batch was being written."""
        while True:
            batch = [await self.outcomes.get()]
            while not self.outcomes.empty() and len(batch) < _RECORD_BATCH:
                batch.append(self.outcomes.get_nowait())
            # Recording outlives the database briefly going away: the attempts happened. If it
            # stays away, the leases bring the deliveries back.
            for wait in (0.5, 1, 2, 4, 8, None):
                try:
                    await self.record_many([outcome for outcome, _ in batch])
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001
                    log.exception("recording %d attempts failed", len(batch))
                    if wait is not None:
                        await asyncio.sleep(wait)
            for _, recorded in batch:
                if not recorded.done():
                    recorded.set_result(None)

    # -- the loop ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what fits and start sending it; returns how many were claimed."""
        room = self.settings.concurrency - len(self.in_flight)
        # A saturated worker claims when an eighth of its slots are free, not on every attempt
        # that ends: one claim looks at up to _SCAN due rows, whatever it takes.
        if room <= 0 or (room < self.settings.concurrency // 8 and self.in_flight):
            return 0
        claimed = await self.claim(room)
        for delivery in claimed:
            task = asyncio.create_task(self.deliver(delivery), name=f"delivery-{delivery.id}")
            self.in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.freed.set()

    async def run(self, stop: asyncio.Event, alive: Callable[[], None] = lambda: None) -> None:
        idle = self.settings.poll_seconds
        ADDED.listeners.add(self.freed.set)  # deliveries committed in this process
        try:
            while not stop.is_set():
                self.freed.clear()  # an attempt ending from now on wakes the idle wait
                try:
                    found = await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the database may come back
                    log.exception("claiming deliveries failed")
                    found = 0
                alive()
                if found:
                    idle = self.settings.poll_seconds
                    continue
                # Nothing claimable: look again after the poll interval (doubling while
                # nothing comes, up to idle_poll_seconds: a retry falls due seconds after its
                # failure, and an idle worker should not ask ten times a second), or as soon
                # as an attempt ends (with every endpoint at its share in flight, waiting a
                # whole interval would cap each at a few deliveries per interval) or this
                # process commits new deliveries.
                await self._idle(stop, idle)
                idle = min(idle * 2, max(self.settings.idle_poll_seconds,
                                         self.settings.poll_seconds))
        finally:
            ADDED.listeners.discard(self.freed.set)
            await self.drain()

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.freed.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def drain(self, timeout: float | None = None) -> None:
        """Let the attempts in flight finish (bounded by the attempt timeout), then close."""
        if self.in_flight:
            await asyncio.wait(set(self.in_flight),
                               timeout=timeout or self.settings.timeout_seconds + 5)
        for task in set(self.in_flight):
            task.cancel()
        if self.recorder is not None:
            self.recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.recorder
        await self.connections.aclose()
