"""score-corpus without the model: planning from files, bad lines, what a resumed run still has to do.

The scoring itself (real engine, interrupted and resumed, compared with the live
pipeline) is tests/e2e/test_score_corpus.py.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from alliance_monitor.cli import main
from scoring.corpus import identity_for, load_corpus, remaining_work
from store.db import make_engine, upgrade
from store.models import ChatSession, Prediction
from store.repository import stored_request_ids
from store.writes import write_in_one_transaction
from streams.codec import encode
from tests.e2e.harness import session_events
from tests.gateway import events as ev

T = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
IDENTITY = identity_for("care-style-8b", "r1", "expected")


def _write(path, *sessions, extra: list[bytes] = ()):
    with open(path, "wb") as f:
        for sid in sessions:
            for e in session_events(sid, "c-x", "g-x", T):
                f.write(encode(e) + b"\n")
        for line in extra:
            f.write(line + b"\n")
    return path


def _db(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url, make_engine(url)


def write_session(db, plan, scores):
    """What score-corpus does after a session: its session events and new scores in one transaction."""
    write_in_one_transaction(db, [*plan.session_events, *scores])


def _score(sid, phase, identity=IDENTITY):
    return ev.score(sid, "c-x", phase, 3.0, 3.0, 3.0).model_copy(update={"model": identity})


def test_a_resumed_run_only_scores_what_is_not_stored_for_this_model(tmp_path):
    corpus = load_corpus([str(_write(tmp_path / "c.jsonl", "s-a", "s-b"))])
    assert [p.session_id for p in corpus.plans] == ["s-a", "s-b"] and not corpus.bad
    _url, db = _db(tmp_path)
    plan_a = corpus.plans[0]
    write_session(db, plan_a, [_score("s-a", p) for p in ("early", "middle", "late")])
    write_session(db, corpus.plans[1], [_score("s-b", "early")])
    write_session(db, corpus.plans[1], [_score("s-b", "middle", IDENTITY.model_copy(update={"revision": "r2"}))])

    assert stored_request_ids(db, IDENTITY, ["s-a:early", "s-b:early", "s-b:middle"]) == {"s-a:early", "s-b:early"}
    stored = lambda ids: stored_request_ids(db, IDENTITY, ids)  # noqa: E731 - what score-corpus passes
    work = remaining_work(corpus.plans, stored)
    assert [(p.session_id, [r.phase for r in reqs], done) for p, reqs, done in work.todo] == \
           [("s-b", ["middle", "late"], ("early",))]  # another revision's middle does not count
    assert (work.requests, work.already_stored, work.sessions_already_stored) == (2, 4, 1)
    late = remaining_work(corpus.plans, stored, "late")
    assert [(p.session_id, [r.phase for r in reqs]) for p, reqs, _ in late.todo] == [("s-b", ["late"])]
    # the session rows the sink would write from chat.sessions are there too
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ChatSession)).scalar() == 2


def test_bad_lines_are_named_by_file_and_line_and_hold_back_their_session(tmp_path, capsys):
    bad_turn = (b'{"session_id": "s-bad", "turn_id": 3, "speaker": "nobody", "text": "x", '
                b'"sent_at": "2026-03-02T09:01:00Z", "counselor_id": "c-x"}')
    path = _write(tmp_path / "c.jsonl", extra=[
        encode(session_events("s-bad", "c-x", "g-x", T)[0]), bad_turn, b"{not json"])
    url, db = _db(tmp_path)
    code = main(["score-corpus", str(path), "--db", url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"rejected {path}:2: ChatTurn.speaker" in err
    assert f"rejected {path}:3: not valid JSON" in err
    assert f"held back session s-bad: bad line(s) at {path}:2" in err
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Prediction)).scalar() == 0


def test_a_missing_file_is_one_line_and_exit_2(capsys):
    assert main(["score-corpus", "/nonexistent/corpus.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "alliance-monitor: no such file: /nonexistent/corpus.jsonl"


def test_a_bad_option_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["score-corpus", "x.jsonl", "--phases", "middle"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and len(err.strip().splitlines()) == 1
