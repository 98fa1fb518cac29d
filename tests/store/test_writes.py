"""Write and read every model; idempotent upserts on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from store.models import Alert, AlertAck, ChatSession, CounselorFeedbackRow, Event, Prediction, PredictionItem, Turn
from store.writes import Origin, purge_turns, write_events
from streams.contracts import ChatTurn

from .factories import T0, ack, alert, feedback, score, session_events

pytestmark = pytest.mark.integration

TABLES = ("sessions", "predictions", "prediction_items", "alerts", "alert_acks", "turns", "events", "sink_streams",
          "counselor_feedback")


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, ordered, minus nothing: 'the same rows' means all columns."""
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            out[t] = sorted(tuple(map(repr, r)) for r in conn.execute(text(f"SELECT * FROM {t}")))
    return out


def all_events(sid: str) -> list:
    a = alert(sid)
    return [*session_events(sid), score(sid, "early", 4.0), score(sid, "middle", 3.5), score(sid, "late", 3.0),
            a, ack(a), ack(a, by="sup-2"), feedback(sid, 4), feedback(sid, 6, phase="late", minutes=40)]


def test_write_and_read_every_model(engine):
    sid = "s-every"
    turn = ChatTurn(session_id=sid, turn_id=0, speaker="client", text="hello there", sent_at=T0,
                    counselor_id="c-1")
    with engine.begin() as conn:
        res = write_events(conn, [*all_events(sid), turn], store_turns=True,
                           origins=[Origin("t", 0, i) for i in range(11)])
    assert res.written == {"session": 2, "score": 3, "alert": 1, "ack": 2, "feedback": 2, "turn": 1}
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        sess = s.get(ChatSession, sid)
        assert (sess.counselor_id, sess.group_id, sess.lang, sess.planned_minutes) == ("c-1", "g-1", "en", 50)
        assert sess.started_at == T0 and sess.ended_at == T0 + timedelta(minutes=50)
        assert sess.started_at.tzinfo is not None
        preds = s.scalars(select(Prediction).order_by(Prediction.upto_turn_id)).all()
        assert [p.phase for p in preds] == ["early", "middle", "late"]
        late = preds[-1]
        assert (late.goal, late.approach, late.bond) == (3.0, 3.0, 3.0)
        assert (late.model_name, late.model_revision, late.prompt_version, late.readout) == (
            "test-model", "local", "v1", "expected")
        assert [i.item_id for i in late.items] == [f"Q{i}" for i in range(1, 13)]  # Q2 before Q10
        q9 = late.items[8]
        assert q9.dimension == "bond" and q9.expected == 3.0 and q9.probs == [0, 0, 1.0, 0, 0]
        assert q9.rationale == "reason for Q9" and q9.quotes == [{"text": "quote Q9", "verified": True}]
        al = s.get(Alert, f"{sid}:bond:drop:1")
        assert al.kind == "drop" and al.evidence[0]["item_id"] == "Q9" and al.validated is False
        acks = s.scalars(select(AlertAck).order_by(AlertAck.by)).all()
        assert [(a.by, a.role) for a in acks] == [("sup-1", "supervisor"), ("sup-2", "supervisor")]
        assert s.get(Turn, (sid, 0)).text == "hello there"
        kinds = [e.kind for e in s.scalars(select(Event).order_by(Event.seq))]
        assert kinds == ["session", "session", "score", "score", "score", "alert", "ack", "ack", "feedback", "feedback"]
        fb = s.get(CounselorFeedbackRow, f"{sid}:middle:4")
        assert (fb.turn_id, fb.principle, fb.principles["empathy"], fb.model_name, fb.validated) == (
            4, "empathy", 2.0, "test-model", False)
        assert fb.quote == "What do you want to work on?" and fb.features == {"open_question": True}
        assert s.scalar(select(Event.data).where(Event.kind == "alert"))["alert_id"] == al.alert_id


def test_same_events_twice_leave_the_same_rows(engine):
    events = all_events("s-idem") + all_events("s-idem2")
    with engine.begin() as conn:
        write_events(conn, events, origins=[Origin("t", 0, i) for i in range(len(events))])
    first = snapshot(engine)
    with engine.begin() as conn:  # the same records re-delivered
        write_events(conn, events, origins=[Origin("t", 0, i) for i in range(len(events))])
    with engine.begin() as conn:  # and the same events produced again (new offsets), in reverse order
        write_events(conn, events[::-1], origins=[Origin("t", 0, 100 + i) for i in range(len(events))])
    second = snapshot(engine)
    second["sink_streams"] = first["sink_streams"]  # only the high-water mark may move
    assert second == first
    assert len(first["predictions"]) == 6 and len(first["prediction_items"]) == 72


def test_newer_score_replaces_older_and_older_is_ignored(engine):
    sid = "s-ver"
    old = score(sid, "late", 2.0)
    new = score(sid, "late", {f"Q{i}": 4.0 for i in range(1, 9)}, scored_at=old.scored_at + timedelta(seconds=30))
    with engine.begin() as conn:
        write_events(conn, [old])
        res = write_events(conn, [new])
        assert res.written == {"score": 1}
        res = write_events(conn, [old])  # a late duplicate of the older version changes nothing
        assert res.skipped == {"score": 1}
    with engine.connect() as conn:
        p = conn.execute(select(Prediction.goal, Prediction.bond, Prediction.scored_at)).one()
        assert (p.goal, p.bond, p.scored_at) == (4.0, None, new.scored_at)
        items = conn.execute(select(PredictionItem.item_id)).scalars().all()
        assert sorted(items, key=lambda i: int(i[1:])) == [f"Q{i}" for i in range(1, 9)]


def test_other_models_keep_their_own_predictions(engine):
    with engine.begin() as conn:
        write_events(conn, [score("s-m", "late", 3.0), score("s-m", "late", 4.0, model="other")])
    with engine.connect() as conn:
        assert conn.execute(select(Prediction.model_name, Prediction.goal).order_by(Prediction.goal)).all() == [
            ("test-model", 3.0), ("other", 4.0)]


def test_ended_before_started_keeps_both(engine):
    started, ended = session_events("s-order")
    with engine.begin() as conn:
        write_events(conn, [ended, started])
    with engine.connect() as conn:
        row = conn.execute(select(ChatSession)).one()
    assert row.started_at == started.at and row.ended_at == ended.at and row.updated_at == ended.at


def test_turns_are_skipped_unless_enabled_and_purged_by_age(engine):
    now = T0 + timedelta(days=40)
    turns = [ChatTurn(session_id="s-t", turn_id=i, speaker="client", text="x", sent_at=T0 + timedelta(days=10 * i),
                      counselor_id="c") for i in range(4)]  # 40, 30, 20, 10 days old
    with engine.begin() as conn:
        res = write_events(conn, turns)
        assert res.skipped == {"turn": 4} and conn.execute(select(Turn)).first() is None
        write_events(conn, turns, store_turns=True)
        assert purge_turns(conn, 25, now=now) == 2
        assert conn.execute(select(Turn.turn_id).order_by(Turn.turn_id)).scalars().all() == [2, 3]
