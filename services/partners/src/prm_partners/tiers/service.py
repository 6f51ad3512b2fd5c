"""Programme tiers that move by themselves.

Won deals arrive as events and are kept one row per deal, converted to the programme's base
currency with the latest FX rate effective on or before the day the deal closed (the rate and
its date are kept with it). The rates are the incentives ledger's, kept here as a projection
of ``prm.fx.rate_set.v1`` (``rate_set``). A partner is evaluated when an event concerning it
arrives, when the vendor asks, when an FX rate changes what its deals are worth, and by the
scheduled job (daily for every active partner, and soon after the tiers or settings
changed). The decision itself is ``evaluate.decide``; this module reads what it needs and
applies what it decides: ``partners.tier``, the partner's version, a history entry and
``prm.partner.tier_changed.v1``, in the caller's transaction, under the partner's row lock.
Where the partner stands against the next tier up is announced too
(``prm.partner.tier_progress.v1``), when it changed since the last announcement (a digest of
it is kept in the partner's standing).
"""

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    DealWonV1,
    FxRateSetV1,
    PartnerTierChangedV1,
    PartnerTierProgressV1,
    TierShortfall,
)
from prm_partners.compliance import service as compliance
from prm_partners.declaration import (
    PARTNERS_READ,
    PARTNERS_WRITE,
    PROGRAMME_READ,
    PROGRAMME_WRITE,
)
from prm_partners.partners import repository as partners
from prm_partners.partners.models import Partner
from prm_partners.partners.service import ensure_own, ensure_visible, publish, snapshot, touch
from prm_partners.tiers import evaluate
from prm_partners.tiers.listing import TIER_HISTORY, TIERS
from prm_partners.tiers.models import (
    DealFact,
    Tier,
    TierChange,
    TierProgramme,
    TierStanding,
)
from prm_partners.tiers.schemas import (
    MAX_TIERS,
    TierIn,
    TierPatch,
    TierProgrammeIn,
)
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import convert, format_amount, minor_units, pair_rate
from prm_platform.problems import Conflict, NotFound, Unprocessable, field_error
from prm_platform.security import Principal

# Only active partners move; a suspended or offboarded one keeps the tier it had.
EVALUATED_STATUSES = ("active",)
# Partners evaluated inline after an FX rate changed; the rest are left to the job.
INLINE_EVALUATIONS = 50
EVALUATION_BATCH = 200
_CONVERSION_BATCH = 1000
MAX_RATES_SHOWN = 100


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


# -- compliance -------------------------------------------------------------------------------

async def compliance_facts(session: AsyncSession, partner_id: uuid.UUID, on: dt.date
                           ) -> tuple[int, bool]:
    """Active certifications and compliance on ``on``. A failing query fails the evaluation:
    a partner is never counted compliant on a guess."""
    return (await compliance.active_certification_count(session, partner_id, on),
            await compliance.is_compliant(session, partner_id, on))


# -- programme settings -----------------------------------------------------------------------

async def programme(session: AsyncSession, *, for_update: bool = False) -> TierProgramme:
    query = select(TierProgramme).where(TierProgramme.id == 1)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


async def get_programme(session: AsyncSession, principal: Principal) -> TierProgramme:
    principal.require(PROGRAMME_READ)
    return await programme(session)


async def put_programme(session: AsyncSession, principal: Principal, data: TierProgrammeIn,
                        if_match: str | None) -> TierProgramme:
    """A new base currency converts every won deal again (in this request: a rare change); any
    change makes every partner due for evaluation by the job."""
    _vendor(principal, PROGRAMME_WRITE)
    current = await programme(session, for_update=True)
    check_if_match(if_match, current.version)
    values = data.model_dump()
    if all(getattr(current, k) == v for k, v in values.items()):
        return current
    rebase = current.base_currency != data.base_currency
    for field, value in values.items():
        setattr(current, field, value)
    current.version += 1
    current.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    if rebase:
        await reconvert(session, data.base_currency, "TRUE", {})
    await _all_due(session)
    return current


async def _all_due(session: AsyncSession) -> None:
    """Every partner is evaluated again by the next run of the job."""
    await session.execute(update(TierStanding).values(evaluated_on=None))


