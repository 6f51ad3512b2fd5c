"""``make bench`` (audit): what recording the trail costs per event, and how fast a chain is
verified.

One PostgreSQL, migrated as ``make run`` does (the audit schema only). The audit worker's own
consumer (every subscription of ``prm_audit.worker.spec()``) applies ``--events`` events in
batches of ``--batch`` (what one poll brings at most), a mix of the contexts' events (claims
approved, tiers changed, contacts changed and erased) over ``--services`` chains, as the
worker does after reading them from the broker: the CPU of this process (the consumer's side:
parsing aside, the inbox, the hashes, the statements) and of PostgreSQL per event. Then one
verification of every chain (``POST /v1/audit-verifications`` without its HTTP hop), in
entries per second. Prints a table. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "services" / "audit"))
from attribution import migrate  # noqa: E402
from run import _children, _cpu_ticks  # noqa: E402

from prm_stack.embedded import create_database, start_postgres  # noqa: E402


def pg_ticks(pid: int) -> int:
    """CPU ticks of PostgreSQL: the process started and all its descendants (backends)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += _cpu_ticks(current)
        except (OSError, ValueError):
            continue
        pending += _children(current)
    return total


async def measure(url: str, args: argparse.Namespace) -> dict[str, float]:
    from tests.conftest import claim_approved, contact_changed, tier_changed, worker_consumer

    from prm_audit.config import SCHEMA, Settings
    from prm_audit.declaration import AUDIT_READ
    from prm_audit.trail import service
    from prm_audit.trail.schemas import AuditVerificationIn
    from prm_platform.db import make_engine, make_sessionmaker
    from prm_platform.security import Principal, PrincipalKind

    engine = make_engine(url, SCHEMA)
    sessionmaker = make_sessionmaker(engine)
    consumer = worker_consumer(sessionmaker)
    sources = [f"/prm/service{i}" for i in range(args.services)]
    events = []
    for i in range(args.events):
        partner = uuid.uuid4()
        kind = i % 10
        if kind < 6:
            event = claim_approved(uuid.uuid4(), partner)
        elif kind < 8:
            event = tier_changed(partner)
        else:
            event = contact_changed(partner, uuid.uuid4(), 1, name="Jana Nováková",
                                    email="jana@example.com", removed=kind == 9)
        events.append(event.model_copy(update={"source": sources[i % len(sources)]}))
    pid = args.pg_pid
    hz = os.sysconf("SC_CLK_TCK")
    pg_before, cpu_before, started = pg_ticks(pid), time.process_time(), time.perf_counter()
    for start in range(0, len(events), args.batch):
        await consumer.apply_batch(events[start:start + args.batch])
    wall = time.perf_counter() - started
    own = time.process_time() - cpu_before
    pg = (pg_ticks(pid) - pg_before) / hz
    vendor = Principal(subject="bench", kind=PrincipalKind.vendor, scopes=frozenset({AUDIT_READ}))
    settings = Settings()
    started = time.perf_counter()
    async with sessionmaker() as session:
        report = await service.verify(session, vendor, AuditVerificationIn(),
                                      max_rows=10**9, chunk=settings.verify_chunk)
    verify_s = time.perf_counter() - started
    assert {c.status for c in report.chains} == {"intact"}, report
    await engine.dispose()
    n = len(events)
    return {"events": n, "events_per_s": n / wall, "consumer_ms": own * 1000 / n,
            "postgres_ms": pg * 1000 / n, "verified": report.checked,
            "verified_per_s": report.checked / verify_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--services", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prm-bench-audit-"))
    pg = start_postgres(work / "pgdata")
    args.pg_pid = pg.process.pid
    try:
        create_database(pg, "audit")
        url = pg.database_url("audit")
        migrate(url, "bench-secret-" + uuid.uuid4().hex, ROOT / "services" / "audit")
        os.environ.update({"PRM_DATABASE_URL": url, "PRM_INTERNAL_SECRET": "x" * 32})
        figures = asyncio.run(measure(url, args))
    finally:
        pg.stop()
    print(f"| events recorded | {figures['events']:,} in batches of {args.batch}, "
          f"{args.services} chains |")
    print(f"| recording | {figures['events_per_s']:,.0f} events/s |")
    print(f"| CPU per event: the consumer | {figures['consumer_ms']:.3f} ms |")
    print(f"| CPU per event: PostgreSQL | {figures['postgres_ms']:.3f} ms |")
    print(f"| verification | {figures['verified']:,} entries, "
          f"{figures['verified_per_s']:,.0f} entries/s |")


if __name__ == "__main__":
    main()
