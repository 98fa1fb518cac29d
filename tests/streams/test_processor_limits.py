"""Hostile sizes and times through the real processor (``alliance-monitor process`` subprocess).

Each case is a session that used to break the processor: a 128-character session id
(derived ids too long: every later turn dead-lettered), a session longer than the
producer's request limit (its score requests could never be sent), a turn dated in
the year 9999 (every phase cut at once). The next good session must still work.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import orjson
import pytest

from streams.codec import decode, encode
from streams.contracts import MAX_ID_CHARS, MAX_REQUEST_BYTES, AllianceAlert, DeadLetter
from streams.replay import publish
from streams.topics import ALERTS, CHAT_TURNS, SCORE_REQUESTS, SCORES
from tests.kafka_helpers import consume_all_sync, produce
from tests.store.factories import score
from tests.streams.session_factory import expected_cuts, session
from tests.streams.test_processor import cuts, events_of, keyed, requests_for
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(kafka_bootstrap):
    w = WorkerProcess(kafka_bootstrap, f"it-limits-{uuid.uuid4().hex[:6]}", "--clock-rate", "60", "--lateness", "5",
                      "--signal-interval", "0").start()
    yield w
    assert w.stop() == 0, "\n".join(w.lines[-20:])


def dead_letters(bootstrap: str, topic: str, sid: str) -> list[DeadLetter]:
    recs = consume_all_sync(bootstrap, f"{topic}.dlq", idle=2.0, timeout=20, where=keyed(sid))
    return [decode(DeadLetter, r.value) for r in recs]


def test_a_session_id_of_the_maximum_length_is_processed_completely(worker, kafka_bootstrap, unique):
    sid = f"long-{unique}-" + "x" * (MAX_ID_CHARS - len(f"long-{unique}-"))
    assert len(sid) == MAX_ID_CHARS
    started, turns, ended = session(sid, planned_minutes=3, turns=18)
    publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
    got = requests_for(kafka_bootstrap, sid)
    assert [r.phase for r in got] == ["early", "middle", "late"]
    assert cuts(got) == expected_cuts(started.at, turns, 3)  # every turn made it into the cuts
    assert all(len(r.request_id) <= MAX_ID_CHARS for r in got)
    assert len({r.request_id for r in got}) == 3
    assert dead_letters(kafka_bootstrap, CHAT_TURNS.name, sid) == []
    # the alert path derives ids from the session id too: a bond drop must give an alert
    produce(kafka_bootstrap, SCORES.name, [(sid, score(sid, "early", 4.5, counselor="c-test")),
                                           (sid, score(sid, "middle", 2.0, counselor="c-test"))])
    alerts = [decode(AllianceAlert, r.value)
              for r in consume_all_sync(kafka_bootstrap, ALERTS.name, idle=3.0, timeout=30, where=keyed(sid))]
    model_alerts = [a for a in alerts if a.dimension != "process"]
    assert model_alerts and all(len(a.alert_id) <= MAX_ID_CHARS for a in alerts)
    assert dead_letters(kafka_bootstrap, SCORES.name, sid) == []


def test_a_session_longer_than_the_producer_limit_gets_trimmed_requests(worker, kafka_bootstrap, unique):
    """100 turns of ~15 KB: the late phase's cumulative transcript (~1.5 MB) is over the 1 MiB producer limit."""
    sid = f"huge-{unique}"
    started, turns, ended = session(sid, planned_minutes=3, turns=100)
    turns = [t.model_copy(update={"text": f"{t.turn_id} " + "word " * 3000}) for t in turns]
    publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
    got = requests_for(kafka_bootstrap, sid, timeout=60)
    assert [r.phase for r in got] == ["early", "middle", "late"]
    for r in got:
        size = len(encode(r))
        assert size <= MAX_REQUEST_BYTES, f"{r.phase}: {size} bytes"
        cut = expected_cuts(started.at, turns, 3)[r.phase]
        # the newest turns are kept; what was left out is counted, never silently lost
        assert [line.turn_id for line in r.transcript] == cut[r.trimmed_turns:]
        assert r.upto_turn_id == cut[-1]
    assert got[2].trimmed_turns > 0
    assert dead_letters(kafka_bootstrap, CHAT_TURNS.name, sid) == []
    assert dead_letters(kafka_bootstrap, SCORE_REQUESTS.name, sid) == []


def test_turns_dated_far_ahead_are_dead_lettered_and_the_phases_keep_their_cuts(worker, kafka_bootstrap, unique):
    """One turn dated 9999 used to move the session clock and cut all three phases at once."""
    sid = f"future-{unique}"
    started, turns, ended = session(sid, planned_minutes=3, turns=18)
    produce(kafka_bootstrap, "chat.sessions", [(sid, started)])
    produce(kafka_bootstrap, CHAT_TURNS.name, [(sid, t) for t in turns[:4]])
    bogus = [turns[4].model_dump(mode="json") | {"turn_id": 90, "sent_at": "9999-12-31T00:00:00Z"},
             turns[4].model_dump(mode="json") | {"turn_id": 91, "sent_at": (started.at + timedelta(hours=12)).isoformat()}]
    produce(kafka_bootstrap, CHAT_TURNS.name, [(sid, orjson.dumps(b)) for b in bogus])
    time.sleep(2.0)  # let the processor see them before the rest of the session
    publish(events_of(started, turns[4:], ended)[1:], kafka_bootstrap, speed=60, progress=False)
    got = requests_for(kafka_bootstrap, sid)
    assert cuts(got) == expected_cuts(started.at, turns, 3)  # as if the bogus turns had never come
    letters = dead_letters(kafka_bootstrap, CHAT_TURNS.name, sid)
    assert len(letters) == 2
    reasons = " | ".join(sorted(d.reason for d in letters))
    assert "ChatTurn.sent_at" in reasons and "future" in reasons  # 9999: refused by the contract
    assert "after the session" in reasons  # +12 h: refused against the session's own clock
