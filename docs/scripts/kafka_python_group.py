# kafka-python consumer group against Tansu: does it ever get records?
import sys
import time

sys.path.insert(0, ".")
from kafka import KafkaConsumer, KafkaProducer

from streams.broker import EmbeddedBroker, ensure_topics

with EmbeddedBroker() as b:
    ensure_topics(b.bootstrap)
    p = KafkaProducer(bootstrap_servers=b.bootstrap)
    for _ in range(10):
        p.send("chat.turns", key=b"k", value=b"v")
    p.flush()
    t0 = time.time()
    c = KafkaConsumer("chat.turns", bootstrap_servers=b.bootstrap, group_id="g", auto_offset_reset="earliest",
                      consumer_timeout_ms=15000)
    print("kafka-python group consumer got", len(list(c)), "records in", round(time.time() - t0), "s")
