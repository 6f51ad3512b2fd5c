"""``make bench`` (third part): webhook delivery, from an event's commit to a receiver.

In one run on one machine it starts the whole stack (as ``make run`` does, with the webhooks
service allowed to deliver to a local http receiver), a receiver, and the bare FastAPI endpoint
(``bare_app.py``), then measures:

* **commit -> webhook received latency** at a paced rate (200 events/s by default): partners
  are created through the edge by ``load.py`` in open loop (one ``prm.partner.created.v1``
  event each), one vendor endpoint subscribes to them, and each event's latency runs from the
  CloudEvent ``time`` its payload carries (set in the transaction that writes the outbox row,
  so it is at or just before the commit) to the moment the receiver has read the request;
* **deliveries per second to 100 endpoints**: 100 endpoints subscribe (inserted straight into
  the webhooks schema as the API would write them: the API allows 50 per owner), a burst of
  events is created, and the deliveries the receiver got are counted from the first to the
  last;
* with ``--only gateway,partners,webhooks`` (``make bench`` runs both): the same with only the
  services on the event's path, as when the other services' consumers run on other machines;
* the bare endpoint, by ``load.py`` in the same run: paced at the same rate (its p50/p99) and
  closed loop (req/s), so the figures can be read as ratios on a noisy machine.

The receiver is an asyncio HTTP/1.1 server (keep-alive) in a thread of this process that
verifies every signature with the ``standardwebhooks`` library. Prints a table; nothing here
asserts timings (the aim: p99 <= 500 ms at 200 events/s).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prm_stack.embedded import free_port
from prm_stack.launch import running_stack
from prm_webhooks.delivery.signing import new_secret

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import DEAL, bare_endpoint, cpu_by_process  # noqa: E402

FAN_OUT_ENDPOINTS = 100

STACK_ENV = {
    "PRM_GATEWAY_PORT": None,  # set in main
    "PRM_RATE_LIMIT_PER_MINUTE": "100000000",
    "PRM_WEBHOOKS_ALLOW_HTTP": "true",
    "PRM_WEBHOOKS_ALLOW_LOOPBACK": "true",
}


@dataclass
class Receipt:
    path: str
    webhook_id: str
    event_type: str
    event_time: float  # the CloudEvent time in the payload, epoch seconds
    received_at: float


@dataclass
class Receiver:
    """An HTTP/1.1 receiver on 127.0.0.1, in its own thread and event loop. Each path is an
    endpoint; its secret must be in ``secrets`` before the first delivery to it."""

    port: int = field(default_factory=free_port)
    secrets: dict[str, Webhook] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        ready = threading.Event()

        async def serve() -> None:
            server = await asyncio.start_server(self.connection, "127.0.0.1", self.port,
                                                backlog=1024)
            ready.set()
            async with server:
                await server.serve_forever()

        threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the receiver did not start")

    def add(self, path: str, secret: str) -> None:
        with self.lock:
            self.secrets[path] = Webhook(secret)

    def count(self) -> int:
        with self.lock:
            return len(self.receipts)

    def taken(self) -> list[Receipt]:
        """The receipts so far, and a fresh start."""
        with self.lock:
            receipts, self.receipts = self.receipts, []
            return receipts

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                received_at = time.time()
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.accept(path, headers, body, received_at)
                writer.write(f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def accept(self, path: str, headers: dict[str, str], body: bytes, received_at: float
               ) -> int:
        with self.lock:
            webhook = self.secrets.get(path)
        if webhook is None:
            with self.lock:
                self.bad.append(f"{path}: unknown endpoint")
            return 404
        try:
            payload = webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            with self.lock:
                self.bad.append(f"{path}: {exc}")
            return 400
        event_time = dt.datetime.fromisoformat(payload["timestamp"]).timestamp()
        with self.lock:
            self.receipts.append(Receipt(path, headers["webhook-id"], payload["type"],
                                         event_time, received_at))
        return 204


def load(url: str, bodies: Path, headers: list[str], *, duration: float,
         rate: float | None = None, concurrency: int = 16, warmup: float = 2) -> dict:
    command = [sys.executable, str(HERE / "load.py"), url, "--bodies", str(bodies),
               "--duration", str(duration), "--warmup", str(warmup),
               "--concurrency", str(concurrency)]
    if rate is not None:
        command += ["--rate", str(rate)]
    for header in headers:
        command += ["--header", header]
    # load.py's open loop sometimes reuses a keep-alive connection the server has just closed
    # (IncompleteReadError): once more then. Reported, and the other measurements still made.
    for _ in range(2):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return dict(json.loads(result.stdout.strip().splitlines()[-1]))
        print(f"load.py {url} failed:\n{result.stderr[-600:]}", file=sys.stderr)
    nan = float("nan")
    return {"requests": 0, "errors": 0, "rps": nan, "p50_ms": nan, "p99_ms": nan}


def partner_bodies(path: Path, count: int) -> Path:
    path.write_text("\n".join(json.dumps({"name": f"Webhook Bench {i} {uuid.uuid4().hex[:8]}",
                                          "type": "reseller", "country": "NL"})
                              for i in range(count)))
    return path


def wait_received(receiver: Receiver, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if receiver.count() >= count:
            return True
        time.sleep(0.1)
    return False


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


async def add_endpoints(dsn: str, receiver: Receiver, count: int) -> None:
    """``count`` vendor endpoints for partner creations, written as the API writes them."""
    connection = await asyncpg.connect(dsn)
    try:
        now = dt.datetime.now(dt.UTC)
        async with connection.transaction():
            for i in range(count):
                endpoint_id, secret, path = uuid.uuid4(), new_secret(), f"/fan/{i}"
                receiver.add(path, secret)
                await connection.execute(
                    "INSERT INTO webhooks.webhook_endpoints (id, partner_id, created_by, url, "
                    "description, event_types, headers, rate_limit, ordered, enabled, version, "
                    "created_at, updated_at) VALUES ($1, NULL, 'benchmark', $2, '', "
                    "ARRAY['prm.partner.created'], '{}'::jsonb, NULL, false, true, 1, $3, $3)",
                    endpoint_id, f"http://127.0.0.1:{receiver.port}{path}", now)
                await connection.execute(
                    "INSERT INTO webhooks.webhook_endpoint_secrets (id, endpoint_id, secret, "
                    "created_at) VALUES ($1, $2, $3, $4)", uuid.uuid4(), endpoint_id, secret, now)
    finally:
        await connection.close()


STAGES = """
SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM o.published_at - o.created_at)) AS publish,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM m.created_at - o.published_at)) AS consume,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM d.updated_at - m.created_at)) AS deliver
FROM partners.outbox o
JOIN webhooks.webhook_messages m ON m.event_id = o.event_id
JOIN webhooks.webhook_deliveries d ON d.message_id = m.id AND d.endpoint_id = $1
WHERE o.created_at >= to_timestamp($2)
"""


async def stages(dsn: str, endpoint_id: str, since: float) -> dict[str, list[float]]:
    """Where the time went, from the rows' own timestamps (p50, p99 in ms): the outbox row to
    its publication (relay), publication to the webhook message (broker and the webhooks
    worker's consumer), the message to its delivery recorded (dispatcher, receiver included)."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(STAGES, uuid.UUID(endpoint_id), since)
    finally:
        await connection.close()
    return {name: [v * 1000 for v in (row[name] or [float("nan")] * 2)]
            for name in ("publish", "consume", "deliver")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float,
                        default=float(os.environ.get("BENCH_SECONDS", 20)),
                        help="seconds of paced events (after a 2 s warm-up)")
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--also-at", type=float, default=100,
                        help="a second, lower paced rate first (0: none), to show whether the "
                             "stack keeps up below the aim")
    parser.add_argument("--fan-out-events", type=int, default=100,
                        help="events sent to the 100 endpoints (each one delivery per endpoint)")
    parser.add_argument("--only", default="",
                        help="run only these services (PRM_STACK_ONLY), e.g. "
                             "gateway,partners,webhooks: the event's path without the other "
                             "services' consumers sharing the machine")
    args = parser.parse_args()
    warmup = 2.0
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as state, \
            running_stack(Path(state), {**STACK_ENV, "PRM_GATEWAY_PORT": str(free_port()),
                                        "PRM_STACK_ONLY": args.only or None}) as stack:
        work = Path(state)
        dsn = make_url(stack.info["database_url"]).set(drivername="postgresql") \
            .render_as_string(hide_password=False)
        receiver = Receiver()
        receiver.start()
        with bare_endpoint() as bare_port:
            auth = [f"Authorization: Bearer {stack.admin_key}"]
            with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False,
                              headers={"Authorization": f"Bearer {stack.admin_key}"}) as client:
                created = client.post("/v1/webhook-endpoints", json={
                    "url": f"http://127.0.0.1:{receiver.port}/latency",
                    "description": "latency benchmark", "event_types": ["partner.created"]})
                created.raise_for_status()
                latency_endpoint = created.json()
            receiver.add("/latency", latency_endpoint["secret"])

            # 1. commit -> received, paced (at a lower rate first, then at the aim's).
            hz = os.sysconf("SC_CLK_TCK")
            for rate in [r for r in (args.also_at, args.rate) if r > 0]:
                bodies = partner_bodies(work / f"partners-{rate:.0f}.jsonl",
                                        int(rate * (args.duration + warmup)) + 10)
                print(f"latency: {rate:.0f} events/s for {warmup + args.duration:.0f} s",
                      file=sys.stderr)
                receiver.taken()
                started = time.time()
                before = cpu_by_process(stack)
                produced = load(f"{stack.gateway_url}/v1/partners", bodies, auth,
                                duration=args.duration, rate=rate, warmup=warmup)
                expected = int(rate * (args.duration + warmup)) - produced["errors"]
                complete = wait_received(receiver, expected, 60)
                after = cpu_by_process(stack)
                receipts = [r for r in receiver.taken() if r.event_time >= started + warmup]
                lags = [(r.received_at - r.event_time) * 1000 for r in receipts]
                p50, p99 = quantiles(lags)
                # CPU each process spent per event, from the first request to the last receipt
                cpu = {name: (after[name] - before[name]) * 1000 / hz / max(expected, 1)
                       for name in before}
                results[f"latency {rate:.0f}"] = {
                    "rate": rate, "events": len(lags), "p50_ms": p50, "p99_ms": p99,
                    "max_ms": max(lags, default=float("nan")), "complete": complete,
                    "producer": produced, "cpu_ms": cpu,
                    "stages": asyncio.run(stages(dsn, latency_endpoint["id"],
                                                 started + warmup))}
                print(f"  {results[f'latency {rate:.0f}']}", file=sys.stderr)

            # 2. the bare endpoint, paced at the same rate, then closed loop.
            deals = work / "deals.jsonl"
            deals.write_text(json.dumps({**DEAL, "partner_id": str(uuid.uuid4())}))
            bare_url = f"http://127.0.0.1:{bare_port}/v1/deals"
            results["bare paced"] = load(bare_url, deals, [], duration=args.duration,
                                         rate=args.rate, warmup=warmup)
            results["bare"] = load(bare_url, deals, [], duration=min(args.duration, 8))
            print(f"  bare: {results['bare paced']} / {results['bare']}", file=sys.stderr)

            # 3. deliveries per second to 100 endpoints.
            with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False,
                              headers={"Authorization": f"Bearer {stack.admin_key}"}) as client:
                client.patch(f"/v1/webhook-endpoints/{latency_endpoint['id']}",
                             json={"enabled": False},
                             headers={"If-Match": '"1"'}).raise_for_status()
            asyncio.run(add_endpoints(dsn, receiver, FAN_OUT_ENDPOINTS))
            time.sleep(1)
            receiver.taken()
            events = args.fan_out_events
            burst = partner_bodies(work / "burst.jsonl", events + 10)
            print(f"fan-out: {events} events to {FAN_OUT_ENDPOINTS} endpoints", file=sys.stderr)
            burst_started = time.time()
            sent = load(f"{stack.gateway_url}/v1/partners", burst, auth, duration=1.0,
                        rate=events / 2.0, warmup=1.0)
            want = (events - sent["errors"]) * FAN_OUT_ENDPOINTS
            complete = wait_received(receiver, want, 300)
            got = receiver.taken()
            fan = [r for r in got if r.path.startswith("/fan/")]
            span = max(r.received_at for r in fan) - min(r.received_at for r in fan)
            results["fan-out"] = {
                "deliveries": len(fan), "expected": want, "complete": complete,
                "per_second": len(fan) / span if span > 0 else float("nan"),
                "seconds": span, "from_first_request_s":
                    max(r.received_at for r in fan) - burst_started,
                "duplicates": len(fan) - len({(r.path, r.webhook_id) for r in fan})}
            print(f"  {results['fan-out']}", file=sys.stderr)
            bad = list(receiver.bad)

    latencies = [v for k, v in results.items() if k.startswith("latency ")]
    lat, fan = latencies[-1], results["fan-out"]
    bare_paced, bare_closed = results["bare paced"], results["bare"]
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print(f"services: {args.only or 'all (the whole stack)'}")
    print(f"events: partner creations through the edge, tests/benchmarks/load.py open loop for "
          f"{args.duration:.0f} s after a {warmup:.0f} s warm-up; receiver: asyncio HTTP/1.1 "
          f"in-process, standardwebhooks verification")
    print()
    print("| measurement                                          | rate/s |   p50 ms |   p99 ms |")
    print("|------------------------------------------------------|--------|----------|----------|")
    rows = []
    for run in latencies:
        rows += [
            (f"commit -> webhook received, {run['rate']:.0f} events/s, 1 endpoint",
             # received per second of the measured window
             run["events"] / args.duration, run["p50_ms"], run["p99_ms"]),
            ("  the producing POST /v1/partners via the edge", run["producer"]["rps"],
             run["producer"]["p50_ms"], run["producer"]["p99_ms"])]
    rows += [
        (f"bare FastAPI endpoint, paced at {args.rate:.0f}/s", bare_paced["rps"],
         bare_paced["p50_ms"], bare_paced["p99_ms"]),
        ("bare FastAPI endpoint, closed loop (16 connections)", bare_closed["rps"],
         bare_closed["p50_ms"], bare_closed["p99_ms"]),
        (f"deliveries to {FAN_OUT_ENDPOINTS} endpoints ({fan['deliveries']:,} in "
         f"{fan['seconds']:.1f} s)", fan["per_second"], float("nan"), float("nan")),
    ]
    for label, rate, p50, p99 in rows:
        print(f"| {label:<52} | {rate:6.0f} | {p50:8.1f} | {p99:8.1f} |")
    print()
    for run in latencies:
        stage = run["stages"]
        print(f"at {run['rate']:.0f}/s: commit -> received max {run['max_ms']:.0f} ms over "
              f"{run['events']} events{'' if run['complete'] else ' (NOT all within 60 s)'}; "
              "where the time went (p50 / p99 ms, from the rows' timestamps): relay "
              f"{stage['publish'][0]:.0f} / {stage['publish'][1]:.0f}, broker and consumer "
              f"{stage['consume'][0]:.0f} / {stage['consume'][1]:.0f}, dispatcher and "
              f"receiver {stage['deliver'][0]:.0f} / {stage['deliver'][1]:.0f}")
        cpu = run["cpu_ms"]
        print("  CPU per event by process (ms; the load client and receiver not counted): "
              + ", ".join(f"{name} {cpu[name]:.2f}" for name in sorted(cpu, key=lambda n: -cpu[n])
                          if cpu[name] >= 0.05)
              + f"; total {sum(cpu.values()):.2f} (2 cores give {2000 / run['rate']:.1f} per "
              "event at this rate)")
    print(f"aim p99 <= 500 ms at {lat['rate']:.0f} events/s: "
          f"{'met' if lat['p99_ms'] <= 500 else 'NOT met'}")
    print(f"ratios: webhook p99 / bare paced p99 {lat['p99_ms'] / bare_paced['p99_ms']:.0f}x; "
          f"deliveries/s / bare req/s {fan['per_second'] / bare_closed['rps']:.3f}")
    print(f"fan-out: {fan['deliveries']:,} of {fan['expected']:,} deliveries"
          f"{'' if fan['complete'] else ' (NOT all within 300 s)'}, {fan['duplicates']} "
          f"repeated, last one {fan['from_first_request_s']:.1f} s after the first event "
          f"was sent")
    if bad:
        print(f"receiver refused {len(bad)} requests, e.g. {bad[:3]}")


if __name__ == "__main__":
    main()
