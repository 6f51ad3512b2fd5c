"""``python -m prm_platform.serve``: uvicorn, with every option of its command line, whose
server loop rests between requests.

uvicorn's server loop wakes ten times a second, to refresh the ``Date`` header (once a second)
and to see whether a signal asked it to stop. Nine API processes of an idle stack woke ninety
times a second between them for that, about 0.2 % of a core each. Here the loop wakes once a
second, when the header needs its new date, and at once when a signal arrives: the signal
handler wakes the event loop, so a SIGTERM starts the graceful shutdown as soon as before.
"""

from __future__ import annotations

import asyncio
import importlib
from types import FrameType

from uvicorn.server import Server

TICKS_PER_SECOND = 10  # uvicorn's on_tick counts tenths of a second


class RestingServer(Server):
    """A uvicorn server whose loop sleeps a second at a time, woken early by a signal."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + TICKS_PER_SECOND) % 864000
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0)
            except TimeoutError:
                pass
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler runs between two bytecodes of whatever the loop was doing: only
        # the thread-safe call may touch the loop from here (it writes to the loop's pipe).
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)


def _install() -> None:
    """Make uvicorn construct a ``RestingServer`` where it constructs its server: in ``run``
    (one process) and in each worker process of ``--workers``."""
    for name in ("uvicorn.main", "uvicorn.supervisors.multiprocess"):
        # The modules themselves: the package's ``uvicorn.main`` is its command's function.
        setattr(importlib.import_module(name), "Server", RestingServer)  # noqa: B010


# At import: a worker process of ``--workers`` is spawned afresh and imports this module
# again (as the parent's main module) before it builds its server.
_install()


def main() -> None:
    importlib.import_module("uvicorn.main").main()


if __name__ == "__main__":
    main()
