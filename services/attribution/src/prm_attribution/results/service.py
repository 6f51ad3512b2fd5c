"""Computing and keeping a deal's attribution, and reading it back.

A deal is recomputed, under the newest rules version, whenever something it depends on
changes: a touch (from an event or the API), its amount, its approval, its close. The rows of
that rules version are replaced only when a credit, a share, the amount or the basis changed,
and only then is ``prm.attribution.computed.v1`` published, so a redelivered or replayed event
publishes nothing. Results of earlier rules versions are never touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.config import EVENT_SOURCE
from prm_attribution.crediting.compute import DealFacts, compute, fraction_text
from prm_attribution.crediting.datadriven import History
from prm_attribution.crediting.positional import Touch
from prm_attribution.rules.schemas import AttributionRulesDocument
from prm_contracts import Amount, AttributionComputedV1, AttributionCredit
from prm_events import outbox
from prm_platform.money import minor_units

OPEN_STATUSES = ("submitted", "in_review", "approved", "registered")
# A deal's touches are bounded: beyond this many (oldest first), later ones are not counted.
MAX_TOUCHES = 1000

# The deal's own touches, and the touches recorded for its customer (by domain) before its
# close: both count for it.
_TOUCHES = text("""
    SELECT t.id, t.partner_id, t.kind, t.occurred_at FROM touchpoints t, deals d
    WHERE d.deal_id = :deal AND (t.deal_id = d.deal_id OR (
        t.deal_id IS NULL AND t.customer_domain = d.customer_domain
        AND (d.closed_on IS NULL OR t.occurred_at < d.closed_on + 1)))
    ORDER BY t.occurred_at, t.id LIMIT :limit
""")
_HISTORY = text("""
    WITH closed AS (
        SELECT deal_id, customer_domain, closed_on, status = 'won' AS won FROM deals
        WHERE status IN ('won', 'lost') AND closed_on IS NOT NULL
        ORDER BY closed_on DESC, deal_id DESC LIMIT :limit)
    SELECT c.deal_id, c.won, t.partner_id FROM closed c JOIN touchpoints t
      ON t.deal_id = c.deal_id OR (t.deal_id IS NULL AND t.customer_domain = c.customer_domain
                                   AND t.occurred_at < c.closed_on + 1)
    ORDER BY c.deal_id, t.occurred_at, t.id
