"""Retention: entries older than the setting are deleted, oldest first, chain by chain; the last
one deleted becomes its chain's anchor (seq and hash), where verification starts.

Only a prefix of a chain goes (an old entry recorded after a newer one waits for it), and only
once it verified: a stretch found altered is never deleted, so retention cannot wash away the
evidence of tampering (the job fails, logs it, and stays due until someone looks).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_audit.trail import chain, repository
from prm_audit.trail.recording import MAINTENANCE

RETENTION_BATCH = 1000

_DELETE = text("DELETE FROM audit_entries WHERE service = :service AND seq > :after "
               "AND seq <= :upto")
_ANCHOR = text("UPDATE audit_chains SET anchor_seq = :seq, anchor_hash = :hash, "
               "anchored_at = now() WHERE service = :service")


class TamperedTrail(RuntimeError):
    """Retention found a chain it was to shorten broken."""


async def purge_expired(session: AsyncSession, older_than_days: int,
                        batch: int = RETENTION_BATCH) -> int:
    """Delete up to ``batch`` entries older than ``older_than_days``; how many went."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than_days)
    deleted = 0
    for head in await repository.chains(session, for_update=True):
        if deleted >= batch:
            break
        rows = await repository.entries_after(session, head.service, head.anchor_seq,
                                              head.head_seq, batch - deleted)
        expired = []
        for row in rows:
            if row.occurred_at >= cutoff:
                break
            expired.append(row)
        if not expired:
            continue
        walk = chain.Walk(head.anchor_seq, bytes(head.anchor_hash))
        problem = chain.check(walk, expired, await repository.erasures_of(session, expired))
        if problem is not None:
            raise TamperedTrail(f"the {head.service} chain is broken at entry {problem.seq} "
                                f"({problem.finding}: {problem.detail}); nothing deleted")
        await session.execute(MAINTENANCE)
        await session.execute(_DELETE, {"service": head.service, "after": head.anchor_seq,
                                        "upto": walk.seq})
        await session.execute(_ANCHOR, {"service": head.service, "seq": walk.seq,
                                        "hash": walk.hash})
        deleted += len(expired)
    return deleted
