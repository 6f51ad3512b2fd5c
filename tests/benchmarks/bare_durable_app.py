"""The second reference: a bare durable write. FastAPI validates the same deal-shaped body and
asyncpg writes the deal and an outbox row for it in one statement (one autocommit round trip,
a WAL flush), with no key check, rate limit, conflict check or idempotency: what a durable
registration costs at the least on this machine, served as the real services are (uvicorn,
same options). Its tables live in a ``bench`` schema of the database ``PRM_BENCH_DSN`` names.
"""

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
from bare_app import Registration  # the same body, validated the same way
from fastapi import FastAPI

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.deals (id uuid PRIMARY KEY, partner_id uuid,
    customer jsonb NOT NULL, amount numeric(19, 4) NOT NULL, currency char(3) NOT NULL,
    expected_close_date date NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bench.outbox (seq bigserial PRIMARY KEY, event_id uuid NOT NULL,
    key text NOT NULL, envelope jsonb NOT NULL, published_at timestamptz);
"""

_WRITE = """
WITH deal AS (
    INSERT INTO bench.deals (id, partner_id, customer, amount, currency, expected_close_date)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
)
INSERT INTO bench.outbox (event_id, key, envelope)
SELECT $7, CAST(deal.id AS text), $8 FROM deal
"""


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["PRM_BENCH_DSN"], min_size=4, max_size=20)
    async with pool.acquire() as connection:
        await connection.execute(_SCHEMA)
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/deals", status_code=201)
async def register(body: Registration) -> dict:
    deal_id = uuid.uuid4()
    made = {"id": str(deal_id), "status": "registered", **body.model_dump(mode="json")}
    await app.state.pool.execute(
        _WRITE, deal_id, body.partner_id, json.dumps(made["customer"]), Decimal(body.amount.amount),
        body.amount.currency, body.expected_close_date, uuid.uuid4(),
        json.dumps({"type": "deal.registered", "data": made}))
    return made