""")


async def current_rules(session: AsyncSession) -> tuple[int, AttributionRulesDocument]:
    row = (await session.execute(text(
        "SELECT version, CAST(rules AS text) AS rules FROM attribution_rules "
        "ORDER BY version DESC LIMIT 1"))).one()
    return row.version, parsed_rules(row.version, row.rules)


# Each rules version's document, parsed once (keyed by its text: a version is never rewritten,
# but a test may publish another document under a version number deleted before).
_RULES: dict[tuple[int, str], AttributionRulesDocument] = {}


def parsed_rules(version: int, document: str) -> AttributionRulesDocument:
    found = _RULES.get((version, document))
    if found is None:
        if len(_RULES) > 64:
            _RULES.clear()
        found = _RULES[version, document] = AttributionRulesDocument.model_validate_json(
            document)
    return found


# The history as the data-driven models read it: each closed deal's partners (ids as text) in
# touch order and whether it was won, by deal id, in deal id order.
ClosedDeals = dict[uuid.UUID, tuple[list[str], bool]]


async def read_closed_deals(session: AsyncSession, limit: int) -> ClosedDeals:
    """The ``limit`` most recently closed deals with their partners in touch order."""
    closed: ClosedDeals = {}
    for row in await session.execute(_HISTORY, {"limit": limit}):
        closed.setdefault(row.deal_id, ([], row.won))[0].append(str(row.partner_id))
    return closed


async def read_history(session: AsyncSession) -> History:
    """The history the newest rules version's data-driven models learn from: read it once and
    pass it to ``recompute`` of each deal of a batch (recomputing changes no closed deal)."""
    _, rules = await current_rules(session)
    return History.of(list((await read_closed_deals(session, rules.history_deals)).values()))


# The histories read, by (database epoch, history size): the history revision they were read
# at, and the history. Migration 0008's triggers move the revision with every committed change
# to the history and mark a transaction whose own changes moved it.
_HISTORIES: dict[tuple[str, int], tuple[int, History]] = {}


async def history_for(session: AsyncSession, rules: AttributionRulesDocument, *, epoch: str,
                      revision: int, changed: bool) -> History:
    """The history as ``read_closed_deals`` would read it now: the one kept from an earlier
    read when the history revision (``epoch``, ``revision``, read in this transaction before
    calling) has not moved since and this transaction changed nothing of it (``changed``).

    Safe under concurrency: the revision is read before the history, and a transaction that
    changes the history moves the revision when it commits, so a revision seen unmoved means
    no change committed since the kept history was read."""
    key = (epoch, rules.history_deals)
    if not changed:
        kept = _HISTORIES.get(key)
        if kept is not None and kept[0] == revision:
            return kept[1]
    history = History.of(list((await read_closed_deals(session, rules.history_deals)).values()))
    if not changed:
        if len(_HISTORIES) > 16:
            _HISTORIES.clear()
        _HISTORIES[key] = (revision, history)
    return history


def basis_of(status: str) -> str | None:
    if status == "won":
        return "won"
    return "pipeline" if status in OPEN_STATUSES else None


# Locks the deal; recompute reads the rest after the lock, in a statement of its own (a newer
# snapshot: a touch committed by whoever held the lock is seen).
LOCK_DEAL = text("SELECT deal_id, status, amount, currency, approved, closed_on, "
                 "attribution_revision FROM deals WHERE deal_id = :deal FOR UPDATE")
# Everything else a recompute reads, in one round trip: the newest rules, the history
# revision, the deal's touches (``_TOUCHES``) and what it holds under the newest rules.
_STATE = text("""
    WITH rules AS (SELECT version, rules FROM attribution_rules ORDER BY version DESC LIMIT 1)
    SELECT r.version, CAST(r.rules AS text) AS rules, h.epoch, h.revision,
        coalesce(current_setting('prm_attribution.history_changed', true), '') IN
            ('on', 'bumped') AS history_changed,
        (SELECT CAST(json_agg(json_build_array(t.id, t.partner_id, t.kind,
                CAST(extract(epoch FROM t.occurred_at) * 1000000 AS bigint))
                ORDER BY t.occurred_at, t.id) AS text) FROM (""" + _TOUCHES.text + """) t
        ) AS touches,
        (SELECT CAST(json_agg(json_build_array(x.model, x.basis, x.amount_minor, x.currency))
                AS text) FROM attribution_results x
         WHERE x.deal_id = :deal AND x.rules_version = r.version) AS held_results,
        (SELECT CAST(json_agg(json_build_array(c.model, c.partner_id, c.role, c.share,
                c.credit_minor)) AS text) FROM attribution_credits c
         WHERE c.deal_id = :deal AND c.rules_version = r.version) AS held_credits
    FROM rules r, history_revision h
""")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Replaces the deal's results and credits under one rules version, counts the change on the
# deal and records prm.attribution.computed.v1, in one statement. (Rows are upserted and the
# others deleted: a statement cannot delete a key and insert it again.)
_WRITE = text(f"""
    WITH wanted_credits AS (
        SELECT * FROM unnest(CAST(:credit_models AS text[]), CAST(:partners AS uuid[]),
                             CAST(:roles AS text[]), CAST(:shares AS text[]),
                             CAST(:credits AS bigint[])) AS c(model, partner, role, share, credit)),
    gone_credits AS (
        DELETE FROM attribution_credits c WHERE c.deal_id = :deal AND c.rules_version = :v
        AND NOT EXISTS (SELECT 1 FROM wanted_credits w
                        WHERE w.model = c.model AND w.partner = c.partner_id)),
    gone_results AS (
        DELETE FROM attribution_results WHERE deal_id = :deal AND rules_version = :v
        AND NOT (model = ANY(CAST(:models AS text[])))),
    results AS (
        INSERT INTO attribution_results (deal_id, rules_version, model, basis, amount_minor,
            currency, details, computed_at)
        SELECT CAST(:deal AS uuid), CAST(:v AS integer), m.model, CAST(:basis AS text),
            CAST(:amount AS bigint), CAST(:currency AS text), m.details,
            CAST(:now AS timestamptz)
        FROM unnest(CAST(:models AS text[]), CAST(:details AS jsonb[])) AS m(model, details)
        ON CONFLICT (deal_id, rules_version, model) DO UPDATE SET basis = EXCLUDED.basis,
            amount_minor = EXCLUDED.amount_minor, currency = EXCLUDED.currency,
            details = EXCLUDED.details, computed_at = EXCLUDED.computed_at),
    credits AS (
        INSERT INTO attribution_credits (deal_id, rules_version, model, partner_id, role,
            share, credit_minor)
        SELECT CAST(:deal AS uuid), CAST(:v AS integer), w.model, w.partner, w.role, w.share,
            w.credit FROM wanted_credits w
        ON CONFLICT (deal_id, rules_version, model, partner_id) DO UPDATE SET
            role = EXCLUDED.role, share = EXCLUDED.share,
            credit_minor = EXCLUDED.credit_minor),
    deal AS (
        UPDATE deals SET attribution_revision = CAST(:revision AS integer),
            updated_at = statement_timestamp()
        WHERE deal_id = :deal RETURNING deal_id),
    {outbox.insert_cte(after="deal")}
    SELECT count(*) FROM event