# -- tiers ------------------------------------------------------------------------------------

async def _check_revenue_currency(session: AsyncSession, data: TierIn | TierPatch) -> None:
    if data.min_revenue is None:
        return
    base = (await programme(session)).base_currency
    if data.min_revenue.currency != base:
        raise Unprocessable(f"tier minimums are in the programme's base currency, {base}",
                            errors=[field_error("body.min_revenue.currency", f"must be {base}")])


async def _check_unique(session: AsyncSession, name: str | None, rank: int | None,
                        tier_id: uuid.UUID | None) -> None:
    for column, value, what in ((Tier.name, name, "name"), (Tier.rank, rank, "rank")):
        if value is None:
            continue
        taken = await session.scalar(select(Tier.id).where(column == value))
        if taken is not None and taken != tier_id:
            raise Conflict(f"another tier has the {what} {value!r}")


async def _held(session: AsyncSession, name: str) -> bool:
    return await session.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM partners WHERE tier = :name)"), {"name": name}) or False


async def _flush(session: AsyncSession) -> None:
    """Flush, with a concurrent writer's duplicate name or rank as a 409."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("another tier took that name or rank") from None


async def create_tier(session: AsyncSession, principal: Principal, data: TierIn) -> Tier:
    _vendor(principal, PROGRAMME_WRITE)
    await _check_revenue_currency(session, data)
    if (await session.scalar(text("SELECT count(*) FROM tiers")) or 0) >= MAX_TIERS:
        raise Conflict(f"a programme has at most {MAX_TIERS} tiers")
    await _check_unique(session, data.name, data.rank, None)
    now = dt.datetime.now(dt.UTC)
    tier = Tier(id=new_id(), name=data.name, rank=data.rank, description=data.description,
                min_revenue=data.min_revenue.value if data.min_revenue else None,
                min_revenue_currency=data.min_revenue.currency if data.min_revenue else None,
                min_certifications=data.min_active_certifications,
                min_won_deals=data.min_won_deals, compliance_required=data.compliance_required,
                version=1, created_at=now, updated_at=now)
    session.add(tier)
    await _flush(session)
    await _all_due(session)
    return tier


async def get_tier(session: AsyncSession, principal: Principal, tier_id: uuid.UUID, *,
                   for_update: bool = False) -> Tier:
    principal.require(PROGRAMME_READ)
    query = select(Tier).where(Tier.id == tier_id)
    if for_update:
        query = query.with_for_update()
    tier = (await session.execute(query)).scalar_one_or_none()
    if tier is None:
        raise NotFound("tier not found")
    return tier


async def list_tiers(session: AsyncSession, principal: Principal, query: ListQuery
                     ) -> tuple[list[Tier], str | None, int | None]:
    principal.require(PROGRAMME_READ)
    return await TIERS.page(session, select(Tier), query)


_PATCHED = {"min_active_certifications": "min_certifications"}


async def update_tier(session: AsyncSession, principal: Principal, tier_id: uuid.UUID,
                      data: TierPatch, if_match: str | None) -> Tier:
    _vendor(principal, PROGRAMME_WRITE)
    tier = await get_tier(session, principal, tier_id, for_update=True)
    check_if_match(if_match, tier.version)
    sent = data.model_dump(exclude_unset=True)
    if "min_revenue" in sent:
        await _check_revenue_currency(session, data)
        money = data.min_revenue
        sent.pop("min_revenue")
        sent["min_revenue"] = money.value if money else None
        sent["min_revenue_currency"] = money.currency if money else None
    changes = {_PATCHED.get(k, k): v for k, v in sent.items()}
    changes = {k: v for k, v in changes.items() if getattr(tier, k) != v}
    if not changes:
        return tier
    if "name" in changes and await _held(session, tier.name):
        raise Conflict(f"partners hold {tier.name}: a tier partners hold keeps its name")
    await _check_unique(session, changes.get("name"), changes.get("rank"), tier.id)
    for field, value in changes.items():
        setattr(tier, field, value)
    tier.version += 1
    tier.updated_at = dt.datetime.now(dt.UTC)
    await _flush(session)
    await _all_due(session)
    return tier


async def delete_tier(session: AsyncSession, principal: Principal, tier_id: uuid.UUID,
                      if_match: str | None) -> None:
    _vendor(principal, PROGRAMME_WRITE)
    tier = await get_tier(session, principal, tier_id, for_update=True)
    check_if_match(if_match, tier.version)
    if await _held(session, tier.name):
        raise Conflict(f"partners hold {tier.name}: change its criteria so that they move, "
                       "then delete it")
    await session.delete(tier)
    await session.flush()
    await _all_due(session)


async def tier_rules(session: AsyncSession) -> list[evaluate.Tier]:
    rows = (await session.execute(select(Tier).order_by(Tier.rank).limit(MAX_TIERS))).scalars()
    return [evaluate.Tier(t.name, t.rank, evaluate.Requirements(
        min_revenue=t.min_revenue, revenue_currency=t.min_revenue_currency,
        min_certifications=t.min_certifications, min_won_deals=t.min_won_deals,
        compliance_required=t.compliance_required)) for t in rows]


# -- FX rates and conversion ------------------------------------------------------------------

def rate_text(rate: Decimal) -> str:
    """A stored rate without its padding zeros, never in exponent form."""
    return f"{rate.normalize():f}"


_PROJECT_RATE = text("""
    INSERT INTO fx_rates (id, from_currency, to_currency, effective_on, rate, version,
                          created_at, updated_at)
    VALUES (:id, :base, :quote, :effective_on, :rate, 1, :recorded_at, :now)
    ON CONFLICT (from_currency, to_currency, effective_on) DO UPDATE SET
        id = excluded.id, rate = excluded.rate, version = fx_rates.version + 1,
        updated_at = excluded.updated_at
    WHERE (fx_rates.id, fx_rates.rate) IS DISTINCT FROM (excluded.id, excluded.rate)
    RETURNING from_currency, to_currency, effective_on
