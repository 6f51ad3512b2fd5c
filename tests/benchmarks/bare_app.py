"""The baseline: a bare FastAPI endpoint that validates a deal-shaped body and answers 201.

No auth, no database, no gateway hop: what FastAPI and uvicorn cost on this machine, served
exactly like the real services (uvicorn, same options), so the ratio shows our own overhead.
"""

import datetime as dt
import uuid

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Customer(BaseModel):
    name: str
    domain: str
    country: str


class Money(BaseModel):
    amount: str
    currency: str


class Registration(BaseModel):
    partner_id: uuid.UUID | None = None
    customer: Customer
    amount: Money
    expected_close_date: dt.date


@app.post("/v1/deals", status_code=201)
async def register(body: Registration) -> dict:
    return {"id": str(uuid.uuid4()), "status": "registered", **body.model_dump(mode="json")}
