"""The scheduled recompute of the data-driven models.

Markov and Shapley learn from the programme's history of closed deals, so a deal's credits by
them go stale as other deals close. This job brings them up to date: it fingerprints the
history the newest rules version reads (the closed deals and their partners in touch order);
each new (rules version, fingerprint) is a new **history version**, a row of
``datadriven_runs``, and the job recomputes every open deal and every deal won within the
window, in batches by deal id, under that rules version. The same history again is not
recomputed, so the job is idempotent; a deal whose credits did not change publishes nothing
(``results.service.recompute``). Results stay kept per rules version: the job never touches
another version's, and deals won before the window keep the credits their books closed with.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.crediting.datadriven import History
from prm_attribution.results.service import (
    OPEN_STATUSES,
    ClosedDeals,
    current_rules,
    read_closed_deals,
    recompute,
)
from prm_platform.scheduler import Job, JobResult

BATCH = 200
# Won deals closed within this many days are brought up to date; older ones keep their credits.
WINDOW_DAYS = 365


def history_fingerprint(closed: ClosedDeals) -> str:
    """SHA-256 of the history as the models read it."""
    digest = hashlib.sha256()
    for deal_id, (partners, won) in closed.items():
        for partner in partners:
            digest.update(f"{deal_id}:{int(won)}:{partner};".encode())
    return digest.hexdigest()


async def recompute_datadriven(session: AsyncSession, *, batch: int = BATCH,
                               window_days: int = WINDOW_DAYS,
                               today: dt.date | None = None) -> JobResult:
    """One batch of the current history version; the number of deals recomputed (a full batch
    means more to do)."""
    version, rules = await current_rules(session)
    # Read once: it fingerprints the history version and is what every deal of the batch
    # learns from (recomputing open and won deals changes no closed one).
    closed = await read_closed_deals(session, rules.history_deals)
    fingerprint, size = history_fingerprint(closed), len(closed)
    run = (await session.execute(text(
        "INSERT INTO datadriven_runs (history_version, rules_version, fingerprint, "
        "history_deals, deals_recomputed, deals_changed, started_at) SELECT "
        "coalesce(max(history_version), 0) + 1, :v, :f, :size, 0, 0, now() "
        "FROM datadriven_runs ON CONFLICT (rules_version, fingerprint) DO NOTHING "
        "RETURNING history_version"), {"v": version, "f": fingerprint, "size": size})).first()
    state = (await session.execute(text(
        "SELECT history_version, after_deal_id, completed_at FROM datadriven_runs "
        "WHERE rules_version = :v AND fingerprint = :f FOR UPDATE"),
        {"v": version, "f": fingerprint})).one()
    if run is None and state.completed_at is not None:
        return 0
    since = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=window_days)
    deals = list((await session.execute(text(
        "SELECT deal_id FROM deals WHERE amount IS NOT NULL "
        "AND (status = ANY(:open) OR (status = 'won' AND closed_on >= :since)) "
        "AND (CAST(:after AS uuid) IS NULL OR deal_id > :after) "
        "ORDER BY deal_id LIMIT :batch"), {"open": list(OPEN_STATUSES), "since": since,
                                          "after": state.after_deal_id,
                                          "batch": batch})).scalars())
    history = History.of(list(closed.values()))
    changed = 0
    for deal_id in deals:
        changed += int(await recompute(session, deal_id, history=history))
    await session.execute(text(
        "UPDATE datadriven_runs SET after_deal_id = coalesce(CAST(:last AS uuid), after_deal_id), "
        "deals_recomputed = deals_recomputed + :n, deals_changed = deals_changed + :changed, "
        "completed_at = CASE WHEN :n < :batch THEN now() END "
        "WHERE history_version = :hv"),
        {"last": deals[-1] if deals else None, "n": len(deals), "changed": changed,
         "batch": batch, "hv": state.history_version})
    return len(deals)


# Deals close by the hour: a quarter-hourly refresh keeps the credits close to the history
# without recomputing the book at every event.
DATADRIVEN_RECOMPUTE = Job("recompute-data-driven-credits", dt.timedelta(minutes=15),
                           recompute_datadriven, batch=BATCH)
