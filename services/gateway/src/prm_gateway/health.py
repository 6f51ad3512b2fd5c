"""Liveness, readiness and the descriptions of problem types."""

from __future__ import annotations

import asyncio
import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from prm_events.kafka import make_admin
from prm_platform import liveness
from prm_platform.problems import (
    PROBLEM_BASE,
    NotFound,
    known_problem_types,
    problem_response,
    problem_title,
)

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers. Checks nothing else, so a dependency outage never makes
    an orchestrator restart the gateway."""
    return {"status": "ok"}


async def _database(request: Request, workers: dict[str, str]) -> None:
    async with request.app.state.sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        workers["gateway"] = await liveness.worker_status(
            session, request.app.state.settings.worker_stale_seconds)


async def _kafka(request: Request) -> None:
    settings = request.app.state.settings
    admin = make_admin(settings, request_timeout_ms=int(settings.readiness_timeout * 1000))
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


class UpstreamNotServing(Exception):
    pass


async def _upstream(request: Request, name: str, base_url: str,
                    workers: dict[str, str]) -> None:
    """The service's own /readyz: it serves if its database answers; its worker's state is
    reported beside."""
    response = await request.app.state.http.get(
        base_url + "/readyz", timeout=request.app.state.settings.readiness_timeout)
    try:
        checks = response.json().get("checks")
    except (ValueError, AttributeError):
        checks = None
    if not isinstance(checks, dict) or "database" not in checks:
        response.raise_for_status()
        raise UpstreamNotServing("no readiness report")
    if "worker" in checks:
        workers[name] = str(checks["worker"])
    if checks["database"] != "ok":
        raise UpstreamNotServing(str(checks["database"]))


async def _check(probe: Any, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await probe
    except UpstreamNotServing as exc:
        return f"unavailable: {exc}"
    except Exception as exc:  # noqa: BLE001 - readiness reports failures, never raises
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready to serve: the database, the broker and every upstream service answer (503
    otherwise). Every service's worker is reported under ``workers``; a stale worker makes the
    status ``degraded`` but not unready, since requests are still served (writes wait in the
    outbox) and the worker's own liveness probe restarts it."""
    settings = request.app.state.settings
    workers: dict[str, str] = {}
    probes = {"database": _database(request, workers), "kafka": _kafka(request)}
    probes |= {name: _upstream(request, name, url, workers)
               for name, url in settings.upstreams.items()}
    results = await asyncio.gather(*(_check(p, settings.readiness_timeout)
                                     for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    workers = dict(sorted(workers.items()))
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        return problem_response(503, "service-unavailable", f"not ready: {', '.join(failing)}",
                                instance="/readyz", checks=checks, workers=workers)
    status = "ok" if all(state == "ok" for state in workers.values()) else "degraded"
    return JSONResponse({"status": status, "checks": checks, "workers": workers})


@router.get(PROBLEM_BASE + "{slug}")
async def problem_description(slug: str, request: Request) -> Response:
    """What a problem ``type`` means: HTML for browsers, JSON otherwise."""
    known = known_problem_types()
    if slug not in known:
        raise NotFound(f"no problem type {slug!r}")
    title = problem_title(slug)
    description = known[slug]
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(
            f"<!doctype html><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(description)}</p>"
            f"<p>Problem type <code>{html.escape(PROBLEM_BASE + slug)}</code> "
            "(RFC 9457 problem details, application/problem+json).</p>")
    return JSONResponse({"type": PROBLEM_BASE + slug, "title": title,
                         "description": description})
