"""The hash chain of a service's entries, and what erasure may change in them.

Each entry's ``hash`` is SHA-256 over the previous entry's hash (the genesis hash of the chain,
or its anchor once retention deleted the oldest) and the entry's canonical encoding: its fields
as JSON with sorted keys, times in UTC, the event's data represented by two digests. The data
digest covers the data as recorded; the facts digest covers it without the personal fields of
its type (``PERSONAL_FIELDS``). Both are in the chain, so neither can change unnoticed.

Erasure replaces personal fields with a pseudonym and marks the entry ``erased_by`` the erasure
event. Verification then checks such an entry's facts (not its data digest, which the original
personal data made) and requires its personal fields to be null or the pseudonym, and the
erasure to be an entry of the same chain about the same contact. An erasure can therefore
hide who a person was, never what happened, when, to which record or by whom.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from prm_contracts import ContactChangedV1, PartnerSurveyRequestedV1

HASH_SIZE = 32
# What the personal data of an event type is (the fields naming a person). A contact's events
# carry it; erasing the contact pseudonymises them.
PERSONAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    ContactChangedV1.event_type: ("name", "email", "job_title"),
    # A survey invitation carries the address the survey tool sends it to.
    PartnerSurveyRequestedV1.event_type: ("email",),
}
# The field naming the contact whose personal data an entry holds.
CONTACT_FIELD = "contact_id"
# Not kept in the trail at all: the digest of an API key's secret (the topic that carries it
# is readable by the platform's services alone).
UNRECORDED_FIELDS = ("secret_hash",)


def genesis(service: str) -> bytes:
    """The hash a service's chain starts from."""
    return hashlib.sha256(b"prm-audit-chain\x00" + service.encode()).digest()


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> bytes:
    return hashlib.sha256(canonical(value)).digest()


def recorded_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The event's data as the trail keeps it."""
    return {k: v for k, v in data.items() if k not in UNRECORDED_FIELDS}


def facts(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The data without its personal fields: what erasure leaves as it was."""
    personal = PERSONAL_FIELDS.get(event_type, ())
    return {k: v for k, v in data.items() if k not in personal}


def pseudonym(contact_id: str) -> str:
    """What an erased contact's personal fields read, the same in every entry about it (so
    the trail still tells one person's entries apart from another's)."""
    return "erased-" + hashlib.sha256(b"prm-audit-contact\x00" + contact_id.encode()
                                      ).hexdigest()[:16]


def pseudonymised(event_type: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The data with its personal fields replaced by the contact's pseudonym; None when it
    names no contact or holds no personal data (then nothing is to change)."""
    contact = data.get(CONTACT_FIELD)
    personal = [f for f in PERSONAL_FIELDS.get(event_type, ()) if data.get(f) is not None]
    if not isinstance(contact, str) or not personal:
        return None
    alias = pseudonym(contact)
    changed = {f: alias for f in personal if data[f] != alias}
    return {**data, **changed} if changed else None


def records_of(subject: str | None, data: Mapping[str, Any]) -> list[str]:
    """Every record an entry names, sorted: the event's subject (what it is keyed by), each
    top-level ``*_id`` of its data, and the id of a partner snapshot it carries. A claim's
    events are keyed by its allocation; the trail still finds them by the claim's id."""
    found = {value for key, value in data.items() if key.endswith("_id") and
             isinstance(value, str)}
    partner = data.get("partner")
    if isinstance(partner, Mapping) and isinstance(partner.get("id"), str):
        found.add(partner["id"])
    if subject is not None:
        found.add(subject)
    return sorted(found)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True)
