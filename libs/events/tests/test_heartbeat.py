"""The worker's liveness file goes stale as soon as any one of its loops stops reporting."""

import asyncio

from prm_events.heartbeat import Heartbeat, age, main


async def test_the_file_stays_fresh_only_while_every_loop_reports(tmp_path):
    path = tmp_path / "heartbeat"
    heartbeat = Heartbeat(str(path), stale_after=0.5)
    relay, consumer = heartbeat.loop("relay"), heartbeat.loop("consumer")
    stop = asyncio.Event()
    writer = asyncio.create_task(heartbeat.run(stop, every=0.05))
    try:
        for _ in range(10):  # both loops alive
            relay(), consumer()
            await asyncio.sleep(0.05)
        assert age(path) is not None and age(path) < 0.3
        assert main([str(path), "5"]) == 0
        for _ in range(20):  # the consumer hangs; the relay goes on
            relay()
            await asyncio.sleep(0.05)
        assert not heartbeat.healthy()
        stale_since = age(path)
        await asyncio.sleep(0.3)
        assert age(path) >= stale_since + 0.25, "no longer touched"
        assert main([str(path), "0.2"]) == 1
    finally:
        stop.set()
        await writer
    assert main([str(tmp_path / "missing"), "60"]) == 1
