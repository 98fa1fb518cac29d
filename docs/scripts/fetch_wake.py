# Does a waiting fetch wake when a record arrives? Prints the delay per record.
import asyncio
import sys
import time

sys.path.insert(0, ".")
from streams.broker import EmbeddedBroker, ensure_topics


async def main(bs):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, fetch_max_wait_ms=2000)
    await c.start()
    tp = TopicPartition("chat.turns", 0)
    c.assign([tp])
    await c.seek_to_end(tp)
    await c.position(tp)
    p = AIOKafkaProducer(bootstrap_servers=bs)
    await p.start()
    for _ in range(5):
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        await p.send_and_wait("chat.turns", b"x", partition=0)
        await c.getone()
        print(f"single record seen after {1000 * (time.monotonic() - t0):.0f} ms (fetch_max_wait_ms=2000)")
    await p.stop()
    await c.stop()


with EmbeddedBroker() as b:
    ensure_topics(b.bootstrap)
    asyncio.run(main(b.bootstrap))
