"""Turn codes in the store (store/turn_codes.py, migration 0008): written, replaced, read back, sampled from the
stored turns — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from alliance_monitor.coding import rule_fired
from store.models import Turn
from store.turn_codes import coding_sample, read_turn_codes, turn_with_context, write_turn_code
from validation.codebook import SESSION_TURN

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
TEXTS = [("client", "I can't sleep since I started the new job."),
         ("counselor", "What keeps you awake?"),
         ("client", "ok"),
         ("counselor", "You should just switch off your phone. Call me on 555-123-4567."),
         ("client", "Mary says the same thing, it's pointless.")]


def _turns(engine, sid: str = "s1", at: datetime = NOW - timedelta(hours=2)) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Turn.__table__), [
            {"session_id": sid, "turn_id": i, "speaker": sp, "text": text, "sent_at": at + timedelta(minutes=i),
             "counselor_id": "c1", "lang": "en"} for i, (sp, text) in enumerate(TEXTS)])


def test_codes_are_written_replaced_and_read_back(engine):
    write_turn_code(engine, session_id="s1", turn_id=1, coder_id="ana", speaker="counselor",
                    codes=["open_question"], coded_at=NOW)
    write_turn_code(engine, session_id="s1", turn_id=1, coder_id="bo", speaker="counselor",
                    codes=["closed_question"], coded_at=NOW)
    write_turn_code(engine, session_id="s1", turn_id=1, coder_id="ana", speaker="counselor",
                    codes=["affirmation", "open_question"], coded_at=NOW + timedelta(minutes=1))
    write_turn_code(engine, session_id="s1", turn_id=SESSION_TURN, coder_id="ana", speaker="session",
                    codes={"rupture": {"type": "confrontation", "repaired": False}}, coded_at=NOW)
    rows = read_turn_codes(engine)
    assert [(r.turn_id, r.coder_id, r.codes) for r in rows] == [
        (SESSION_TURN, "ana", ()), (1, "ana", ("open_question", "affirmation")), (1, "bo", ("closed_question",))]
    assert rows[0].rupture == {"type": "confrontation", "repaired": False}
    assert rows[1].coded_at == NOW + timedelta(minutes=1) and rows[1].coded_at.tzinfo is not None
    assert [r.coder_id for r in read_turn_codes(engine, coder_id="bo")] == ["bo"]
    with pytest.raises(ValueError):
        write_turn_code(engine, session_id="s1", turn_id=2, coder_id="ana", speaker="client",
                        codes=["open_question"], coded_at=NOW)
    assert len(read_turn_codes(engine)) == 3  # the refused set wrote nothing


def test_the_sample_comes_from_stored_turns_within_retention_and_quotes_are_redacted(engine):
    _turns(engine, "s1")
    _turns(engine, "old", at=NOW - timedelta(days=60))
    sample = coding_sample(engine, rule_fired, now=NOW, retention_days=30, size=4, double_share=0.5)
    assert len(sample) == 4 and {t.session_id for t in sample} == {"s1"}
    # four turns fired a rule (a question, "ok", a directive, a complaint), one did not: it leaves its place
    assert sum(t.fired for t in sample) == 3 and sum(t.double for t in sample) == 2
    ctx = turn_with_context(engine, "s1", 3, context=2)
    assert [c["turn_id"] for c in ctx] == [1, 2, 3]
    assert "555-123-4567" not in ctx[-1]["text"] and "switch off your phone" in ctx[-1]["text"]
