"""Liveness, readiness and the descriptions of problem types."""

from __future__ import annotations

import asyncio
import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from prm_events.kafka import make_admin
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


async def _database(request: Request) -> None:
    async with request.app.state.sessionmaker() as session:
        await session.execute(text("SELECT 1"))


async def _kafka(request: Request) -> None:
    settings = request.app.state.settings
    admin = make_admin(settings, request_timeout_ms=int(settings.readiness_timeout * 1000))
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


async def _upstream(request: Request, base_url: str) -> None:
    response = await request.app.state.http.get(
        base_url + "/healthz", timeout=request.app.state.settings.readiness_timeout)
    response.raise_for_status()


async def _check(probe: Any, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await probe
    except Exception as exc:  # noqa: BLE001 - readiness reports failures, never raises
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready: the database, the broker and every upstream service answer."""
    settings = request.app.state.settings
    probes = {"database": _database(request), "kafka": _kafka(request)}
    probes |= {name: _upstream(request, url) for name, url in settings.upstreams.items()}
    results = await asyncio.gather(*(_check(p, settings.readiness_timeout)
                                     for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        return problem_response(503, "service-unavailable", f"not ready: {', '.join(failing)}",
                                instance="/readyz", checks=checks)
    return JSONResponse({"status": "ok", "checks": checks})


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