""")


async def rate_set(session: AsyncSession, rate: FxRateSetV1) -> None:
    """Keep a rate the incentives ledger (the one owner of FX rates) recorded: the projection
    of its pair and day takes it (a rate entered here before the ledger owned them gives way),
    the won deals it now converts are converted again and their partners evaluated. A
    redelivery changes nothing."""
    value = pair_rate(rate.base, rate.quote, rate.rate)  # a broken event is dead-lettered
    kept = (await session.execute(_PROJECT_RATE, {
        "id": rate.rate_id, "base": rate.base, "quote": rate.quote,
        "effective_on": rate.effective_on, "rate": value, "recorded_at": rate.recorded_at,
        "now": dt.datetime.now(dt.UTC)})).first()
    if kept is not None:
        await _rate_changed(session, kept)


async def _rate_changed(session: AsyncSession, rate: Any) -> None:
    base = (await programme(session)).base_currency
    if rate.to_currency != base:
        return  # only rates to the base currency convert won deals
    moved = await reconvert(session, base, "f.currency = :currency AND f.closed_on >= :since",
                            {"currency": rate.from_currency, "since": rate.effective_on})
    await evaluate_soon(session, moved)


async def evaluate_soon(session: AsyncSession, partner_ids: Iterable[uuid.UUID]) -> None:
    """Evaluate the first partners now, and leave the rest due for the job."""
    ordered = sorted(set(partner_ids))
    if not ordered:
        return
    await session.execute(update(TierStanding).where(TierStanding.partner_id.in_(ordered))
                          .values(evaluated_on=None))
    for partner_id in ordered[:INLINE_EVALUATIONS]:
        await evaluate_partner(session, partner_id, today())


_TO_CONVERT = """
    SELECT f.deal_id, f.partner_id, f.amount, f.currency, f.base_amount, f.base_currency,
           f.fx_rate, f.fx_rate_on, r.rate, r.effective_on
    FROM tier_deal_facts f
    LEFT JOIN LATERAL (
        SELECT rate, effective_on FROM fx_rates
        WHERE from_currency = f.currency AND to_currency = :base
          AND effective_on <= f.closed_on
        ORDER BY effective_on DESC LIMIT 1) r ON true
    WHERE ({where}) AND f.deal_id > :after
    ORDER BY f.deal_id LIMIT :batch
