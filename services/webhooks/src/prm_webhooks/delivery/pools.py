"""Connections to receivers: a small pool per endpoint, the least recently used dropped.

One pool for every endpoint made each request cost a scan of every connection the worker held
(httpcore checks each one's state, with a system call, whenever it assigns a request), which
with dozens of connections took most of the dispatcher's CPU. A pool per endpoint holds at
most the endpoint's share of attempts in flight, and keeps its connections alive between
deliveries (a few idle ones at most); pools beyond ``keep`` that are not in use are closed,
oldest first.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator

import httpcore

# Idle connections kept per endpoint: httpcore asks each idle one whether the receiver closed
# it (a system call) every time it assigns a request or a response ends.
KEEP_ALIVE = 4


class EndpointPools:
    def __init__(self, network: httpcore.AsyncNetworkBackend, *, size: int, keep: int = 512,
                 keepalive_seconds: float = 30.0) -> None:
        self.network = network
        self.size = size
        self.keep = keep
        self.keepalive_seconds = keepalive_seconds
        self.pools: OrderedDict[uuid.UUID, httpcore.AsyncConnectionPool] = OrderedDict()
        self.busy: Counter[uuid.UUID] = Counter()

    @contextlib.asynccontextmanager
    async def pool(self, endpoint_id: uuid.UUID) -> AsyncIterator[httpcore.AsyncConnectionPool]:
        """The endpoint's pool, for one request. No proxies from the environment, no redirects
        (httpcore follows none), HTTP/1.1."""
        pool = self.pools.pop(endpoint_id, None) or httpcore.AsyncConnectionPool(
            network_backend=self.network, max_connections=self.size,
            max_keepalive_connections=min(self.size, KEEP_ALIVE),
            keepalive_expiry=self.keepalive_seconds)
        self.pools[endpoint_id] = pool  # the most recently used last
        self.busy[endpoint_id] += 1
        try:
            yield pool
        finally:
            self.busy[endpoint_id] -= 1
            if self.busy[endpoint_id] <= 0:
                del self.busy[endpoint_id]
            await self.trim()

    async def trim(self) -> None:
        """Close the least recently used pools not in use while more than ``keep`` are open."""
        excess = len(self.pools) - self.keep
        if excess <= 0:
            return
        idle = [endpoint for endpoint in self.pools if endpoint not in self.busy]
        for endpoint in idle[:excess]:
            # A connection that fails to close cleanly is gone all the same; the delivery
            # that happens to trim must not fail for it.
            with contextlib.suppress(Exception):
                await self.pools.pop(endpoint).aclose()

    async def aclose(self) -> None:
        pools = list(self.pools.values())
        self.pools.clear()
        for pool in pools:
            await pool.aclose()
