"""A connection pool per endpoint: reused between deliveries, the least recently used idle
ones closed beyond the limit, never one in use."""

import asyncio
import uuid

import httpcore

from prm_webhooks.delivery.pools import EndpointPools


async def post(pools: EndpointPools, endpoint: uuid.UUID, url: str) -> int:
    async with pools.pool(endpoint) as pool:
        response = await pool.request("POST", url, content=b"{}")
        return response.status


async def test_pools_are_per_endpoint_reused_and_trimmed(receiver):
    listening = receiver()
    pools = EndpointPools(httpcore.AnyIOBackend(), size=2, keep=2)
    first, second, third = (uuid.uuid4() for _ in range(3))
    try:
        assert await post(pools, first, listening.url) == 204
        kept = pools.pools[first]
        assert await post(pools, first, listening.url) == 204
        assert pools.pools[first] is kept  # the same pool, its connection kept alive
        assert len(kept.connections) == 1

        await post(pools, second, listening.url)
        await post(pools, first, listening.url)  # first is now the most recently used
        await post(pools, third, listening.url)
        assert list(pools.pools) == [first, third]  # second, the oldest idle one, closed

        # A pool in use is never closed, even when it is the oldest.
        release = asyncio.Event()

        async def hold() -> None:
            async with pools.pool(first):
                await release.wait()
        holding = asyncio.create_task(hold())
        await asyncio.sleep(0)
        await post(pools, second, listening.url)
        await post(pools, uuid.uuid4(), listening.url)
        assert first in pools.pools and len(pools.pools) == 2
        release.set()
        await holding
        assert len(listening.received) == 7
    finally:
        await pools.aclose()
    assert not pools.pools
