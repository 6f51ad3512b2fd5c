"""A worker's liveness signal: a file whose modification time says the worker is making progress.

Every loop of the worker (the outbox relay, each consumer, the scheduler) reports in when it
gets round; the file is touched only while every loop has reported within ``stale_after``
seconds. A loop that hangs (a consumer stuck on a commit, a relay wedged) lets the file go
stale, and whoever watches it (the ``make run`` supervisor, a Kubernetes liveness probe:
``python -m prm_events.heartbeat <file> <seconds>``) restarts the worker. The same state is
reported to the service's database every few seconds (``prm_platform.liveness``), where the
service's ``/readyz`` reads it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("prm.heartbeat")

# How often the state goes to the database (the file is touched every second).
REPORT_EVERY = 5.0


class Heartbeat:
    def __init__(self, path: str | None, stale_after: float) -> None:
        self.path = Path(path) if path else None
        self.stale_after = stale_after
        self._last: dict[str, float] = {}

    def loop(self, name: str) -> Callable[[], None]:
        """The callback a loop calls each time round."""
        self._last[name] = time.monotonic()

        def alive() -> None:
            self._last[name] = time.monotonic()

        return alive

    def lagging(self) -> list[str]:
        """The loops that have not reported for ``stale_after`` seconds."""
        now = time.monotonic()
        return sorted(name for name, last in self._last.items() if now - last >= self.stale_after)

    def healthy(self) -> bool:
        return not self.lagging()

    async def run(self, stop: asyncio.Event, every: float = 1.0,
                  report: Callable[[list[str]], Awaitable[None]] | None = None,
                  report_every: float = REPORT_EVERY) -> None:
        next_report = 0.0
        while not stop.is_set():
            lagging = self.lagging()
            if self.path is not None and not lagging:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.touch()
            if report is not None and time.monotonic() >= next_report:
                next_report = time.monotonic() + report_every
                try:
                    await report(lagging)
                except Exception as exc:  # noqa: BLE001 - a missed report only ages the row
                    log.warning("liveness report failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass


def age(path: str | Path) -> float | None:
    """Seconds since the heartbeat file was last touched; None if there is none."""
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return None


def main(argv: list[str]) -> int:
    """``python -m prm_events.heartbeat <file> <max age seconds>``: exit 0 if fresh."""
    if len(argv) != 2:
        print("usage: python -m prm_events.heartbeat <file> <max-age-seconds>", file=sys.stderr)
        return 2
    seconds = age(argv[0])
    if seconds is None or seconds > float(argv[1]):
        print(f"stale heartbeat: {argv[0]} ({seconds if seconds is not None else 'missing'})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
