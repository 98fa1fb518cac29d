"""Turn codes in the store (store/turn_codes.py, migration 0008): written, replaced, read back, sampled from the
stored turns — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from alliance_monitor.coding import rule_fired
from store.models import ChatSession, Turn
from store.turn_codes import coding_sample, read_turn_codes, turn_with_context, write_turn_code
from store.turn_eval import evaluate_turns, read_feedback
from store.turn_eval import read_turn_codes as read_file_codes
from store.writes import write_turn
from streams.contracts import ChatTurn
from streams.replay_format import read_file
from validation.codebook import SESSION_TURN

pytestmark = pytest.mark.integration

LABELS = Path(__file__).resolve().parents[2] / "samples" / "labels"
NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
TEXTS = [("client", "I can't sleep since I started the new job."),
         ("counselor", "What keeps you awake?"),
         ("client", "ok"),
         ("counselor", "You should just switch off your phone. Call me on 555-123-4567."),
         ("client", "Mary says the same thing, it's pointless.")]


def run(argv, capsys):
    from alliance_monitor.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


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
    # three turns fired a rule (a question, a directive, a complaint); a bare "ok" is an acknowledgement, no marker
    assert not rule_fired("client", "ok") and rule_fired("client", TEXTS[4][1])
    assert sum(t.fired for t in sample) == 2 and sum(t.double for t in sample) == 2
    ctx = turn_with_context(engine, "s1", 3, context=2)
    assert [c["turn_id"] for c in ctx] == [1, 2, 3]
    assert "555-123-4567" not in ctx[-1]["text"] and "switch off your phone" in ctx[-1]["text"]


# --- eval-turns --from-store ---------------------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
#: The fixture's eval-turns codes as codebook codes (the fixture does not split reflections or advice).
AS_CODEBOOK = {"open_question": "open_question", "closed_question": "closed_question",
               "reflection": "complex_reflection", "directive": "advice_without_permission"}


def store_samples(engine, shift: timedelta = timedelta(0)) -> None:
    """The six samples' turns in the store (as the sink keeps them with ALLIANCE_STORE_TURNS=1)."""
    with engine.begin() as conn:
        for path in sorted(SAMPLES.glob("s0*.jsonl")):
            events, bad = read_file(path)
            assert not bad
            for ev in events:
                if isinstance(ev.event, ChatTurn):
                    write_turn(conn, ev.event.model_copy(update={"sent_at": ev.event.sent_at + shift}))


def test_eval_turns_from_store_equals_the_file_route_and_prints_the_coders_agreement(engine, db_url, capsys):
    store_samples(engine)
    fixture = read_file_codes(LABELS / "turn-codes.jsonl")
    for c in fixture:
        chosen = [AS_CODEBOOK[k] for k, v in c.codes.items() if k in AS_CODEBOOK and v]
        write_turn_code(engine, session_id=c.session_id, turn_id=c.turn_id, coder_id="dev-1", speaker="counselor",
                        codes=chosen, coded_at=NOW)
    rc, out, err = run(["eval-turns", "--from-store", "--db", db_url, "--resamples", "200"], capsys)
    assert rc == 0, err
    # the same kappa as eval-turns on the files: the word rules on the stored text = the feedback's features
    by_file = {a.code: a.agreement for a in evaluate_turns(fixture, read_feedback(LABELS / "turn-feedback-demo.jsonl"),
                                                           resamples=200).codes}
    for code in AS_CODEBOOK:
        line = next(line for line in out.splitlines() if line.strip().startswith(code + " "))
        assert f"{by_file[code]:.2f}" in line.split()[4], (code, line)
    assert "0 of 44 coded turns coded by two coders" in out
    # a second coder who agrees on every turn but one
    for i, c in enumerate(fixture[:10]):
        chosen = [AS_CODEBOOK[k] for k, v in c.codes.items() if k in AS_CODEBOOK and v]
        if i == 0:
            chosen = [*chosen, "affirmation"]
        write_turn_code(engine, session_id=c.session_id, turn_id=c.turn_id, coder_id="dev-2", speaker="counselor",
                        codes=chosen, coded_at=NOW)
    rc, out, err = run(["eval-turns", "--from-store", "--db", db_url, "--resamples", "200"], capsys)
    assert rc == 0, err
    assert "10 of 44 coded turns coded by two coders (dev-1, dev-2)" in out
    rows = {line.split()[0]: line.split() for line in out.split("Coders' agreement")[1].splitlines()[2:]}
    assert rows["affirmation"][1:3] == ["10", "90%"]  # one of ten disagreed
    assert rows["complex_reflection"][2:] == ["100%", "1.00"]


def test_eval_turns_from_store_on_an_empty_store_is_one_line(engine, db_url, capsys):
    rc, _out, err = run(["eval-turns", "--from-store", "--db", db_url], capsys)
    assert rc == 2 and "no turn codes" in err and "Traceback" not in err


def test_a_supervisor_is_sampled_only_turns_of_their_groups(engine):
    _turns(engine, "ward-a-1")
    _turns(engine, "ward-b-1")
    _turns(engine, "no-session-row")
    with engine.begin() as conn:
        conn.execute(insert(ChatSession.__table__), [
            {"session_id": "ward-a-1", "group_id": "ward-a", "updated_at": NOW},
            {"session_id": "ward-b-1", "group_id": "ward-b", "updated_at": NOW}])
    scoped = coding_sample(engine, rule_fired, now=NOW, retention_days=30, size=20, double_share=0.2,
                           groups=frozenset({"ward-a"}))
    assert {t.session_id for t in scoped} == {"ward-a-1"} and len(scoped) == len(TEXTS)
    everything = coding_sample(engine, rule_fired, now=NOW, retention_days=30, size=20, double_share=0.2)
    assert {t.session_id for t in everything} == {"ward-a-1", "ward-b-1", "no-session-row"}


def test_train_turns_from_store_learns_from_the_code_pages_codes(sqlite_url, capsys, tmp_path, monkeypatch):
    """``train-turns --from-store``: the /code page's codes with the stored turn text (and its previous turn)."""
    from store.db import make_engine, upgrade
    from training.turn_detector_files import load
    from validation.synthetic_turns import coded_corpus

    monkeypatch.setenv("ALLIANCE_TRAINED_DIR", str(tmp_path / "trained"))
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    corpus = coded_corpus(n_sessions=8, turns_per_session=20)
    with engine.begin() as conn:
        conn.execute(insert(Turn.__table__), [
            {"session_id": t.session_id, "turn_id": t.turn_id, "speaker": t.speaker, "text": t.text,
             "sent_at": NOW + timedelta(minutes=t.turn_id), "counselor_id": "c1", "lang": t.lang} for t in corpus])
    for t in corpus[:-4]:  # the last turns' codes are not recorded: not trained on
        chosen = [AS_CODEBOOK[k] for k, v in t.coders[0].items() if v and k in AS_CODEBOOK]
        write_turn_code(engine, session_id=t.session_id, turn_id=t.turn_id, coder_id="ana", speaker=t.speaker,
                        codes=chosen, coded_at=NOW)
    engine.dispose()
    rc, out, err = run(["train-turns", "--from-store", "--db", sqlite_url, "--code", "directive",
                        "--out", str(tmp_path / "det")], capsys)
    assert rc == 0, err
    assert f"coded turns: {len(corpus) - 4} in 8 sessions (store turn_codes)" in out
    detector, models, trained_on = load(tmp_path / "det")
    assert detector.codes == ("directive",) == tuple(models) and len(trained_on) == 6
