"""Where a webhook may go (SSRF defence).

A URL is checked when an endpoint is saved (scheme, literal addresses), and again where it
matters, at connection time: ``GuardedResolver`` resolves the host itself and refuses the attempt
if any address is internal, and ``guarded_socket`` checks each address the client then connects
to (the ones the resolver gave, or the URL's own literal one). The HTTP layer still sends the
original Host header and TLS server name, so certificates are verified against the host name,
while a DNS answer that changes between a check and a connect (rebinding) cannot reach inside.
Redirects are never followed (``prm_webhooks.delivery.dispatcher``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp.abc

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int]]

# Shared address space (RFC 6598): carrier NAT, and cloud metadata such as 100.100.100.200.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254",
                                               "100.100.100.200", "169.254.170.2")}
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


class TargetRefused(Exception):
    """The target is not one a webhook may be sent to."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64): it is where the
    packets end up, so it is what must be checked."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a webhook may not be sent to ``ip``, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped IPv6 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return refusal(embedded, allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "an address that is not globally routable"
    return None


def check_url(url: str, *, allow_http: bool, allow_loopback: bool) -> None:
    """What can be decided without resolving the host; raises ``TargetRefused``."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise TargetRefused("the URL must use https" if not allow_http
                            else "the URL must use https or http")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry credentials; use a custom header")
    if parts.fragment:
        raise TargetRefused("the URL must not have a fragment")
    host = parts.hostname
    if not host:
        raise TargetRefused("the URL has no host")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise TargetRefused("the URL's port is not valid") from None
    if host.rstrip(".") in _LOCAL_NAMES or host.rstrip(".").endswith(".localhost"):
        if not allow_loopback:
            raise TargetRefused(f"{host} is a loopback host")
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked at connection time, on every attempt
    if (reason := refusal(ip, allow_loopback=allow_loopback)) is not None:
        raise TargetRefused(f"{host} is {reason}")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        found.setdefault(ipaddress.ip_address(sockaddr[0]), None)
    return list(found)


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves a receiver's host for a new connection, and refuses the attempt outright if
    any address is internal (not only the one that would be used): a name that resolves to
    one public and one internal address is refused. Called for every new connection (the
    client keeps no DNS cache)."""

    def __init__(self, resolver: Resolver, *, allow_loopback: bool) -> None:
        self.resolver = resolver
        self.allow_loopback = allow_loopback

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_UNSPEC
                      ) -> list[aiohttp.abc.ResolveResult]:
        addresses = await self.resolver(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        for ip in addresses:
            if (reason := refusal(ip, allow_loopback=self.allow_loopback)) is not None:
                raise TargetRefused(f"{host} resolves to {ip}, {reason}")
        return [{"hostname": host, "host": str(ip), "port": port,
                 "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for ip in addresses]

    async def close(self) -> None:
        return None


def guarded_socket(*, allow_loopback: bool) -> Callable[[AddrInfo], socket.socket]:
    """The socket for each address the client connects to, once that address is checked: a
    URL naming an address (which the client does not resolve) is checked here too, at
    connection time like every other."""
    def make(addr_info: AddrInfo) -> socket.socket:
        family, kind, proto, _, address = addr_info
        ip = ipaddress.ip_address(address[0])
        if (reason := refusal(ip, allow_loopback=allow_loopback)) is not None:
            raise TargetRefused(f"{ip} is {reason}")
        return socket.socket(family, kind, proto)
    return make