"""
_CONVERTED = text(
    "UPDATE tier_deal_facts SET base_amount = :base_amount, base_currency = :base_currency, "
    "fx_rate = :fx_rate, fx_rate_on = :fx_rate_on WHERE deal_id = :deal_id")


def conversion(amount: Decimal, currency: str, base: str, rate: Decimal | None,
               effective_on: dt.date | None
               ) -> tuple[Decimal | None, str | None, Decimal | None, dt.date | None]:
    """(base amount, base currency, rate, its date) of a deal: unconverted (all None) while no
    rate exists; a deal in the base currency needs none (rate 1, no date)."""
    if currency == base:
        return convert(amount, currency, base, Decimal(1)), base, Decimal(1), None
    if rate is None:
        return None, None, None, None
    return convert(amount, currency, base, rate), base, rate, effective_on


async def reconvert(session: AsyncSession, base: str, where: str, params: dict[str, Any]
                    ) -> set[uuid.UUID]:
    """Convert the won deals ``where`` selects (SQL over ``f``, a constant of this module)
    again with the rates as they are now, in batches; returns the partners whose deals'
    conversion changed."""
    query = text(_TO_CONVERT.format(where=where))
    moved: set[uuid.UUID] = set()
    after = uuid.UUID(int=0)
    while True:
        rows = list(await session.execute(query, {**params, "base": base, "after": after,
                                                  "batch": _CONVERSION_BATCH}))
        changed = []
        for row in rows:
            new = conversion(row.amount, row.currency, base, row.rate, row.effective_on)
            if new != (row.base_amount, row.base_currency, row.fx_rate, row.fx_rate_on):
                changed.append({"deal_id": row.deal_id, "base_amount": new[0],
                                "base_currency": new[1], "fx_rate": new[2],
                                "fx_rate_on": new[3]})
                moved.add(row.partner_id)
        if changed:
            await session.execute(_CONVERTED, changed)
        if len(rows) < _CONVERSION_BATCH:
            return moved
        after = rows[-1].deal_id


# -- facts from events ------------------------------------------------------------------------

_UPSERT_FACT = text("""
    INSERT INTO tier_deal_facts (deal_id, partner_id, amount, currency, closed_on,
                                 deal_version, recorded_at)
    VALUES (:deal_id, :partner_id, :amount, :currency, :closed_on, :version, :now)
    ON CONFLICT (deal_id) DO UPDATE SET
        partner_id = excluded.partner_id, amount = excluded.amount,
        currency = excluded.currency, closed_on = excluded.closed_on,
        deal_version = excluded.deal_version, recorded_at = excluded.recorded_at,
        base_amount = NULL, base_currency = NULL, fx_rate = NULL, fx_rate_on = NULL
    WHERE excluded.deal_version > tier_deal_facts.deal_version
      AND (tier_deal_facts.partner_id, tier_deal_facts.amount, tier_deal_facts.currency,
           tier_deal_facts.closed_on)
          IS DISTINCT FROM (excluded.partner_id, excluded.amount, excluded.currency,
                            excluded.closed_on)
    RETURNING deal_id
