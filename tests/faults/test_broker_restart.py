"""Fault test: SIGKILL the embedded broker (in-memory: every topic, message and consumer offset
is gone) in the middle of a stream of partner changes through the gateway. The supervisor
restarts it, sends again what it held from the outboxes and restarts the workers; in the end
every event has reached every consumer exactly once in effect.
"""

import asyncio
import shutil
import signal
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from prm_stack.embedded import free_port, remove_data
from prm_stack.launch import RunningStack, fresh_database, running_stack

PARTNERS = 120

pytestmark = pytest.mark.stack


@pytest.fixture
def stack_with_its_own_broker(prm_infra):
    state_dir = Path(tempfile.mkdtemp(prefix="prm-"))
    try:
        with fresh_database(prm_infra.database_url, prefix="prm_broker") as database_url, \
                running_stack(state_dir, {
                    "PRM_DATABASE_URL": database_url, "PRM_KAFKA_BOOTSTRAP": None,
                    # The services the load and its checks touch (a start in half the time).
                    "PRM_STACK_ONLY": "gateway,partners,deals",
                    "PRM_INTERNAL_SECRET": prm_infra.internal_secret,
                    "PRM_GATEWAY_PORT": str(free_port())}) as stack:
            yield stack, database_url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        remove_data(state_dir / "pgdata")
        shutil.rmtree(state_dir, ignore_errors=True)


async def test_broker_killed_mid_stream_loses_nothing(stack_with_its_own_broker):
    stack, dsn = stack_with_its_own_broker
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    db = await asyncpg.connect(dsn)
    broker_pid = stack.pid("broker")

    async def applied() -> int:
        return await db.fetchval("SELECT coalesce(sum(events_applied), 0) "
                                 "FROM deals.partner_directory") or 0

    killed = asyncio.Event()

    async def load(client: httpx.AsyncClient) -> None:
        for i in range(PARTNERS):
            if i == PARTNERS // 2:  # the second half is written around the broker's death
                await killed.wait()
            created = await client.post("/v1/partners", headers=admin, json={
                "name": f"Partner {i}", "type": "reseller", "country": "NL"})
            assert created.status_code == 201, created.text
            activated = await client.post(f"/v1/partners/{created.json()['id']}/activate",
                                          headers={**admin, "If-Match": created.headers["etag"]})
            assert activated.status_code == 200, activated.text

    async def kill_broker_midway() -> None:
        deadline = time.monotonic() + 120
        while await applied() < PARTNERS // 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stack.kill("broker", signal.SIGKILL)
        killed.set()

    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30,
                                     trust_env=False) as client:
            await asyncio.gather(load(client), kill_broker_midway())
        async def standing_known() -> int:
            return await db.fetchval("SELECT count(*) FROM gateway.partner_standing "
                                     "WHERE status = 'active'") or 0

        async def unpublished() -> int:
            return await db.fetchval("SELECT count(*) FROM partners.outbox "
                                     "WHERE published_at IS NULL") or 0

        async def progress_announced() -> int:
            return await db.fetchval("SELECT count(*) FROM partners.outbox "
                                     "WHERE event_type = 'prm.partner.tier_progress.v1'") or 0

        async def behind() -> bool:
            # The partners worker also announces each new active partner's tier progress
            # (from the activation it consumed): its outbox drains last, and its rows may not
            # be written yet when every other consumer is done.
            return stack.pid("broker") == broker_pid or await applied() < 2 * PARTNERS \
                or await standing_known() < PARTNERS or await progress_announced() < PARTNERS \
                or await unpublished() > 0

        # Each consumer group recovers from the restart at its own pace: wait for both.
        deadline = time.monotonic() + 180
        while await behind() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # anything still in flight arrives, and must change nothing

        assert stack.pid("broker") != broker_pid, "the supervisor restarted the broker"
        assert stack.process.poll() is None
        assert "sending again the events it held" in stack.output()
        assert await unpublished() == 0, [dict(row) for row in await db.fetch(
            "SELECT seq, key, event_type, attempts, last_error FROM partners.outbox "
            "WHERE published_at IS NULL ORDER BY seq LIMIT 20")]
        assert await progress_announced() == PARTNERS  # once each, however often consumed
        # Every partner's two events applied exactly once each by the deals service...
        assert await db.fetchval("SELECT count(*) FROM deals.partner_directory") == PARTNERS, \
            await diagnosis(db, stack)
        assert await db.fetchval("SELECT count(*) FROM deals.partner_directory "
                                 "WHERE events_applied <> 2 OR status <> 'active'") == 0, \
            await diagnosis(db, stack)
        assert await db.fetchval("SELECT count(*) FROM deals.inbox WHERE consumer = "
                                 "'deals.partner-directory' AND event_type IN "
                                 "('prm.partner.created.v1', 'prm.partner.status_changed.v1')"
                                 ) == 2 * PARTNERS
        # ... and the gateway knows every partner's standing.
        assert await db.fetchval("SELECT count(*) FROM gateway.partner_standing "
                                 "WHERE status = 'active'") == PARTNERS
    finally:
        await db.close()


async def diagnosis(db: asyncpg.Connection, stack: RunningStack) -> str:
    """What a failure needs to be understood: each partner whose events did not both arrive, what
    its outbox and the deals inbox hold of them, and the end of the deals worker's log."""
    rows = await db.fetch(
        "SELECT o.key, o.event_type, o.event_id, o.published_at, o.attempts, i.outcome, "
        "i.processed_at FROM partners.outbox o LEFT JOIN deals.inbox i "
        "ON i.event_id = o.event_id AND i.consumer = 'deals.partner-directory' "
        "WHERE o.topic LIKE '%partner%' AND o.key NOT IN (SELECT partner_id::text "
        "FROM deals.partner_directory WHERE events_applied = 2 AND status = 'active') "
        "ORDER BY o.key, o.seq")
    log = stack.state_dir / "logs" / "deals-worker.log"
    tail = log.read_text(errors="replace")[-4000:] if log.is_file() else "(no deals-worker log)"
    return "\n".join([*(str(dict(row)) for row in rows), "--- deals worker log ---", tail])
