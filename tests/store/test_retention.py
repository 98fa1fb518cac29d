"""Retention covers every place chat text lives in the store, not only ``turns``.

Seeds an old and a recent session into each text-bearing place (turns, item
rationales and quotes, alert evidence, ack notes, feedback quotes, the events journal), runs the
real ``alliance-monitor db purge``, and then reads *every* text and JSON column of
every table back: the old marker must be gone everywhere, the recent one kept, and
the numbers of the old session untouched.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text

from alliance_monitor.cli import main
from store.db import make_engine, upgrade
from store.models import Prediction
from store.writes import write_events
from streams.contracts import AlertAck, AllianceAlert, ChatTurn, CounselorFeedback, Evidence, ModelIdentity, Quote

from .factories import score

pytestmark = pytest.mark.integration

OLD, NEW = "OLDSECRET", "NEWSECRET"


def _seed(url: str, now: datetime) -> None:
    events = []
    for marker, age in ((OLD, 40), (NEW, 2)):
        at = now - timedelta(days=age)
        sid = f"s-{marker.lower()}"
        events.append(ChatTurn(session_id=sid, turn_id=0, speaker="client", text=f"my name is {marker}",
                               sent_at=at, counselor_id="c-1"))
        sc = score(sid, "late", 2.5, start=at - timedelta(minutes=50), scored_at=at)
        items = [i.model_copy(update={"rationale": f"because {marker}",
                                      "quotes": [Quote(text=f"said {marker}", verified=True)]}) for i in sc.items]
        events.append(sc.model_copy(update={"items": items}))
        alert = AllianceAlert(
            alert_id=f"{sid}:late:bond:drop", session_id=sid, counselor_id="c-1", dimension="bond", kind="drop",
            severity="warning", previous=4.0, current=2.5, phase="late", created_at=at,
            evidence=[Evidence(item_id="Q9", dimension="bond", previous=4.0, current=2.5, delta=-1.5,
                               rationale=f"since {marker}", quotes=[Quote(text=f"quote {marker}", verified=True)])])
        events.append(alert)
        events.append(AlertAck(alert_id=alert.alert_id, session_id=sid, by="sup-1", role="supervisor",
                               note=f"called {marker}", at=at))
        events.append(CounselorFeedback(
            feedback_id=f"{sid}:late:3", session_id=sid, counselor_id="c-1", phase="late", turn_id=3,
            quote=f"you said {marker}", principles={"empathy": 2.0}, patterns={"passive_response": 3.5},
            principle="empathy", next_move=f"reflect what {marker} feels", model=ModelIdentity(name="m"),
            created_at=at))
    engine = make_engine(url)
    with engine.begin() as conn:
        write_events(conn, events, store_turns=True)
    engine.dispose()


def _all_text(url: str) -> str:
    """Every row of every table as text: nothing can hide from this."""
    engine = make_engine(url)
    out = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(repr(tuple(row)))
    engine.dispose()
    return "\n".join(out)


def test_purge_leaves_no_old_quote_anywhere_and_keeps_the_numbers(db_url, capsys):
    upgrade(db_url)
    now = datetime.now(timezone.utc)
    _seed(db_url, now)
    before = _all_text(db_url)
    assert before.count(OLD) >= 12 and NEW in before  # seeded in every place

    assert main(["db", "purge", "--older-than", "30", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 chat turns" in out and "12 prediction items" in out and "1 alerts" in out
    assert "1 feedback records" in out

    after = _all_text(db_url)
    assert OLD not in after, [line for line in after.splitlines() if OLD in line][:3]
    assert after.count(NEW) == before.count(NEW)  # recent text is kept
    engine = make_engine(db_url)
    with engine.connect() as conn:  # the old session's numbers are untouched
        old = conn.execute(select(Prediction.bond, Prediction.goal).where(Prediction.session_id == "s-oldsecret")).one()
        assert old.bond == pytest.approx(2.5) and old.goal == pytest.approx(2.5)
    engine.dispose()
    # a second purge finds nothing left to do
    assert main(["db", "purge", "--older-than", "30", "--db", db_url]) == 0
    assert ("deleted 0 chat turns; removed quotes and rationales from 0 prediction items, 0 alerts, 0 ack notes, "
            "0 feedback records and 0 journal events") in capsys.readouterr().out