""")


async def record_won(session: AsyncSession, won: DealWonV1) -> set[uuid.UUID]:
    """Keep a won deal (upsert by deal id: a redelivery, a replay or an older version changes
    nothing) and convert it; returns the partners whose metrics changed."""
    amount = Decimal(won.amount.amount)
    minor_units(won.amount.currency)  # an unknown currency is a broken event: dead-lettered
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"deal {won.deal_id}: a won amount is a non-negative number")
    before = await session.scalar(select(DealFact.partner_id).where(
        DealFact.deal_id == won.deal_id).with_for_update())
    stored = await session.scalar(_UPSERT_FACT, {
        "deal_id": won.deal_id, "partner_id": won.partner_id, "amount": amount,
        "currency": won.amount.currency, "closed_on": won.closed_on, "version": won.version,
        "now": dt.datetime.now(dt.UTC)})
    if stored is None:
        return set()
    base = (await programme(session)).base_currency
    await reconvert(session, base, "f.deal_id = :deal", {"deal": won.deal_id})
    return {won.partner_id} | ({before} if before else set())


# -- metrics and evaluation -------------------------------------------------------------------

_WINDOW = "partner_id = :partner AND closed_on > :start AND closed_on <= :end"
_TOTALS = text(f"""
    SELECT count(*) AS won_deals,
           coalesce(sum(base_amount) FILTER (WHERE base_currency = :base), 0) AS revenue
    FROM tier_deal_facts WHERE {_WINDOW}""")
_RATES_USED = text(f"""
    SELECT currency, fx_rate, fx_rate_on, count(*) AS deals, sum(amount) AS amount,
           sum(base_amount) AS base_amount
    FROM tier_deal_facts WHERE {_WINDOW} AND base_currency = :base AND currency <> :base
    GROUP BY currency, fx_rate, fx_rate_on ORDER BY currency, fx_rate_on
    LIMIT {MAX_RATES_SHOWN}""")
_UNCONVERTED = text(f"""
    SELECT currency, count(*) AS deals, sum(amount) AS amount
    FROM tier_deal_facts WHERE {_WINDOW} AND base_currency IS DISTINCT FROM :base
    GROUP BY currency ORDER BY currency LIMIT {MAX_RATES_SHOWN}""")


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": format_amount(amount, currency), "currency": currency}


async def metrics(session: AsyncSession, partner_id: uuid.UUID, as_of: dt.date,
                  settings: TierProgramme) -> tuple[evaluate.Metrics, dict[str, Any]]:
    """The partner's values on ``as_of``, for the decision and as the history keeps them."""
    base = settings.base_currency
    start = evaluate.window_start(as_of, settings.window_months)
    params = {"partner": partner_id, "base": base, "end": as_of, "start": start}
    totals = (await session.execute(_TOTALS, params)).one()
    rates = list(await session.execute(_RATES_USED, params))
    unconverted = list(await session.execute(_UNCONVERTED, params))
    certifications, compliant = await compliance_facts(session, partner_id, as_of)
    revenue = Decimal(totals.revenue)
    values = {
        "revenue": _money(revenue, base), "won_deals": totals.won_deals,
        "active_certifications": certifications, "compliant": compliant,
        "window_from": start.isoformat(), "window_to": as_of.isoformat(),
        "rates_used": [{"currency": r.currency, "rate": rate_text(r.fx_rate),
                        "effective_on": r.fx_rate_on.isoformat(), "deals": r.deals,
                        "amount": format_amount(r.amount, r.currency),
                        "base_amount": format_amount(r.base_amount, base)} for r in rates],
        "unconverted": [{"currency": u.currency, "deals": u.deals,
                         "amount": format_amount(u.amount, u.currency)} for u in unconverted],
    }
    return evaluate.Metrics(revenue=revenue, currency=base, won_deals=totals.won_deals,
                            certifications=certifications, compliant=compliant), values


def criteria_strings(values: dict[str, Any]) -> dict[str, str]:
    """The decisive values as the event carries them: strings, money as decimal strings."""
    return {
        "revenue": values["revenue"]["amount"], "revenue_currency": values["revenue"]["currency"],
        "won_deals": str(values["won_deals"]),
        "active_certifications": str(values["active_certifications"]),
        "compliant": "true" if values["compliant"] else "false",
        "window_from": values["window_from"], "window_to": values["window_to"],
        "fx_rates": "; ".join(f"{r['currency']} {r['rate']} from {r['effective_on']}"
                              for r in values["rates_used"]),
        "unconverted_deals": str(sum(u["deals"] for u in values["unconverted"])),
    }


def _pending_of(standing: TierStanding | None) -> evaluate.Pending | None:
    if standing is None or standing.pending_since is None:
        return None
    return evaluate.Pending(standing.pending_tier, standing.pending_since)


async def _standing(session: AsyncSession, partner_id: uuid.UUID) -> TierStanding | None:
    return (await session.execute(select(TierStanding).where(
        TierStanding.partner_id == partner_id).execution_options(populate_existing=True))
    ).scalar_one_or_none()


def _value_text(value: tuple[Decimal, str] | int | bool) -> str:
    if isinstance(value, tuple):
        return format_amount(*value)
    if isinstance(value, bool):  # before int: a bool is one
        return "true" if value else "false"
    return str(value)


