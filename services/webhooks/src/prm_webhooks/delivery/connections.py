"""The HTTP client of deliveries: one for every receiver, its connections kept alive.

aiohttp (its HTTP parser is compiled) costs about a seventh of the CPU per request that
httpcore with h11 and anyio did, which was a quarter of the webhooks worker's CPU at 200
events/s (docs/webhooks.md). Its connections are pooled by host and port, so no endpoint
waits for another's: how many attempts an endpoint has in flight is the dispatcher's claim's
bound, not the pool's.

What a delivery must never do is set here once: reach an internal address (the guarded
resolver and socket of ``targets``, no DNS cache), use a proxy from the environment, follow a
redirect (each request says so), keep or send cookies, or decompress a body (a receiver's
answer is kept as sent, to a cap).
"""

from __future__ import annotations

import aiohttp

from prm_webhooks.delivery.targets import GuardedResolver, Resolver, guarded_socket


class Connections:
    def __init__(self, *, resolver: Resolver, allow_loopback: bool, limit: int,
                 keepalive_seconds: float = 30.0) -> None:
        self.resolver = resolver
        self.allow_loopback = allow_loopback
        self.limit = limit
        self.keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The client, made on first use (inside the event loop, as aiohttp wants)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.resolver, allow_loopback=self.allow_loopback),
                socket_factory=guarded_socket(allow_loopback=self.allow_loopback),
                use_dns_cache=False,
                # One address after another, as the guard checks them (a refusal ends the
                # attempt; no race between addresses).
                happy_eyeballs_delay=None,
                limit=self.limit, limit_per_host=0,
                keepalive_timeout=self.keepalive_seconds)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("Accept", "Accept-Encoding"),
                timeout=aiohttp.ClientTimeout(total=None))  # the dispatcher bounds each attempt
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