class Entry:
    """What the chain covers of an entry."""

    service: str
    seq: int
    event_id: uuid.UUID
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    type: str
    record: str | None
    partner_id: uuid.UUID | None
    actor: str | None
    request_id: str | None
    data_digest: bytes
    facts_digest: bytes

    def encoded(self) -> bytes:
        return canonical({
            "service": self.service, "seq": self.seq, "event_id": str(self.event_id),
            "occurred_at": _time(self.occurred_at), "recorded_at": _time(self.recorded_at),
            "type": self.type, "record": self.record,
            "partner_id": str(self.partner_id) if self.partner_id else None,
            "actor": self.actor, "request_id": self.request_id,
            "data_digest": self.data_digest.hex(), "facts_digest": self.facts_digest.hex()})

    def chained(self, previous: bytes) -> bytes:
        return hashlib.sha256(previous + self.encoded()).digest()

    def around_seq(self) -> tuple[bytes, bytes]:
        """``encoded()`` in two halves around the seq's digits (whatever ``seq`` says here):
        ``before + str(seq) + after`` is the encoding at that seq. The recorder hands them to
        the database, which alone knows the seq once it locked the chain."""
        before = canonical({
            "actor": self.actor, "data_digest": self.data_digest.hex(),
            "event_id": str(self.event_id), "facts_digest": self.facts_digest.hex(),
            "occurred_at": _time(self.occurred_at), "partner_id":
            str(self.partner_id) if self.partner_id else None, "record": self.record,
            "recorded_at": _time(self.recorded_at), "request_id": self.request_id})
        # The keys sort as written: ``seq`` follows ``request_id``, then ``service``, ``type``.
        return (before[:-1] + b',"seq":', b',"service":' + canonical(self.service)
                + b',"type":' + canonical(self.type) + b"}")

    @classmethod
    def of(cls, row: Any) -> Entry:
        """From a row of ``audit_entries`` (any object with its columns)."""
        return cls(service=row.service, seq=row.seq, event_id=row.event_id,
                   occurred_at=row.occurred_at, recorded_at=row.recorded_at, type=row.type,
                   record=row.record, partner_id=row.partner_id, actor=row.actor,
                   request_id=row.request_id, data_digest=bytes(row.data_digest),
                   facts_digest=bytes(row.facts_digest))


class ChainFinding(enum.StrEnum):
    """What is wrong with a chain: an entry `altered` (its stored hash is not the recomputed
    one, or its data not its digest), entries `missing` (a gap in the sequence, or fewer than
    the chain's head says), or an `unexplained_erasure` (personal data replaced with no erasure
    of that contact after it in the chain)."""

    altered = "altered"
    missing = "missing"
    unexplained_erasure = "unexplained_erasure"


@dataclass(frozen=True)
class Problem:
    finding: ChainFinding
    seq: int
    entry_id: uuid.UUID | None
    detail: str


@dataclass
class Walk:
    """A verification's position in one chain: the last seq and hash it trusts."""

    seq: int
    hash: bytes
    checked: int = 0


def check(walk: Walk, rows: Iterable[Any], erasures: Mapping[uuid.UUID, Any]) -> Problem | None:
    """Check ``rows`` (in seq order, following ``walk``) and move ``walk`` past them; the first
    problem found, if any. ``erasures`` maps the ``erased_by`` ids of these rows to the
    erasure's own entry (absent: not in the chain)."""
    for row in rows:
        if row.seq != walk.seq + 1:
            return Problem(ChainFinding.missing, walk.seq + 1, None,
                           f"entries {walk.seq + 1} to {row.seq - 1} are missing"
                           if row.seq > walk.seq + 2 else f"entry {walk.seq + 1} is missing")
        entry = Entry.of(row)
        if entry.chained(walk.hash) != bytes(row.hash):
            return Problem(ChainFinding.altered, row.seq, row.id,
                           "its fields or the entry before it no longer match its hash")
        if problem := _check_data(row, entry, erasures):
            return problem
        walk.seq, walk.hash = row.seq, bytes(row.hash)
        walk.checked += 1
    return None


def _check_data(row: Any, entry: Entry, erasures: Mapping[uuid.UUID, Any]) -> Problem | None:
    if list(row.records) != records_of(row.record, row.data):
        return Problem(ChainFinding.altered, row.seq, row.id,
                       "the records it is filed under are not those its data names")
    if row.erased_by is None:
        if digest(row.data) != entry.data_digest:
            return Problem(ChainFinding.altered, row.seq, row.id,
                           "its data no longer matches the digest recorded with it")
        return None
    if digest(facts(row.type, row.data)) != entry.facts_digest:
        return Problem(ChainFinding.altered, row.seq, row.id,
                       "its data beyond the personal fields erasure replaces was changed")
    contact = row.data.get(CONTACT_FIELD)
    erasure = erasures.get(row.erased_by)
    if (erasure is None or erasure.service != row.service or erasure.seq < row.seq
            or not isinstance(contact, str)
            or erasure.data.get(CONTACT_FIELD) != contact or not erasure.data.get("removed")):
        return Problem(ChainFinding.unexplained_erasure, row.seq, row.id,
                       "its personal data was replaced, but no erasure of its contact in this "
                       "chain accounts for it")
    alias = pseudonym(contact)
    if any(row.data.get(f) not in (None, alias) for f in PERSONAL_FIELDS.get(row.type, ())):
        return Problem(ChainFinding.unexplained_erasure, row.seq, row.id,
                       "its personal fields hold something other than the contact's pseudonym")
    return None
