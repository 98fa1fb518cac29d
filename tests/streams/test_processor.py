"""The stream processor end to end against the real broker, as a real ``alliance-monitor process`` subprocess.

One worker is shared by the tests of this module (each test uses its own
session ids). The crash test lives in test_processor_recovery.py: every worker
reads every session, so it must not run while this module's worker is up.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timezone

import orjson
import pytest

from streams.codec import decode
from streams.contracts import (
    AllianceAlert,
    AllianceScore,
    DeadLetter,
    DimensionScore,
    ItemScore,
    ModelIdentity,
    ProcessSignal,
    Quote,
    ScoreRequest,
)
from streams.replay import ReplayEvent, publish, read_file, rebase
from streams.topics import ALERTS, CHAT_SESSIONS, CHAT_TURNS, SCORE_REQUESTS, SCORES, SIGNALS
from tests.kafka_helpers import consume_all_sync, produce
from tests.streams.session_factory import expected_cuts, session
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

WORKER_ARGS = ("--clock-rate", "60", "--lateness", "5", "--signal-interval", "0")


@pytest.fixture(scope="module")
def worker(kafka_bootstrap):
    w = WorkerProcess(kafka_bootstrap, f"it-proc-{uuid.uuid4().hex[:6]}", *WORKER_ARGS).start()
    yield w
    code = w.stop()
    assert code == 0, "SIGTERM must stop the worker cleanly:\n" + "\n".join(w.lines[-20:])
    assert any("processor stopped" in line for line in w.lines)


def keyed(sid: str):
    return lambda r: r.key == sid.encode()


def requests_for(bootstrap: str, sid: str, expect: int = 3, timeout: float = 40.0) -> list[ScoreRequest]:
    recs = consume_all_sync(bootstrap, SCORE_REQUESTS.name, expect=expect, timeout=timeout, where=keyed(sid))
    return [decode(ScoreRequest, r.value) for r in recs]


def settled_requests_for(bootstrap: str, sid: str) -> list[ScoreRequest]:
    """All requests of a session once nothing more arrives (to see duplicates)."""
    recs = consume_all_sync(bootstrap, SCORE_REQUESTS.name, idle=2.0, timeout=30, where=keyed(sid))
    return [decode(ScoreRequest, r.value) for r in recs]


def events_of(started, turns, ended) -> list[ReplayEvent]:
    out = [ReplayEvent(CHAT_SESSIONS.name, started, started.at, "test", 0)]
    out += [ReplayEvent(CHAT_TURNS.name, t, t.sent_at, "test", i + 1) for i, t in enumerate(turns)]
    if ended is not None:
        out.append(ReplayEvent(CHAT_SESSIONS.name, ended, ended.at, "test", len(turns) + 1))
    return out


def cuts(requests: list[ScoreRequest]) -> dict[str, list[int]]:
    return {r.phase: [line.turn_id for line in r.transcript] for r in requests}


def test_replayed_session_yields_three_requests_in_order_with_the_right_cuts(worker, kafka_bootstrap, unique):
    sid = f"rep-{unique}"
    started, turns, ended = session(sid, planned_minutes=3, turns=18)
    publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
    got = requests_for(kafka_bootstrap, sid)
    assert [r.phase for r in got] == ["early", "middle", "late"]
    assert [r.request_id for r in got] == [f"{sid}:early", f"{sid}:middle", f"{sid}:late"]
    assert cuts(got) == expected_cuts(started.at, turns, 3)
    assert got[2].transcript[5].text == turns[5].text
    assert len(settled_requests_for(kafka_bootstrap, sid)) == 3
    # a process signal for every turn (--signal-interval 0), in turn order
    sigs = consume_all_sync(kafka_bootstrap, SIGNALS.name, expect=len(turns), timeout=20, where=keyed(sid))
    assert [decode(ProcessSignal, r.value).upto_turn_id for r in sigs] == list(range(len(turns)))


def _sample(samples_dir, which: str):
    files = sorted(samples_dir.glob("*.jsonl")) if samples_dir.exists() else []
    if which == "silent":  # a recorded session that never sends `ended`
        files = [f for f in files if '"ended"' not in f.read_text(encoding="utf-8")]
    return files[0] if files else None


@pytest.mark.parametrize("which", ["first", "silent"])
def test_a_recorded_sample_session_yields_three_requests(worker, kafka_bootstrap, samples_dir, unique, which):
    path = _sample(samples_dir, which)
    if path is None:
        pytest.skip(f"no {which} sample in samples/ (the synthetic tests cover the same path)")
    events, bad = read_file(path)
    assert not bad
    first_sid = events[0].session_id
    events = [e for e in events if e.session_id == first_sid]
    sid = f"sample-{which}-{unique}"
    moved = []
    for e in rebase(events, datetime.now(timezone.utc)):
        moved.append(ReplayEvent(e.topic, e.event.model_copy(update={"session_id": sid}), e.at, e.source, e.order))
    publish(moved, kafka_bootstrap, speed=math.inf, progress=False)
    got = requests_for(kafka_bootstrap, sid, timeout=60)
    assert [r.phase for r in got] == ["early", "middle", "late"]
    started = next(e.event for e in moved if e.topic == CHAT_SESSIONS.name and e.event.kind == "started")
    ended = next((e.event for e in moved if e.topic == CHAT_SESSIONS.name and e.event.kind == "ended"), None)
    turns = [e.event for e in moved if e.topic == CHAT_TURNS.name]
    assert cuts(got) == expected_cuts(started.at, turns, started.planned_minutes, ended.at if ended else None)


def test_silent_client_still_gets_its_boundaries(worker, kafka_bootstrap, unique):
    sid = f"silent-{unique}"
    started, turns, _ = session(sid, planned_minutes=3, turns=2, gap_s=5, ended=False)
    t0 = time.monotonic()
    publish(events_of(started, turns, None), kafka_bootstrap, speed=60, progress=False)
    got = requests_for(kafka_bootstrap, sid)
    assert [r.phase for r in got] == ["early", "middle", "late"]
    assert all(cuts(got)[p] == [0, 1] for p in ("early", "middle", "late"))
    # 3 planned minutes at 60x: all three boundaries within seconds, not minutes
    assert time.monotonic() - t0 < 40


def test_duplicate_and_out_of_order_turns_change_nothing(worker, kafka_bootstrap, unique):
    start = datetime.now(timezone.utc)
    base_sid, messy_sid = f"ord-{unique}", f"messy-{unique}"
    s1, t1, e1 = session(base_sid, start=start, planned_minutes=3, turns=18)
    s2, t2, e2 = session(messy_sid, start=start, planned_minutes=3, turns=18)
    messy = list(t2)
    messy[3], messy[4] = messy[4], messy[3]  # out of order (seconds apart, same phase)
    messy.insert(8, t2[6])  # a duplicate
    messy.insert(12, t2[11])  # an immediate duplicate
    produce(kafka_bootstrap, CHAT_SESSIONS.name, [(base_sid, s1), (messy_sid, s2)])
    produce(kafka_bootstrap, CHAT_TURNS.name, [(base_sid, t) for t in t1] + [(messy_sid, t) for t in messy])
    produce(kafka_bootstrap, CHAT_SESSIONS.name, [(base_sid, e1), (messy_sid, e2)])
    clean, dirty = requests_for(kafka_bootstrap, base_sid), requests_for(kafka_bootstrap, messy_sid)
    assert cuts(dirty) == cuts(clean) == expected_cuts(start, t1, 3)
    assert [r.upto_turn_id for r in dirty] == [r.upto_turn_id for r in clean]
    assert [[line.text for line in r.transcript] for r in dirty] == [[line.text for line in r.transcript] for r in clean]
    assert len(settled_requests_for(kafka_bootstrap, messy_sid)) == 3


def test_garbage_goes_to_the_dlq_and_the_next_good_turn_is_processed(worker, kafka_bootstrap, unique):
    sid = f"dlq-{unique}"
    started, turns, _ = session(sid, planned_minutes=50, turns=2, ended=False)
    bad_turn = orjson.dumps({**turns[0].model_dump(mode="json"), "speaker": "robot", "turn_id": 7})
    produce(kafka_bootstrap, CHAT_SESSIONS.name, [(sid, started), (sid, b"\xff\xfe not json")])
    produce(kafka_bootstrap, CHAT_TURNS.name, [(sid, b"{garbage"), (sid, bad_turn), (sid, turns[0]), (sid, turns[1])])
    letters = consume_all_sync(kafka_bootstrap, CHAT_TURNS.dlq, expect=2, timeout=30, where=keyed(sid))
    reasons = [decode(DeadLetter, r.value).reason for r in letters]
    assert "not valid JSON" in reasons[0]
    assert "ChatTurn.speaker" in reasons[1]
    assert decode(DeadLetter, letters[0].value).raw == "{garbage"
    assert decode(DeadLetter, letters[0].value).source_topic == CHAT_TURNS.name
    sess_letters = consume_all_sync(kafka_bootstrap, CHAT_SESSIONS.dlq, expect=1, timeout=30, where=keyed(sid))
    assert decode(DeadLetter, sess_letters[0].value).raw_encoding == "base64"
    sigs = consume_all_sync(kafka_bootstrap, SIGNALS.name, expect=2, timeout=30, where=keyed(sid))
    assert [decode(ProcessSignal, r.value).upto_turn_id for r in sigs] == [0, 1]


def _score(sid: str, phase: str, bond: float, goal: float, model: str = "care-8b") -> AllianceScore:
    items = []
    for n in range(1, 13):
        dim = "goal" if n <= 4 else "approach" if n <= 8 else "bond"
        e = {"goal": goal, "bond": bond}.get(dim, 3.5) + (-0.2 if n in (2, 10) else 0.2 if n in (3, 11) else 0.0)
        lo = min(int(e), 4)
        probs = [0.0] * 5
        probs[lo - 1], probs[lo] = 1 - (e - lo), e - lo
        items.append(ItemScore(item_id=f"Q{n}", dimension=dim, expected=e, probs=probs, rationale=f"because {n}",
                               quotes=[Quote(text=f"q{n}", verified=n % 2 == 0)]))
    dims = {d: DimensionScore(score=sum(i.expected for i in items if i.dimension == d) / 4)
            for d in ("goal", "approach", "bond")}
    return AllianceScore(request_id=f"{sid}:{phase}", session_id=sid, counselor_id="c-9", phase=phase,
                         upto_turn_id=3, items=items, dimensions=dims, model=ModelIdentity(name=model))


def test_scores_produce_the_expected_alerts(worker, kafka_bootstrap, unique):
    sid = f"alert-{unique}"
    early, middle, late = _score(sid, "early", 4.0, 2.6), _score(sid, "middle", 3.2, 2.3), _score(sid, "late", 3.9, 3.5)
    produce(kafka_bootstrap, SCORES.name, [(sid, early), (sid, b"not a score"), (sid, middle), (sid, middle),
                                           (sid, late)])
    recs = consume_all_sync(kafka_bootstrap, ALERTS.name, idle=3.0, timeout=40, where=keyed(sid))
    alerts = [decode(AllianceAlert, r.value) for r in recs]
    assert [(a.alert_id, a.severity) for a in alerts] == [
        (f"{sid}:middle:goal:low", "warning"),
        (f"{sid}:middle:bond:drop", "warning"),
        (f"{sid}:late:goal:recovered", "info"),
        (f"{sid}:late:bond:recovered", "info"),
    ]
    drop = alerts[1]
    assert drop.model == "care-8b" and drop.validated is False and drop.counselor_id == "c-9"
    assert drop.previous == pytest.approx(4.0) and drop.current == pytest.approx(3.2)
    assert drop.evidence and all(q.verified for e in drop.evidence for q in e.quotes)
    letters = consume_all_sync(kafka_bootstrap, SCORES.dlq, expect=1, timeout=20, where=keyed(sid))
    assert "AllianceScore" in decode(DeadLetter, letters[0].value).reason


def _produce_with_source(bootstrap: str, topic: str, records, source: str) -> None:
    from kafka import KafkaProducer

    from streams.codec import encode
    from streams.topics import SOURCE_HEADER

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_in_flight_requests_per_connection=1)
    try:
        for key, value in records:
            p.send(topic, key=key.encode(), value=encode(value), headers=[(SOURCE_HEADER, source.encode())])
        p.flush()
    finally:
        p.close()


def test_a_forged_ended_and_a_turn_a_day_ahead_change_nothing(worker, kafka_bootstrap, unique):
    """The real shell with streams/ownership.py: another producer's ``ended`` at minute 4 goes to the DLQ with
    its headers, cuts no phase and relabels nobody; a turn dated +23 h read before ``started`` is dead-lettered."""
    from datetime import timedelta

    sid, early = f"own-{unique}", f"ahead-{unique}"
    started, turns, _ = session(sid, planned_minutes=50, turns=4, gap_s=30, ended=False)
    forged = started.model_copy(update={"kind": "ended", "at": started.at + timedelta(minutes=4),
                                        "counselor_id": "c-evil", "group": "g-evil"})
    _produce_with_source(kafka_bootstrap, CHAT_SESSIONS.name, [(sid, started)], "platform-a")
    produce(kafka_bootstrap, CHAT_TURNS.name, [(sid, t) for t in turns])
    _produce_with_source(kafka_bootstrap, CHAT_SESSIONS.name, [(sid, forged)], "platform-b")
    injected = turns[-1].model_copy(update={"turn_id": 40, "text": "injected"})
    _produce_with_source(kafka_bootstrap, CHAT_TURNS.name, [(sid, injected)], "platform-b")
    letters = consume_all_sync(kafka_bootstrap, CHAT_SESSIONS.dlq, expect=1, timeout=30, where=keyed(sid))
    letter = decode(DeadLetter, letters[0].value)
    assert "belongs to source 'platform-a'" in letter.reason and "platform-b" in letter.reason
    assert dict(letters[0].headers)["alliance-source"] == b"platform-b"  # `dlq redrive` can send it back as it was
    # no phase cut at minute 4 (at 60x it would be due about 5 s after the last turn)
    assert consume_all_sync(kafka_bootstrap, SCORE_REQUESTS.name, idle=8.0, timeout=30, where=keyed(sid)) == []
    # the owner's own end does end it, and every request names the owner's counselor
    _produce_with_source(kafka_bootstrap, CHAT_SESSIONS.name,
                         [(sid, forged.model_copy(update={"counselor_id": "c-test", "group": None}))], "platform-a")
    got = requests_for(kafka_bootstrap, sid)
    assert [r.phase for r in got] == ["early", "middle", "late"] and {r.counselor_id for r in got} == {"c-test"}
    assert all(line.turn_id != 40 for r in got for line in r.transcript)  # b's stamped turn never entered
    assert "belongs to source 'platform-a'" in decode(
        DeadLetter, consume_all_sync(kafka_bootstrap, CHAT_TURNS.dlq, expect=1, timeout=30, where=keyed(sid))[0].value).reason

    _, ahead_turns, _ = session(early, start=datetime.now(timezone.utc) + timedelta(hours=23), turns=1, ended=False)
    produce(kafka_bootstrap, CHAT_TURNS.name, [(early, ahead_turns[0])])
    dead = consume_all_sync(kafka_bootstrap, CHAT_TURNS.dlq, expect=1, timeout=30, where=keyed(early))
    assert "ahead of the clock before the session's started" in decode(DeadLetter, dead[0].value).reason
