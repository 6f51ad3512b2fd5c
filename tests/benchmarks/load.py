"""HTTP load. Closed loop by default: ``concurrency`` clients each send the next request as soon
as the previous one answered, for ``duration`` seconds. With ``--rate``, open loop instead:
requests start on a fixed schedule whatever the answers do, and each latency counts from the
request's scheduled start (no coordinated omission). Prints one JSON line of results.

It speaks HTTP/1.1 over keep-alive connections itself, with the request bytes prepared once:
a general-purpose client (httpx) spends milliseconds of CPU per request, which at a few hundred
requests per second takes a core from the servers it measures on a small machine. Run in its
own process so that the client's CPU is not the server's event loop.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, request: bytes) -> tuple[int, bool]:
        """The answer's status, and whether the connection may be used again."""
        self.writer.write(request)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        if b"transfer-encoding: chunked" in head:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15:head.index(b"\r\n", at)])
                await self.reader.readexactly(length)
        return status, b"connection: close" not in head

    def close(self) -> None:
        self.writer.close()


class Target:
    """Requests to one URL: the same body every time, or the next of ``bodies`` in turn."""

    def __init__(self, url: str, bodies: list[bytes], headers: dict[str, str],
                 unique_keys: bool) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"] \
            + [f"{k}: {v}" for k, v in headers.items()]
        self.head = ("\r\n".join(lines) + "\r\n").encode()
        self.bodies = bodies
        self.sent = 0
        self.unique_keys = unique_keys
        self.idle: list[Connection] = []

    def request(self) -> bytes:
        body = self.bodies[self.sent % len(self.bodies)]
        self.sent += 1
        key = f"Idempotency-Key: {uuid.uuid4().hex}\r\n".encode() if self.unique_keys else b""
        return (self.head + f"Content-Length: {len(body)}\r\n".encode() + key + b"\r\n"
                + body)

    async def send(self, connection: Connection | None = None) -> int:
        """Send one request on ``connection`` or on an idle one of the pool (or a new one)."""
        pooled = connection is None
        if connection is None:
            connection = self.idle.pop() if self.idle else await Connection.open(self.host,
                                                                               self.port)
        status, reusable = await connection.send(self.request())
        if not reusable:
            connection.close()
        elif pooled:
            self.idle.append(connection)
        return status


async def client_loop(target: Target, stop_at: float, latencies: list[float],
                      errors: list[int]) -> None:
    connection = await Connection.open(target.host, target.port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status = await target.send(connection)
            if 200 <= status < 300:
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(status)
    finally:
        connection.close()


async def paced(target: Target, rate: float, seconds: float, latencies: list[float],
                errors: list[int]) -> None:
    """Open loop: one request every 1/rate seconds for ``seconds``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []

    async def one(scheduled: float) -> None:
        status = await target.send()
        if 200 <= status < 300:
            latencies.append(loop.time() - scheduled)
        else:
            errors.append(status)

    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)


def read_bodies(path: str) -> list[bytes]:
    return [line.strip() for line in Path(path).read_bytes().splitlines() if line.strip()]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--body", help="the JSON body of every request")
    parser.add_argument("--bodies", help="a file of JSON bodies, one per line, sent in turn")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: requests per second on a fixed schedule")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="a fresh Idempotency-Key on every request")
    args = parser.parse_args()
    if not (args.body or args.bodies):
        parser.error("--body or --bodies is needed")
    headers = {"Content-Type": "application/json"}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    if args.bodies:  # read before any request is sent
        bodies = read_bodies(args.bodies)
    else:
        bodies = [args.body.encode()]
    target = Target(args.url, bodies, headers, args.idempotency_keys)
    for _phase, seconds in (("warmup", args.warmup), ("measure", args.duration)):
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        if args.rate:
            await paced(target, args.rate, seconds, latencies, errors)
        else:
            await asyncio.gather(*(client_loop(target, started + seconds, latencies, errors)
                                   for _ in range(args.concurrency)))
        wall = time.perf_counter() - started
    for connection in target.idle:
        connection.close()
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    print(json.dumps({
        "requests": len(latencies), "errors": len(errors), "error_codes": sorted(set(errors)),
        "rps": len(latencies) / wall, "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }))


if __name__ == "__main__":
    asyncio.run(main())
