"""257 malformed or hostile records into every input topic of the real processor.

Each record whose written verdict (tests/streams/fuzz_corpus.py, beside the record) is
``reject`` must come out of ``<topic>.dlq`` exactly once, byte for byte, and no record
marked ``accept`` may, with a reason that quotes no message text; the records it accepts are
handled; the worker stays up without a traceback; and the next good session still
gets its three score requests with the right cuts and an alert from a score drop.
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter

import pytest

from streams.codec import decode
from streams.contracts import AllianceAlert, DeadLetter
from streams.replay import publish
from streams.topics import ALERTS, SCORES
from tests.kafka_helpers import consume_all_sync, produce
from tests.store.factories import score
from tests.streams.fuzz_corpus import corpus
from tests.streams.session_factory import expected_cuts, session
from tests.streams.test_processor import cuts, events_of, keyed, requests_for
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration


def _raw(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.raw) if letter.raw_encoding == "base64" else letter.raw.encode("utf-8")


@pytest.fixture(scope="module")
def worker(kafka_bootstrap):
    w = WorkerProcess(kafka_bootstrap, f"it-fuzz-{uuid.uuid4().hex[:6]}", "--clock-rate", "60", "--lateness", "5",
                      "--signal-interval", "0").start()
    yield w
    assert w.stop() == 0, "\n".join(w.lines[-20:])


def test_hostile_records_are_dead_lettered_or_handled_and_the_next_session_is_normal(worker, kafka_bootstrap,
                                                                                       unique):
    key = f"fuzz-{unique}"
    records = corpus(key)
    assert sum(len(v) for v in records.values()) >= 200
    for topic, cases in records.items():
        produce(kafka_bootstrap, topic, [(key, case.raw) for case in cases])
    for topic, cases in records.items():
        expected = Counter(case.raw for case in cases if case.verdict == "reject")
        got = consume_all_sync(kafka_bootstrap, f"{topic}.dlq", expect=sum(expected.values()), timeout=90,
                               where=keyed(key))
        letters = [decode(DeadLetter, r.value) for r in got]
        assert Counter(_raw(d) for d in letters) == expected, topic  # each rejected record, once, byte for byte
        for d in letters:
            assert d.source_topic == topic and d.reason
            assert "ordinary message" not in d.reason and "<script>" not in d.reason  # no text in reasons
    assert worker.proc.poll() is None, "the processor died"
    assert not any("Traceback" in line for line in worker.lines), "\n".join(worker.lines[-30:])

    sid = f"after-fuzz-{unique}"
    started, turns, ended = session(sid, planned_minutes=3, turns=18)
    publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
    got = requests_for(kafka_bootstrap, sid)
    assert [r.phase for r in got] == ["early", "middle", "late"]
    assert cuts(got) == expected_cuts(started.at, turns, 3)
    produce(kafka_bootstrap, SCORES.name, [(sid, score(sid, "early", 4.5, counselor="c-test")),
                                           (sid, score(sid, "middle", 2.0, counselor="c-test"))])
    alerts = [decode(AllianceAlert, r.value)
              for r in consume_all_sync(kafka_bootstrap, ALERTS.name, idle=3.0, timeout=30, where=keyed(sid))]
    assert any(a.dimension == "bond" and a.kind in ("drop", "low") for a in alerts)
