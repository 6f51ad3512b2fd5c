"""Prometheus metrics of every API and worker, when ``PRM_TELEMETRY`` is on.

Off (the default), nothing is measured: no middleware is installed, no ``/metrics`` is served,
and the counters below are never touched (every recording site checks ``enabled()`` first, one
attribute read). On, an API answers ``GET /metrics`` on its own port and a worker serves it on
``PRM_METRICS_PORT`` (docs/operations.md lists every series).

Requests are labelled by route template (the matched route's path, ``/v1/partners/{partner_id}``),
never by the raw path, so a label's values are bounded by the routes the code declares.
``/metrics`` is for the internal network: it is not a route (not in the contract, no key
needed), and a request that carries a proxy's forwarding headers (every edge adds
``X-Forwarded-For``) gets a 404 problem, so the edge can never pass it on. The edges refuse it
themselves too (deploy/nginx/edge.conf, the ``make run`` Caddy).

Gauges that need a query (outbox backlog, webhook queue, consumer lag) are sampled by the
worker every ``SAMPLE_SECONDS`` (``prm_events.worker``), never per event; the pools' use is
read at scrape time from SQLAlchemy's pool counters.
"""

from __future__ import annotations

import functools
import re
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, compile_path, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prm_platform.problems import problem_response

PATH = "/metrics"
# How often a worker samples the gauges that need a query.
SAMPLE_SECONDS = 5.0
# Headers a proxy adds: a request carrying one came through an edge, never from a scraper.
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no route matched (404s)

_enabled = False


def enable() -> None:
    """Turn measuring on for this process (``PRM_TELEMETRY``); there is no turning it off."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


# -- APIs ---------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("prm_http_requests", "Requests answered, by route template and status.",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("prm_http_request_duration_seconds",
                          "Time from a request's arrival to the end of its answer.",
                          ["method", "route"],
                          buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
RATE_LIMIT_REFUSALS = Counter("prm_rate_limit_refusals",
                              "Requests refused with 429 by the edge middleware: a principal's "
                              "budget spent, or too many failed authentications.")
IDEMPOTENCY_REPLAYS = Counter("prm_idempotency_replays",
                              "Requests answered with the stored response of their "
                              "Idempotency-Key.")

# -- workers ------------------------------------------------------------------------------------
OUTBOX_PUBLISHED = Counter("prm_outbox_published_events",
                           "Outbox events the broker acknowledged.")
OUTBOX_BACKLOG = Gauge("prm_outbox_backlog_events", "Outbox events not yet published "
                       "(parked ones included).")
OUTBOX_OLDEST_AGE = Gauge("prm_outbox_oldest_age_seconds",
                          "Age of the oldest unpublished outbox event (0 when none).")
OUTBOX_PARKED = Gauge("prm_outbox_parked_events",
                      "Outbox events skipped after too many refusals by the broker.")
CONSUMER_EVENTS = Counter("prm_consumer_events", "Events applied (or found applied already) "
                          "by a consumer group.", ["group"])
CONSUMER_APPLY_SECONDS = Histogram("prm_consumer_apply_seconds",
                                   "Time to apply one poll's events in one transaction.",
                                   ["group"],
                                   buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
CONSUMER_EVENT_DELAY = Histogram("prm_consumer_event_delay_seconds",
                                 "Time from the publication of the oldest record of each "
                                 "partition a poll brought to its application.", ["group"],
                                 buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60,
                                          300))
CONSUMER_LAG = Gauge("prm_consumer_lag_messages",
                     "Records on the broker the group has not read yet.", ["group", "topic"])
DEAD_LETTERED = Counter("prm_consumer_dead_lettered_events",
                        "Records sent to a dead-letter topic, by the subscription that gave up "
                        "on them.", ["consumer", "topic"])
# "scheduled_job", not "job": Prometheus's own label of every scrape target is "job".
SCHEDULER_RUNS = Counter("prm_scheduler_runs", "Runs of scheduled jobs, by outcome "
                         "('ok' or 'failed').", ["scheduled_job", "outcome"])


# The labelled children, looked up once per (method, route, status): labels() takes a lock and
# builds a key every time. Bounded by the routes the code declares (and "unmatched").
_REQUEST_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    series = _REQUEST_SERIES.get(key)
    if series is None:
        series = _REQUEST_SERIES[key] = (HTTP_REQUESTS.labels(method, route, str(status)),
                                         HTTP_DURATION.labels(method, route))
    series[0].inc()
    series[1].observe(seconds)


@functools.cache
def consumer_series(group: str) -> tuple[Any, Any, Any]:
    """A consumer group's (events counter, apply histogram, delay histogram)."""
    return (CONSUMER_EVENTS.labels(group), CONSUMER_APPLY_SECONDS.labels(group),
            CONSUMER_EVENT_DELAY.labels(group))


