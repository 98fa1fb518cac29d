# kafka-python consumer group against Tansu: does it ever get records?
import sys, time, logging
sys.path.insert(0, ".")
from streams.broker import EmbeddedBroker, ensure_topics
from kafka import KafkaProducer, KafkaConsumer
with EmbeddedBroker() as b:
    ensure_topics(b.bootstrap)
    p = KafkaProducer(bootstrap_servers=b.bootstrap); [p.send("chat.turns", key=b"k", value=b"v") for _ in range(10)]; p.flush()
    t0 = time.time()
    c = KafkaConsumer("chat.turns", bootstrap_servers=b.bootstrap, group_id="g", auto_offset_reset="earliest", consumer_timeout_ms=15000)
    print("kafka-python group consumer got", len(list(c)), "records in", round(time.time()-t0), "s")
