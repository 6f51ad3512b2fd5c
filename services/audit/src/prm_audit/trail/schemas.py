from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from prm_audit.trail.chain import ChainFinding

# A chain's name: the service that published its events (``partners``, ``gateway``...).
ChainName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                             pattern=r"^[a-z][a-z0-9-]*$")]

_ENTRY_EXAMPLE: dict[str, Any] = {
    "id": "0193b7a4-51c2-7d3e-9a10-5c7f1e2d3a4b",
    "event_id": "0193b7a4-51c0-7f00-8a2b-4c6d8e0f1a2b",
    "service": "incentives", "seq": 1042, "occurred_at": "2027-01-31T12:00:00Z",
    "recorded_at": "2027-01-31T12:00:00.120000Z", "type": "prm.mdf.claim.approved.v1",
    "record": "0193b7a1-0000-7000-8000-000000000005",
    "records": ["0193b7a0-0000-7000-8000-000000000001", "0193b7a1-0000-7000-8000-000000000005",
                "0193b7a1-0000-7000-8000-000000000006", "0193b7a1-0000-7000-8000-000000000007"],
    "partner_id": "0193b7a0-0000-7000-8000-000000000001",
    "actor": "key:0193b79f-0000-7000-8000-00000000000a",
    "request_id": "5d1c0a8e-7b1f-4d2a-9c3e-1f2a3b4c5d6e",
    "data": {"claim_id": "0193b7a1-0000-7000-8000-000000000007",
             "request_id": "0193b7a1-0000-7000-8000-000000000006",
             "partner_id": "0193b7a0-0000-7000-8000-000000000001", "status": "approved",
             "approved": {"amount": "1800.00", "currency": "EUR"}, "version": 2},
    "hash": "6b1f0c...e93a", "erased_by": None}


class AuditTrailEntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENTRY_EXAMPLE]})

    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The event this entry records (one entry each)")
    service: str = Field(description="The service whose event it is: its chain")
    seq: int = Field(description="Its place in its service's chain, from 1, without a gap")
    occurred_at: dt.datetime = Field(description="When it happened (the event's time)")
    recorded_at: dt.datetime = Field(description="When the trail recorded it")
    type: str = Field(description="What happened: the event type, e.g. "
                      "prm.partner.tier_changed.v1")
    record: str | None = Field(description="The record its event is keyed by (the event's "
                               "subject: the aggregate's id)")
    records: list[str] = Field(description="Every record it names: the event's subject and "
                               "each id of its data (what the `record` filter finds it by)")
    partner_id: uuid.UUID | None = Field(description="The partner org it concerns, if any")
    actor: str | None = Field(description="Who did it: `key:<API key id>`, `user:<subject>` "
                              "(a person signed in), `job:<name>` (a scheduled job) or "
                              "`service:<name>`; a follow-up event names the actor of the "
                              "request or job at its origin. Null for events from before "
                              "actors were recorded.")
    request_id: str | None = Field(description="The X-Request-Id of the API request at its "
                                   "origin, if one")
    data: dict[str, Any] = Field(description="The event's data (an erased contact's personal "
                                 "data replaced by a pseudonym)")
    hash: str = Field(description="SHA-256 over the previous entry's hash and this entry "
                      "(hex)")
    erased_by: uuid.UUID | None = Field(default=None, description="The erasure event that "
                                        "replaced a contact's personal data here with a "
                                        "pseudonym")


class AuditVerificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"service": "incentives"}, {"service": "partners", "from_seq": 100001},
                     {}]})

    service: ChainName | None = Field(default=None, description="The chain to verify; every "
                                      "chain (one after the other) when absent")
    from_seq: StrictInt | None = Field(default=None, ge=1, le=2**53 - 1, description="Go on "
                                       "from this entry (`next_from_seq` of an unfinished "
                                       "verification; one service only). From the chain's "
                                       "anchor when absent.")


class ChainStatus(enum.StrEnum):
    """What a verification found of a chain: `intact` (every entry checked matches), `broken`
    (see `problem`), or `unfinished` (the budget ran out: go on from `next_from_seq`)."""

    intact = "intact"
    broken = "broken"
    unfinished = "unfinished"


class ChainProblem(BaseModel):
    finding: ChainFinding
    seq: int = Field(description="The first entry found wrong (or missing)")
    entry_id: uuid.UUID | None = Field(description="That entry, when it exists")
    detail: str


class ChainVerification(BaseModel):
    service: str
    status: ChainStatus
    anchor_seq: int = Field(description="Where the chain starts now: the last entry retention "
                            "deleted (0 if none)")
    head_seq: int = Field(description="The chain's last entry when the verification began")
    head_hash: str = Field(description="Its hash (hex): kept elsewhere, it proves later that "
                           "no entry up to it was changed or removed")
    from_seq: int = Field(description="The first entry checked")
    checked: int = Field(description="How many entries were checked")
    next_from_seq: int | None = Field(default=None, description="Where to go on from "
                                      "(`unfinished` only)")
    problem: ChainProblem | None = None


class AuditVerificationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "verified_at": "2027-01-31T12:00:00Z", "checked": 1042, "chains": [{
            "service": "incentives", "status": "broken", "anchor_seq": 0, "head_seq": 1042,
            "head_hash": "9f2c...01ab", "from_seq": 1, "checked": 516, "next_from_seq": None,
            "problem": {"finding": "altered", "seq": 517,
                        "entry_id": "0193b7a4-51c2-7d3e-9a10-5c7f1e2d3a4b",
                        "detail": "its data no longer matches the digest recorded with it"}}]}]})

    verified_at: dt.datetime
    checked: int = Field(description="How many entries were checked, in every chain")
    chains: list[ChainVerification]