def progress_shortfalls(gaps: list[evaluate.Shortfall]) -> list[TierShortfall]:
    """The shortfalls as the progress event carries them: values as strings, money in the
    currency of the partner's value (the base currency)."""
    return [TierShortfall(
        criterion=gap.criterion, code=gap.code, required=_value_text(gap.required),
        actual=_value_text(gap.actual),
        currency=gap.actual[1] if isinstance(gap.actual, tuple) else None,
        message=gap.message) for gap in gaps]


# The window's bounds move with the day evaluated for: a partner whose values stay the same
# is not announced again every day for them (the event still carries them).
_UNDATED = frozenset({"window_from", "window_to"})


def progress_digest(tier: str | None, next_tier: str | None, shortfalls: list[TierShortfall],
                    criteria: dict[str, str]) -> str:
    """What a progress event says, as a SHA-256 (hex): equal digests, nothing to announce."""
    said = {"tier": tier, "next_tier": next_tier,
            "shortfalls": [gap.model_dump(mode="json") for gap in shortfalls],
            "criteria": {k: v for k, v in criteria.items() if k not in _UNDATED}}
    return hashlib.sha256(json.dumps(said, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


async def evaluate_partner(session: AsyncSession, partner_id: uuid.UUID, as_of: dt.date
                           ) -> evaluate.Decision | None:
    """Evaluate one partner on ``as_of`` and apply the decision; None if the partner is
    unknown or not active (its tier then stays as it is). Its progress to the next tier is
    announced when it differs from the last announcement (always at its first evaluation)."""
    partner = await partners.get(session, partner_id, for_update=True)
    if partner is None or partner.status not in EVALUATED_STATUSES:
        return None
    settings = await programme(session)
    tiers = await tier_rules(session)
    found, values = await metrics(session, partner_id, as_of, settings)
    standing = await _standing(session, partner_id)
    decision = evaluate.decide(tiers, found, partner.tier, _pending_of(standing), as_of,
                               settings.demotion_grace_days)
    now = dt.datetime.now(dt.UTC)
    pending = decision.pending
    state: dict[str, Any] = {"pending_tier": pending.tier if pending else None,
                             "pending_since": pending.since if pending else None,
                             "evaluated_on": as_of, "updated_at": now}
    criteria = criteria_strings(values)
    upward = evaluate.next_tier(tiers, found, decision.tier)
    next_name = upward[0].name if upward else None
    shortfalls = progress_shortfalls(upward[1]) if upward else []
    digest = progress_digest(decision.tier, next_name, shortfalls, criteria)
    progress: PartnerTierProgressV1 | None = None
    if standing is None or standing.progress_digest != digest:
        version = (standing.progress_version if standing else 0) + 1
        state |= {"progress_digest": digest, "progress_version": version}
        progress = PartnerTierProgressV1(
            partner_id=partner_id, tier=decision.tier, next_tier=next_name,
            shortfalls=shortfalls, criteria=criteria, evaluated_on=as_of, version=version)
    await session.execute(insert(TierStanding).values(partner_id=partner_id, **state)
                          .on_conflict_do_update(index_elements=["partner_id"], set_=state))
    if decision.changed:
        assert decision.direction is not None
        partner.tier = decision.tier
        touch(partner)
        await session.flush()
        session.add(TierChange(id=new_id(), partner_id=partner_id, from_tier=decision.previous,
                               to_tier=decision.tier, direction=decision.direction,
                               reason=decision.reason[:2000], criteria=values, as_of=as_of,
                               partner_version=partner.version, changed_at=now))
        await publish(session, partner_id, PartnerTierChangedV1(
            partner=snapshot(partner), previous_tier=decision.previous, tier=decision.tier,
            direction=decision.direction, criteria=criteria, reason=decision.reason))
    if progress is not None:
        await publish(session, partner_id, progress)
    return decision


_DUE = text(f"""
    SELECT p.id FROM partners p
    LEFT JOIN partner_tier_standing s ON s.partner_id = p.id
    WHERE p.status IN ({", ".join(f"'{s}'" for s in EVALUATED_STATUSES)})
      AND (s.evaluated_on IS NULL OR s.evaluated_on < :as_of)
    ORDER BY p.id LIMIT :batch
    FOR UPDATE OF p SKIP LOCKED""")


async def evaluate_due(session: AsyncSession, batch: int = EVALUATION_BATCH,
                       as_of: dt.date | None = None) -> int:
    """The scheduled evaluation: active partners not yet evaluated for ``as_of`` (today), or
    made due by a change of the tiers, the settings or an FX rate. Matures pending demotions.
    Up to ``batch`` per run; the scheduler runs it again at once while there are more."""
    as_of = as_of or today()
    due = list((await session.execute(_DUE, {"as_of": as_of, "batch": batch})).scalars())
    for partner_id in due:
        await evaluate_partner(session, partner_id, as_of)
    return len(due)


# -- a partner's tier, as its readers see it ---------------------------------------------------

async def tier_view(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                    as_of: dt.date) -> dict[str, Any]:
    """What the partner holds, its values on ``as_of``, the demotion pending (or due at the
    next evaluation) and what the next tier up takes. Reads only."""
    principal.require(PARTNERS_READ)
    await ensure_visible(session, principal, partner_id)
    partner = await partners.get(session, partner_id)
    if partner is None:
        raise NotFound("partner not found")
    return await _view(session, partner, as_of)


async def _view(session: AsyncSession, partner: Partner, as_of: dt.date) -> dict[str, Any]:
    partner_id = partner.id
    settings = await programme(session)
    tiers = await tier_rules(session)
    found, values = await metrics(session, partner_id, as_of, settings)
    standing = await _standing(session, partner_id)
    stored = _pending_of(standing)
    decision = evaluate.decide(tiers, found, partner.tier, stored, as_of,
                               settings.demotion_grace_days)
    pending = None
    if decision.pending is not None:
        pending = {"to_tier": decision.pending.tier, "since": decision.pending.since,
                   "effective_on": decision.due_on}
    elif decision.direction == evaluate.DEMOTION:  # due: the next evaluation applies it
        since = stored.since if stored else as_of
        pending = {"to_tier": decision.tier, "since": since,
                   "effective_on": since + dt.timedelta(days=settings.demotion_grace_days)}
    upward = evaluate.next_tier(tiers, found, partner.tier)
    return {"partner_id": partner_id, "tier": partner.tier,
            "qualifying_tier": decision.qualifying.name if decision.qualifying else None,
            "as_of": as_of, "evaluated_on": standing.evaluated_on if standing else None,
            "criteria": values, "pending_demotion": pending,
            "next_tier": _next_tier(*upward) if upward else None}


def _next_tier(tier: evaluate.Tier, gaps: list[evaluate.Shortfall]) -> dict[str, Any]:
    def value(v: tuple[Decimal, str] | int | bool) -> Any:
        return _money(*v) if isinstance(v, tuple) else v

    return {"name": tier.name, "missing": [gap.message for gap in gaps],
            "shortfalls": [{"criterion": gap.criterion, "required": value(gap.required),
                            "actual": value(gap.actual), "code": gap.code,
                            "params": gap.params, "message": gap.message} for gap in gaps]}


async def history_page(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                       query: ListQuery) -> tuple[list[TierChange], str | None, int | None]:
    principal.require(PARTNERS_READ)
    await ensure_visible(session, principal, partner_id)
    if await partners.get(session, partner_id) is None:
        raise NotFound("partner not found")
    return await TIER_HISTORY.page(
        session, select(TierChange).where(TierChange.partner_id == partner_id), query)


async def evaluate_now(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                       as_of: dt.date | None) -> dict[str, Any]:
    """The vendor's evaluation on demand; the answer is the tier view after it."""
    principal.require(PARTNERS_WRITE)
    ensure_own(principal, partner_id)
    principal.ensure_vendor()
    on = as_of or today()
    if on > today():
        raise Unprocessable("a tier is evaluated as of today or an earlier day", errors=[
            field_error("query.as_of", "may not be in the future")])
    partner = await partners.get(session, partner_id, for_update=True)
    if partner is None:
        raise NotFound("partner not found")
    if partner.status not in EVALUATED_STATUSES:
        raise Conflict(f"only active partners are evaluated; this one is {partner.status}")
    await evaluate_partner(session, partner_id, on)
    return await _view(session, partner, on)