class PoolUse(Collector):
    """``prm_db_pool_connections{pool, state}`` at scrape time, from the counters SQLAlchemy
    keeps for each engine's pool (no query). Engines are held weakly."""

    def __init__(self) -> None:
        self._engines: dict[str, weakref.ref[AsyncEngine]] = {}

    def watch(self, name: str, engine: AsyncEngine) -> None:
        self._engines[name] = weakref.ref(engine)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "prm_db_pool_connections", "Database connections of this process's pool: "
            "'in_use', 'idle', and 'size' (kept open; as many again may open in bursts).",
            labels=["pool", "state"])
        for name, ref in list(self._engines.items()):
            engine = ref()
            if engine is None:
                del self._engines[name]
                continue
            pool = engine.sync_engine.pool
            if not isinstance(pool, QueuePool):
                continue
            connections.add_metric([name, "in_use"], pool.checkedout())
            connections.add_metric([name, "idle"], pool.checkedin())
            connections.add_metric([name, "size"], pool.size())
        yield connections


POOLS = PoolUse()
REGISTRY.register(POOLS)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus's text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forwarded(headers: Headers) -> bool:
    return any(name in headers for name in FORWARDING_HEADERS)


class Templates:
    """The route templates of an app, to name a request the router never saw (refused by the
    edge middleware first) or whose scope a layer copied (HEAD, answered as a GET). Built on
    first use, once every route is registered."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = routes
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def _table(self) -> list[tuple[re.Pattern[str], str]]:
        if self._compiled is None:
            # Included routers are resolved lazily by FastAPI: app.routes alone hides them.
            self._compiled = [compile_path(context.path)[:2]
                              for context in iter_route_contexts(self._routes)
                              if isinstance(context.path, str) and context.path]
        return self._compiled

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        # The template as the contract writes it: {partner_id}, not {partner_id:uuid}.
        path = getattr(route, "path_format", None)
        if isinstance(path, str) and path:
            return path
        requested = get_route_path(scope)
        return next((template for pattern, template in self._table()
                     if pattern.match(requested)), UNMATCHED)


class RequestMetrics:
    """The outermost layer of an API when telemetry is on: serves ``/metrics`` and counts and
    times every other request by its route template."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.template = Templates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == PATH:
            await self._serve(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500  # unless an answer starts

        async def measured_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            observe_request(method, self.template(scope), status,
                            time.perf_counter() - started)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if forwarded(Headers(scope=scope)) or scope["method"] not in ("GET", "HEAD"):
            # Through a proxy: a path like any unknown one (the edge refuses it too).
            response = problem_response(404, "not-found", f"no route for {PATH}",
                                        instance=PATH)
        else:
            body, content_type = exposition()
            response = Response(body, media_type=content_type,
                                headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


def install(app: FastAPI, *, pool: str, engine: AsyncEngine) -> None:
    """Measure ``app`` and serve ``/metrics`` from it. Call it after every other middleware:
    outermost, it counts the answers the other layers make too (401, 429, 413, 500)."""
    enable()
    POOLS.watch(pool, engine)
    app.add_middleware(RequestMetrics, routes=app.router.routes)
