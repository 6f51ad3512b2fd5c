"""Fault test: SIGKILL the outbox relay and the consumer mid-stream, restart them, and prove that
every event arrived exactly once in effect: none lost, none applied twice.

Partners are created and activated through the partners API (two events each) while the
partners worker (the relay) and the deals worker (the consumer) run as real processes. Both are
killed with SIGKILL in the middle of the stream and restarted. In the end the deals service's
partner directory must hold every partner as active, and each directory row's
``events_applied`` counter, which the handler increments once per applied event, must be
exactly 2.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from prm_partners.config import Settings as PartnersSettings
from prm_partners.main import create_app as create_partners_app
from prm_platform.db import make_engine
from prm_stack.embedded import start_broker
from prm_stack.launch import fresh_database
from prm_stack.testing import Infra, migrate, vendor_headers

ROOT = Path(__file__).resolve().parents[2]
PARTNERS = 150


@pytest.fixture
def isolated(prm_infra, tmp_path):
    """Its own database and broker, so no other test's workers share its consumer groups."""
    broker = start_broker(log_file=tmp_path / "broker.log")
    try:
        with fresh_database(prm_infra.database_url, prefix="prm_faults") as database_url:
            infra = Infra(database_url=database_url, kafka_bootstrap=broker.bootstrap,
                          internal_secret=prm_infra.internal_secret)
            migrate([ROOT / "services" / service for service in ("partners", "deals")], infra)
            yield infra
    finally:
        broker.stop()


def start_worker(module: str, infra: Infra, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module], env=infra.env(),
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def scalar(engine, sql: str) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar_one() or 0


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_relay_and_consumer_mid_stream(isolated, tmp_path):
    infra = isolated
    settings = PartnersSettings(database_url=infra.database_url,
                                kafka_bootstrap=infra.kafka_bootstrap,
                                internal_secret=infra.internal_secret)
    app = create_partners_app(settings)
    partners_db = make_engine(infra.database_url, "partners")
    deals_db = make_engine(infra.database_url, "deals")
    vendor = vendor_headers(infra.internal_secret, ("partners:read", "partners:write"))
    expected_events = PARTNERS * 2

    relay = start_worker("prm_partners.worker", infra, tmp_path / "relay.log")
    consumer = start_worker("prm_deals.worker", infra, tmp_path / "consumer.log")
    restarted = []

    async def load() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://partners") as client:
            for i in range(PARTNERS):
                created = await client.post("/v1/partners", headers=vendor, json={
                    "name": f"Partner {i}", "type": "reseller", "country": "NL"})
                assert created.status_code == 201, created.text
                activated = await client.post(
                    f"/v1/partners/{created.json()['id']}/activate", headers=vendor)
                assert activated.status_code == 200, activated.text
                await asyncio.sleep(0.01)  # a steady stream rather than one burst

    async def chaos() -> None:
        nonlocal relay, consumer
        await wait_for(lambda: scalar(partners_db, "SELECT count(*) FROM outbox WHERE "
                                      "published_at IS NOT NULL"), 60, "first publications")
        await wait_for(lambda: _at_least(partners_db, "SELECT count(*) FROM outbox WHERE "
                                         "published_at IS NOT NULL", expected_events // 4),
                       60, "a quarter of the events published")
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        await asyncio.sleep(0.5)  # events keep being written while no relay runs
        relay = start_worker("prm_partners.worker", infra, tmp_path / "relay.log")
        restarted.append("relay")

        await wait_for(lambda: _at_least(deals_db, "SELECT sum(events_applied) FROM "
                                         "partner_directory", expected_events // 2),
                       90, "half of the events applied")
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        await asyncio.sleep(0.5)
        consumer = start_worker("prm_deals.worker", infra, tmp_path / "consumer.log")
        restarted.append("consumer")

    try:
        await asyncio.gather(load(), chaos())
        await wait_for(lambda: _at_least(deals_db, "SELECT sum(events_applied) FROM "
                                         "partner_directory", expected_events),
                       120, "every event applied")
        # The partners worker also announces each new active partner's tier progress (from
        # the activation it consumed): its outbox drains last.
        await wait_for(lambda: _is_zero(partners_db, "SELECT count(*) FROM outbox "
                                             "WHERE published_at IS NULL"),
                       120, "the partners outbox drained")
        await asyncio.sleep(2)  # let any redelivery that is still in flight arrive

        assert restarted == ["relay", "consumer"]
        assert await scalar(partners_db, "SELECT count(*) FROM outbox "
                            "WHERE published_at IS NULL") == 0
        assert await scalar(deals_db, "SELECT count(*) FROM partner_directory") == PARTNERS
        assert await scalar(deals_db, "SELECT count(*) FROM partner_directory "
                            "WHERE status = 'active' AND version = 2") == PARTNERS
        # exactly once in effect: every partner's two events applied once each
        assert await scalar(deals_db, "SELECT count(*) FROM partner_directory "
                            "WHERE events_applied <> 2") == 0
        assert await scalar(deals_db, "SELECT count(*) FROM inbox "
                            "WHERE consumer = 'deals.partner-directory' AND event_type IN "
                            "('prm.partner.created.v1', 'prm.partner.status_changed.v1')"
                            ) == expected_events
    finally:
        for process in (relay, consumer):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        await partners_db.dispose()
        await deals_db.dispose()
        if os.environ.get("PRM_KEEP_FAULT_LOGS"):
            print((tmp_path / "relay.log").read_text()[-3000:])
            print((tmp_path / "consumer.log").read_text()[-3000:])


async def _at_least(engine, sql: str, threshold: int) -> bool:
    return await scalar(engine, sql) >= threshold


async def _is_zero(engine, sql: str) -> bool:
    return await scalar(engine, sql) == 0
