import pytest

from prm_platform.declaration import services
from prm_platform.problems import known_problem_types

from .conftest import upstream_services
from .helpers import assert_problem, dead_url


def upstream_names() -> list[str]:
    return [d.name for d in upstream_services()]


async def test_healthz_needs_nothing(start_gateway):
    gateway = await start_gateway(upstreams={},
                                  upstream_urls={"partners": dead_url(), "deals": dead_url()})
    response = await gateway.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_ready_but_degraded_while_no_worker_reports(gateway):
    # No worker runs beside these in-process services: they serve, and /readyz says what is
    # missing (the full stack's workers report "ok": tests/e2e).
    response = await gateway.get("/readyz")
    assert response.status_code == 200, response.text
    missing = "missing: no worker has reported"
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "kafka": "ok", **dict.fromkeys(upstream_names(), "ok")},
        "workers": {d.name: missing for d in sorted(services(), key=lambda d: d.name)
                    if d.worker}}


async def test_not_ready_when_an_upstream_is_down(start_gateway, transports):
    gateway = await start_gateway(upstreams={k: v for k, v in transports.items() if k != "deals"},
                                  upstream_urls={"deals": dead_url()})
    body = assert_problem(await gateway.get("/readyz"), 503, "service-unavailable")
    assert body["checks"]["deals"].startswith("unavailable")
    assert {k: v for k, v in body["checks"].items() if k != "deals"} == {
        "database": "ok", "kafka": "ok",
        **dict.fromkeys((n for n in upstream_names() if n != "deals"), "ok")}
    assert "deals" in body["detail"]


async def test_not_ready_when_the_broker_is_down(start_gateway):
    gateway = await start_gateway(kafka_bootstrap=dead_url().removeprefix("http://"),
                                  readiness_timeout=1)
    body = assert_problem(await gateway.get("/readyz"), 503, "service-unavailable")
    assert body["checks"]["kafka"].startswith("unavailable")
    assert body["checks"]["database"] == "ok"


@pytest.mark.parametrize("slug", sorted(known_problem_types()))
async def test_problem_types_are_described(gateway, slug):
    as_json = await gateway.get(f"/problems/{slug}")
    assert as_json.status_code == 200
    assert as_json.json()["type"] == f"/problems/{slug}"
    assert as_json.json()["description"] == known_problem_types()[slug]
    as_html = await gateway.get(f"/problems/{slug}", headers={"Accept": "text/html"})
    assert as_html.headers["content-type"].startswith("text/html")


async def test_unknown_problem_type_is_404(gateway):
    assert_problem(await gateway.get("/problems/no-such-thing"), 404, "not-found")
