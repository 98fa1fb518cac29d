"""Session ownership in the store (streams/ownership.py): a forged session record changes no row, no journal
entry and no after-session timeline. On SQLite and PostgreSQL, through the sink's own write path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from alliance_monitor.commands.gateway import store_archive
from gateway.auth import Viewer
from gateway.client_messages import Hello
from gateway.history import MemoryHistory
from gateway.hub import Hub
from gateway.policy import Policy
from store.models import ChatSession, Event
from store.writes import Origin, write_events
from streams.contracts import SessionEvent

from .factories import T0, alert, score

pytestmark = pytest.mark.integration

A, B = "platform-a", "platform-b"


def session(sid: str, kind: str, minutes: float = 0, counselor: str = "c-a", group: str = "g-a") -> SessionEvent:
    return SessionEvent(session_id=sid, kind=kind, at=T0 + timedelta(minutes=minutes), counselor_id=counselor,
                        group=group)


def write(engine, events, source: str | None, trusted: frozenset[str] = frozenset(), start: int = 0):
    with engine.begin() as conn:
        return write_events(conn, events, trusted=trusted,
                            origins=[Origin("chat.sessions", 0, start + i, source) for i in range(len(events))])


def row(engine, sid: str):
    with engine.connect() as conn:
        t = ChatSession.__table__
        return conn.execute(select(t).where(t.c.session_id == sid)).one()


def journal_kinds(engine, sid: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(Event.ref).where(Event.session_id == sid, Event.kind == "session"))
                      .scalars())


@pytest.mark.parametrize("trusted", [frozenset(), frozenset({A, B})])
def test_a_forged_started_or_ended_changes_no_row_and_no_timeline(engine, db_url, trusted):
    """The attack: a later and an earlier-dated ``started`` from another producer naming another counselor
    and group, and its ``ended``: the store said c-evil/g-evil and g-evil's supervisor read the quotes."""
    sid = "s-owned"
    write(engine, [session(sid, "started")], A, trusted)
    with engine.begin() as conn:
        write_events(conn, [score(sid, "early", 4.0), alert(sid)])
    res = write(engine, [session(sid, "started", 30, "c-evil", "g-evil"), session(sid, "started", -30, "c-evil", "g-evil"),
                         session(sid, "ended", 4, "c-evil", "g-evil")], B, trusted, start=10)
    assert res.skipped == {"session": 3} and not res.written
    r = row(engine, sid)
    assert (r.counselor_id, r.group_id, r.started_at, r.ended_at, r.owner_source) == ("c-a", "g-a", T0, None, A)
    assert journal_kinds(engine, sid) == [f"{sid}:started"]
    # the after-session timeline decides scope on the store: g-evil's supervisor sees nothing
    archived = store_archive(db_url)(sid)
    assert archived is not None and (archived.counselor_id, archived.group) == ("c-a", "g-a")
    hub = Hub(MemoryHistory(), Policy())
    evil = hub.open(Hello(Viewer("supervisor", "evil", groups=frozenset({"g-evil"})), None), 0.0)
    hub.archived_timeline(evil, sid, archived)
    assert [f for f in evil.outbox if '"timeline"' in f] == [] and any('"forbidden"' in f for f in evil.outbox)
    # the owner still ends it, and hands it over (twice: two journal entries)
    write(engine, [session(sid, "reassigned", 10, "c-b", "g-b"), session(sid, "reassigned", 20, "c-c", "g-b"),
                   session(sid, "ended", 50, "c-a", "g-a")], A, trusted, start=20)
    r = row(engine, sid)
    assert (r.counselor_id, r.group_id, r.started_at, r.ended_at) == ("c-c", "g-b", T0, T0 + timedelta(minutes=50))
    assert len(journal_kinds(engine, sid)) == 4


def test_an_untrusted_source_claims_nothing_and_a_headerless_row_is_claimed_once(engine):
    sid = "s-strict"
    assert write(engine, [session(sid, "started", 0, "c-evil", "g-evil")], B, frozenset({A})).skipped == {"session": 1}
    write(engine, [session(sid, "started")], A, frozenset({A}), start=1)
    assert (row(engine, sid).counselor_id, row(engine, sid).owner_source) == ("c-a", A)
    # a session claimed by a record without a source header (the demo's replay) is owned by "no source"
    write(engine, [session("s-demo", "started")], None)
    assert write(engine, [session("s-demo", "ended", 5, "c-evil")], A, start=5).skipped == {"session": 1}
    assert row(engine, "s-demo").owner_source == "" and row(engine, "s-demo").ended_at is None