""")


async def recompute(session: AsyncSession, deal_id: uuid.UUID, *,
                    history: History | None = None, deal: Any = None) -> bool:
    """Recompute one deal; True when its credits changed (and the event was published).

    ``history``: the closed deals as ``read_history`` gives them in the same transaction, for
    a caller recomputing many deals; read here when not given (or kept from an earlier read
    while the history revision has not moved). ``deal``: the deal's row with the columns of
    ``LOCK_DEAL``, for a caller that has just locked it (the deal handlers' upsert)."""
    if deal is None:
        deal = (await session.execute(LOCK_DEAL, {"deal": deal_id})).first()
    if deal is None or deal.amount is None or deal.currency is None:
        return False
    basis = basis_of(deal.status)
    if basis is None:  # lost, rejected, expired: the credits computed before stay as they were
        return False
    state = (await session.execute(_STATE, {"deal": deal_id, "limit": MAX_TOUCHES})).one()
    if not state.touches:  # no touches, no results (and no history to read)
        return False
    version, rules = state.version, parsed_rules(state.version, state.rules)
    touches = [Touch(uuid.UUID(i), uuid.UUID(p), kind, _EPOCH + dt.timedelta(microseconds=at))
               for i, p, kind, at in orjson.loads(state.touches)]
    if history is None:
        history = await history_for(session, rules, epoch=str(state.epoch),
                                    revision=state.revision, changed=state.history_changed)
    amount_minor = int(deal.amount.scaleb(minor_units(deal.currency)))
    results = compute(touches, DealFacts(amount_minor, deal.approved,
                                         deal.closed_on if basis == "won" else None),
                      rules, history)
    if not results:
        return False
    wanted = {(model, pid): (c.role, fraction_text(c.share), c.credit_minor)
              for model, result in results.items() for pid, c in result.credits.items()}
    held_results = {tuple(r) for r in orjson.loads(state.held_results or "[]")}
    held = {(m, uuid.UUID(p)): (role, share, credit)
            for m, p, role, share, credit in orjson.loads(state.held_credits or "[]")}
    if held == wanted and held_results == {(m, basis, amount_minor, deal.currency)
                                           for m in results}:
        return False
    revision = deal.attribution_revision + 1
    digits = minor_units(deal.currency)
    ordered = sorted(wanted.items(), key=lambda item: (item[0][0], str(item[0][1])))
    event = AttributionComputedV1(
        deal_id=deal_id, basis=basis, rules_version=version, version=revision,
        deal_amount=Amount(amount=_major(amount_minor, digits), currency=deal.currency),
        credits=[AttributionCredit(model=model, partner_id=pid, role=role,
                                   amount=_major(credit, digits))
                 for (model, pid), (role, _, credit) in ordered])
    await session.execute(_WRITE, {
        "deal": deal_id, "v": version, "basis": basis, "amount": amount_minor,
        "currency": deal.currency, "now": dt.datetime.now(dt.UTC), "revision": revision,
        "models": list(results), "details": [_json(r.details) for r in results.values()],
        "credit_models": [m for (m, _), _ in ordered], "partners": [p for (_, p), _ in ordered],
        "roles": [role for _, (role, _, _) in ordered],
        "shares": [share for _, (_, share, _) in ordered],
        "credits": [credit for _, (_, _, credit) in ordered],
        **outbox.event_params(event, source=EVENT_SOURCE, aggregate_id=deal_id)})
    await outbox.wake_relay(session)
    return True


def _major(minor: int, digits: int) -> str:
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
