"""Every event of every context becomes an entry of its service's chain.

The handler only notes the event in the consumer's session; the entries of a whole batch are
written when the batch's transaction commits (a ``before_commit`` hook of that session): the
chains concerned are created or locked in one statement (``INSERT ... ON CONFLICT DO UPDATE``
locks the head rows, in service order, so two workers cannot deadlock; it sets no key column,
so a verification holding the chains ``FOR KEY SHARE`` does not hold it up), the hashes are
computed here, and the entries go in one INSERT, the heads in one UPDATE. A consumer applying
events one by one (after a failure in a batch) commits each alone, and the same hook writes it
alone.

An event already in the trail (redelivered after its inbox row was purged) adds nothing, and
takes no seq. An erasure (a contact's ``removed`` event) pseudonymises that contact's entries
after the batch's own entries are written, in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from prm_audit.trail import chain
from prm_contracts import CONTRACTS, ContactChangedV1
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.ids import new_id

_PENDING = "prm.audit.pending"
_SOURCE = re.compile(r"^/prm/([a-z][a-z0-9-]{0,40})$")
# What a transaction sets to change or delete entries (the trigger refuses it otherwise).
MAINTENANCE = text("SET LOCAL prm_audit.maintenance = 'on'")


def service_of(source: str) -> str:
    """The service owning an event, from its source (``/prm/deals`` -> ``deals``); an event
    from elsewhere is kept in a chain named after its whole source."""
    found = _SOURCE.match(source)
    return found.group(1) if found else source[:200]


@dataclass
class Pending:
    """What a transaction will write when it commits."""

    events: dict[uuid.UUID, CloudEvent] = field(default_factory=dict)
    erased_contacts: dict[str, uuid.UUID] = field(default_factory=dict)


async def record(session: AsyncSession, event: CloudEvent) -> None:
    pending: Pending | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = Pending()
        orm_event.listen(session.sync_session, "before_commit", _write, once=True)
    pending.events.setdefault(event.id, event)
    if event.type == ContactChangedV1.event_type and event.data.get("removed"):
        contact = event.data.get(chain.CONTACT_FIELD)
        if isinstance(contact, str):
            pending.erased_contacts[contact] = event.id


class EveryType(Mapping[str, Handler]):
    """The handler map of the trail: every event type, known to the contracts or not (a type a
    newer producer publishes is audited too)."""

    def __getitem__(self, event_type: str) -> Handler:
        return record

    def __contains__(self, event_type: object) -> bool:
        return isinstance(event_type, str)

    def __iter__(self) -> Iterator[str]:
        return iter(CONTRACTS)

    def __len__(self) -> int:
        return len(CONTRACTS)


HANDLERS = EveryType()

_CHAINS = text("""
    INSERT INTO audit_chains AS c (service, head_seq, head_hash, anchor_seq, anchor_hash)
    SELECT s.service, 0, s.genesis, 0, s.genesis
    FROM unnest(CAST(:services AS text[]), CAST(:genesis AS bytea[])) AS s(service, genesis)
    ORDER BY s.service
    ON CONFLICT (service) DO UPDATE SET head_seq = c.head_seq
    RETURNING c.service, c.head_seq, c.head_hash""")
_KNOWN = text("SELECT event_id FROM audit_entries WHERE event_id = ANY(CAST(:ids AS uuid[]))")
# Each entry's records travel as a JSON array (unnest cannot give a row an array of its own).
_COLUMNS = ("id", "event_id", "service", "seq", "occurred_at", "recorded_at", "type", "record",
            "records", "partner_id", "actor", "request_id", "data", "data_digest",
            "facts_digest", "hash")
_INSERT = text(f"""
    INSERT INTO audit_entries ({", ".join(_COLUMNS)})
    SELECT u.id, u.event_id, u.service, u.seq, u.occurred_at, u.recorded_at, u.type, u.record,
           ARRAY(SELECT jsonb_array_elements_text(u.records)), u.partner_id, u.actor,
           u.request_id, u.data, u.data_digest, u.facts_digest, u.hash
    FROM unnest(CAST(:id AS uuid[]), CAST(:event_id AS uuid[]), CAST(:service AS text[]),
                CAST(:seq AS bigint[]), CAST(:occurred_at AS timestamptz[]),
                CAST(:recorded_at AS timestamptz[]), CAST(:type AS text[]),
                CAST(:record AS text[]), CAST(CAST(:records AS text[]) AS jsonb[]),
                CAST(:partner_id AS uuid[]), CAST(:actor AS text[]), CAST(:request_id AS text[]),
                CAST(CAST(:data AS text[]) AS jsonb[]), CAST(:data_digest AS bytea[]),
                CAST(:facts_digest AS bytea[]), CAST(:hash AS bytea[]))
         AS u({", ".join(_COLUMNS)})""")
_HEADS = text("""
    UPDATE audit_chains c SET head_seq = h.seq, head_hash = h.hash
    FROM unnest(CAST(:services AS text[]), CAST(:seqs AS bigint[]), CAST(:hashes AS bytea[]))
         AS h(service, seq, hash)
    WHERE c.service = h.service""")
_ERASABLE = text("""
    SELECT id, type, data FROM audit_entries
    WHERE data ? 'contact_id' AND data ->> 'contact_id' = :contact AND erased_by IS NULL
    ORDER BY id""")
_PSEUDONYMISE = text("""
    UPDATE audit_entries e SET data = p.data, erased_by = :erasure
    FROM unnest(CAST(:ids AS uuid[]), CAST(CAST(:data AS text[]) AS jsonb[])) AS p(id, data)
    WHERE e.id = p.id""")


def _partner(event: CloudEvent) -> uuid.UUID | None:
    for value in (event.partnerid, event.data.get("partner_id")):
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                continue
    return None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _write(session: Session) -> None:
    """The ``before_commit`` hook: runs inside the async session's greenlet, so its
    synchronous ``execute`` awaits the database."""
    pending: Pending | None = session.info.pop(_PENDING, None)
    if pending is None or not pending.events:
        return
    write(session, pending)


def write(session: Session, pending: Pending) -> None:
    """Append the pending events to their chains (those not in the trail yet: checked once
    their chains are locked, so two writers of one event cannot both find it new), then
    pseudonymise the contacts erased."""
    services = sorted({service_of(e.source) for e in pending.events.values()})
    heads = {row.service: (row.head_seq, bytes(row.head_hash)) for row in session.execute(
        _CHAINS, {"services": services, "genesis": [chain.genesis(s) for s in services]})}
    known = set(session.execute(_KNOWN, {"ids": list(pending.events)}).scalars())
    events = [e for e in pending.events.values() if e.id not in known]
    if events:
        _append(session, events, heads)
    for contact, erasure in pending.erased_contacts.items():
        erase_contact(session, contact, erasure)


def _append(session: Session, events: list[CloudEvent],
            heads: dict[str, tuple[int, bytes]]) -> None:
    now = dt.datetime.now(dt.UTC)
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    for event in events:
        service = service_of(event.source)
        seq, previous = heads[service]
        data = chain.recorded_data(event.data)
        entry = chain.Entry(
            service=service, seq=seq + 1, event_id=event.id, occurred_at=_aware(event.time),
            recorded_at=now, type=event.type, record=event.subject, partner_id=_partner(event),
            actor=event.actor, request_id=event.requestid, data_digest=chain.digest(data),
            facts_digest=chain.digest(chain.facts(event.type, data)))
        hashed = entry.chained(previous)
        heads[service] = (entry.seq, hashed)
        row = {**dataclasses.asdict(entry), "id": new_id(), "hash": hashed,
               "records": chain.canonical(chain.records_of(entry.record, data)).decode(),
               "data": chain.canonical(data).decode()}
        for name in _COLUMNS:
            columns[name].append(row[name])
    session.execute(_INSERT, columns)
    session.execute(_HEADS, {"services": list(heads), "seqs": [h[0] for h in heads.values()],
                             "hashes": [h[1] for h in heads.values()]})


def erase_contact(session: Session, contact: str, erasure: uuid.UUID) -> int:
    """Replace the contact's personal data in every entry with its pseudonym, marking them
    erased by ``erasure``; how many entries changed."""
    ids, data = [], []
    for row in session.execute(_ERASABLE, {"contact": contact}):
        changed = chain.pseudonymised(row.type, row.data)
        if changed is not None:
            ids.append(row.id)
            data.append(chain.canonical(changed).decode())
    if ids:
        session.execute(MAINTENANCE)
        session.execute(_PSEUDONYMISE, {"ids": ids, "data": data, "erasure": erasure})
    return len(ids)
