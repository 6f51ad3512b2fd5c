"""Revision 0012 announces the FX rates the ledger held before it published them: each becomes
one ``prm.fx.rate_set.v1`` in the outbox, an envelope the consumers read like any other and a
payload its contract accepts, with the rate exactly as recorded."""

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from prm_contracts import FxRateSetV1
from prm_events.envelope import CloudEvent
from prm_incentives.config import SCHEMA
from prm_stack.launch import fresh_database

INI = Path(__file__).resolve().parents[1] / "alembic.ini"
RATES = [("EUR", "JPY", Decimal("162.3500000000"), dt.date(2025, 1, 6)),
         ("USD", "KWD", Decimal("0.3070000000"), dt.date(2025, 1, 7)),
         ("GBP", "EUR", Decimal("1.0000000000"), dt.date(2025, 1, 8))]


def alembic(*args: str, database_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(INI), *args],
                          env={**os.environ, "PRM_DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def in_thread(work):
    """asyncpg on a loop of its own (the session's loop may be running this test)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def test_the_rates_held_before_are_announced_once(prm_infra):
    with fresh_database(prm_infra.database_url, prefix="prm_fx") as database_url:
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        alembic("upgrade", "0011", database_url=database_url)
        ids = [uuid.uuid4() for _ in RATES]

        async def hold() -> None:
            connection = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
            try:
                await connection.executemany(
                    "INSERT INTO ledger_fx_rates (id, base, quote, rate, effective_on, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, now())",
                    [(i, *r) for i, r in zip(ids, RATES, strict=True)])
            finally:
                await connection.close()

        async def announced() -> list:
            connection = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
            try:
                return await connection.fetch(
                    "SELECT topic, key, event_type, envelope::text FROM outbox ORDER BY seq")
            finally:
                await connection.close()

        in_thread(hold())
        alembic("upgrade", "head", database_url=database_url)
        rows = in_thread(announced())

    assert [(r["topic"], r["key"], r["event_type"]) for r in rows] == [
        ("prm.fx-rates", str(i), "prm.fx.rate_set.v1") for i in ids]
    payloads = []
    for row in rows:
        event = CloudEvent.model_validate_json(row["envelope"])
        assert (event.type, event.source, event.subject) == (
            "prm.fx.rate_set.v1", "/prm/incentives", row["key"])
        payload = event.payload()
        assert isinstance(payload, FxRateSetV1)
        payloads.append((payload.rate_id, payload.base, payload.quote, payload.rate,
                         payload.effective_on))
    assert payloads == [(ids[0], "EUR", "JPY", "162.35", dt.date(2025, 1, 6)),
                        (ids[1], "USD", "KWD", "0.307", dt.date(2025, 1, 7)),
                        (ids[2], "GBP", "EUR", "1", dt.date(2025, 1, 8))]
