"""Every event of every context becomes an entry of its service's chain.

The handler only notes the event in the consumer's session; the entries of a whole batch are
written when the batch's transaction commits (a ``before_commit`` hook, registered once for
every session), in one statement: the worker encodes each entry in two halves around its seq
(``chain.Entry.around_seq``) and ``audit_append`` (migration 0004) creates or locks the chains
concerned (``INSERT ... ON CONFLICT DO UPDATE`` locks the head rows, in service order, so two
workers cannot deadlock; it sets no key column, so a verification holding the chains ``FOR KEY
SHARE`` does not hold it up), numbers the entries after their heads, chains their hashes,
inserts them and moves the heads. A consumer applying events one by one (a poll of one event,
or after a failure in a batch) commits each alone, and the same hook writes it alone.

An event already in the trail (redelivered after its inbox row was purged) adds nothing, and
takes no seq. An erasure (a contact's ``removed`` event) pseudonymises that contact's entries
after the batch's own entries are written, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

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

# One statement per batch: the function (migration 0004) locks or creates the chains, leaves out
# the events already in the trail, numbers and hashes the others, inserts them, moves the heads.
# Each entry's records travel as a JSON array (unnest cannot give a row an array of its own).
_PARAMS = ("chains", "ids", "event_ids", "occurred_at", "types", "record", "records",
           "partner_ids", "actors", "request_ids", "data", "data_digests", "facts_digests",
           "before_seq", "after_seq")
_APPEND = text("""
    SELECT audit_append(
        CAST(:services AS text[]), CAST(:genesis AS bytea[]), CAST(:recorded_at AS timestamptz),
        CAST(:chains AS integer[]), CAST(:ids AS uuid[]), CAST(:event_ids AS uuid[]),
        CAST(:occurred_at AS timestamptz[]), CAST(:types AS text[]), CAST(:record AS text[]),
        CAST(:records AS text[]), CAST(:partner_ids AS uuid[]), CAST(:actors AS text[]),
        CAST(:request_ids AS text[]), CAST(:data AS text[]), CAST(:data_digests AS bytea[]),
        CAST(:facts_digests AS bytea[]), CAST(:before_seq AS bytea[]),
        CAST(:after_seq AS bytea[]))""")
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
    if pending is not None and pending.events:
        write(session, pending)


def _forget(session: Session, rolled_back: SessionTransaction) -> None:
    """A rolled-back transaction's events are not to be written by a later one. (Only the
    whole transaction's: one rolled back to a savepoint, by another part's handler, keeps what
    this one noted.)"""
    if not rolled_back.nested:
        session.info.pop(_PENDING, None)


# On every session, once (a listener per session cost more than the rest of a handler); it
# finds nothing to do in a session no event was recorded in.
orm_event.listen(Session, "before_commit", _write)
orm_event.listen(Session, "after_soft_rollback", _forget)


def write(session: Session, pending: Pending) -> None:
    """Append the pending events to their chains (those not in the trail yet: the database
    looks for them once their chains are locked, so two writers of one event cannot both find
    it new), then pseudonymise the contacts erased."""
    _append(session, list(pending.events.values()))
    for contact, erasure in pending.erased_contacts.items():
        erase_contact(session, contact, erasure)


@functools.lru_cache(maxsize=256)
def _genesis(service: str) -> bytes:
    return chain.genesis(service)


def _append(session: Session, events: list[CloudEvent]) -> None:
    now = dt.datetime.now(dt.UTC)
    chains: dict[str, int] = {}  # service -> its place (from 1) in the statement's arrays
    columns: dict[str, list[Any]] = {name: [] for name in _PARAMS}
    for event in events:
        service = service_of(event.source)
        data = chain.recorded_data(event.data)
        encoded = chain.canonical(data)
        data_digest = hashlib.sha256(encoded).digest()
        # Without personal fields in its type, its facts are its data.
        facts_digest = (chain.digest(chain.facts(event.type, data))
                        if event.type in chain.PERSONAL_FIELDS else data_digest)
        partner = _partner(event)
        occurred = _aware(event.time)
        before, after = chain.Entry(
            service=service, seq=0, event_id=event.id, occurred_at=occurred, recorded_at=now,
            type=event.type, record=event.subject, partner_id=partner, actor=event.actor,
            request_id=event.requestid, data_digest=data_digest, facts_digest=facts_digest,
        ).around_seq()
        columns["chains"].append(chains.setdefault(service, len(chains) + 1))
        columns["ids"].append(new_id())
        columns["event_ids"].append(event.id)
        columns["occurred_at"].append(occurred)
        columns["types"].append(event.type)
        columns["record"].append(event.subject)
        columns["records"].append(
            chain.canonical(chain.records_of(event.subject, data)).decode())
        columns["partner_ids"].append(partner)
        columns["actors"].append(event.actor)
        columns["request_ids"].append(event.requestid)
        columns["data"].append(encoded.decode())
        columns["data_digests"].append(data_digest)
        columns["facts_digests"].append(facts_digest)
        columns["before_seq"].append(before)
        columns["after_seq"].append(after)
    session.execute(_APPEND, {"services": list(chains),
                              "genesis": [_genesis(s) for s in chains], "recorded_at": now,
                              **columns})


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
