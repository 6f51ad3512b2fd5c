"""HTTP load. Closed loop by default: ``concurrency`` clients each send the next request as soon
as the previous one answered, for ``duration`` seconds. With ``--rate``, open loop instead:
requests start on a fixed schedule whatever the answers do, and each latency counts from the
request's scheduled start (no coordinated omission). Prints one JSON line of results.

Run in its own process so that the client's CPU is not the server's event loop.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid

import httpx


async def client_loop(client, url, body, headers, stop_at, latencies, errors, unique_keys):
    while time.perf_counter() < stop_at:
        if unique_keys:
            headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        started = time.perf_counter()
        response = await client.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code == 201:
            latencies.append(elapsed)
        else:
            errors.append(response.status_code)


async def paced(client, url, body, headers, rate, seconds, latencies, errors, unique_keys):
    """Open loop: one request every 1/rate seconds for ``seconds``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []

    async def one(scheduled: float) -> None:
        sent = {**headers, "Idempotency-Key": uuid.uuid4().hex} if unique_keys else headers
        response = await client.post(url, content=body, headers=sent)
        if response.status_code == 201:
            latencies.append(loop.time() - scheduled)
        else:
            errors.append(response.status_code)

    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: requests per second on a fixed schedule")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="a fresh Idempotency-Key on every request")
    args = parser.parse_args()
    headers = {"content-type": "application/json"}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    body = args.body.encode()
    limits = httpx.Limits(max_connections=args.concurrency,
                          max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:
        for _phase, seconds in (("warmup", args.warmup), ("measure", args.duration)):
            latencies: list[float] = []
            errors: list[int] = []
            stop_at = time.perf_counter() + seconds
            started = time.perf_counter()
            if args.rate:
                await paced(client, args.url, body, headers, args.rate, seconds, latencies,
                            errors, args.idempotency_keys)
            else:
                await asyncio.gather(*(client_loop(client, args.url, body, headers, stop_at,
                                                   latencies, errors, args.idempotency_keys)
                                       for _ in range(args.concurrency)))
            wall = time.perf_counter() - started
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    print(json.dumps({
        "requests": len(latencies), "errors": len(errors), "error_codes": sorted(set(errors)),
        "rps": len(latencies) / wall, "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }))


if __name__ == "__main__":
    asyncio.run(main())
