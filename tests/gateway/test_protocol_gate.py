"""The gate covers every model output a counselor could see, by every path (pure: the hub).

A counselor never receives an unvalidated dimension's score, item detail or
rationale: not in live events, not in event summaries, not in snapshots, not
on resume, not in a timeline. Supervisors receive all of it, marked
unvalidated. The per-dimension decision is validation.gate's.
"""

from __future__ import annotations

import orjson
import pytest

from gateway.client_messages import Hello
from gateway.history import MemoryHistory
from gateway.hub import Hub
from gateway.policy import Policy
from gateway.visibility import counselor_score
from streams.contracts import ModelIdentity
from tests.gateway import events as ev
from tests.gateway.test_protocol import ALICE, WARD, Feed, frames
from validation import synthetic
from validation.gate import withheld_from_counselors
from validation.records import RecordBook
from validation.verdict import GateSettings, evaluate

MODEL = ModelIdentity.model_validate(ev.score("x", "alice", "early", 4, 4, 4).model.model_dump())
_RECORD = None


def _bond_record():
    """A record for the events' model that passes bond only (signal beyond length in bond)."""
    global _RECORD
    if _RECORD is None:
        ds = synthetic.signal_in("bond")
        _RECORD = evaluate(MODEL, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=300))
        assert _RECORD.passed_dimensions() == ["bond"]
    return _RECORD


def _score_with_rationales(sid: str, phase: str, goal: float, approach: float, bond: float):
    s = ev.score(sid, "alice", phase, goal, approach, bond)
    items = [i.model_copy(update={"rationale": f"reason for {i.item_id}"}) for i in s.items]
    return s.model_copy(update={"items": items, "consistency": {"icc": 0.5}})


def _leaks(messages: list, dims: set[str]) -> list[str]:
    """Every place a withheld dimension's model output shows up in these frames."""
    found: list[str] = []

    def walk(x, path: str, parent: str) -> None:
        if isinstance(x, dict):
            if x.get("dimension") in dims and ("expected" in x or "rationale" in x):
                found.append(f"{path} (item {x.get('item_id')})")
            if parent in ("dimensions", "current", "change", "scores_phase"):
                found.extend(f"{path}.{k}" for k in x if k in dims)
            for k, v in x.items():
                walk(v, f"{path}.{k}", "scores_phase" if parent == "scores" else k)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]", parent)

    for i, m in enumerate(messages):
        walk(m, f"msg{i}", "")
    return found


def test_the_decision_is_the_gates_and_fails_closed():
    record = _bond_record()
    assert withheld_from_counselors(record, MODEL) == {"goal", "approach"}
    assert withheld_from_counselors(None, MODEL) == {"goal", "approach", "bond"}
    other = MODEL.model_copy(update={"revision": "another"})
    assert withheld_from_counselors(record, other) == {"goal", "approach", "bond"}
    assert withheld_from_counselors(None, MODEL, gate_enabled=False) == frozenset()


def test_counselor_score_drops_every_trace_of_a_withheld_dimension():
    data = _score_with_rationales("s1", "early", 4.0, 3.5, 2.5).model_dump(mode="json")
    out = counselor_score(data, frozenset({"goal", "approach"}))
    assert set(out["dimensions"]) == {"bond"}
    assert {i["dimension"] for i in out["items"]} == {"bond"}
    assert "consistency" not in out and out["withheld"] == ["approach", "goal"]
    assert counselor_score(data, frozenset()) is data
    assert len(data["items"]) == 12  # the stored event itself is untouched (supervisors get it whole)


@pytest.fixture
def gated():
    hub = Hub(MemoryHistory(), Policy(max_queue=500, record_book=RecordBook([_bond_record()])))
    return hub, Feed(hub)


def test_live_events_and_summaries(gated):
    hub, feed = gated
    counselor = hub.open(Hello(ALICE, None), server_time=0.0)
    supervisor = hub.open(Hello(WARD, None), server_time=0.0)
    feed("chat.sessions", "session", ev.started("s1", "alice", "ward"))
    feed("alliance.scores", "score", _score_with_rationales("s1", "early", 4.0, 3.5, 2.5))
    feed("alliance.scores", "score", _score_with_rationales("s1", "middle", 3.0, 3.0, 2.0))
    mine = frames(counselor, hub)
    assert not _leaks(mine, {"goal", "approach"}), _leaks(mine, {"goal", "approach"})
    last = [m for m in mine if m["type"] == "event"][-1]
    assert set(last["data"]["dimensions"]) == {"bond"}
    assert [i["rationale"] for i in last["data"]["items"]] == ["reason for Q9", "reason for Q10", "reason for Q11",
                                                               "reason for Q12"]
    assert last["summary"]["current"] == {"bond": 2.0} and last["summary"]["change"] == {"bond": -0.5}
    assert last["summary"]["validation"]["withheld"] == ["approach", "goal"]

    theirs = [m for m in frames(supervisor, hub) if m["type"] == "event"]
    assert set(theirs[-1]["data"]["dimensions"]) == {"goal", "approach", "bond"}
    assert len(theirs[-1]["data"]["items"]) == 12
    assert theirs[-1]["summary"]["current"] == {"goal": 3.0, "approach": 3.0, "bond": 2.0}
    assert theirs[-1]["summary"]["validation"]["unvalidated"] == ["approach", "goal"]  # marked on the board
    assert theirs[-1]["summary"]["validation"]["withheld"] == []


def test_snapshot_resume_and_timeline(gated):
    hub, feed = gated
    feed("chat.sessions", "session", ev.started("s1", "alice", "ward"))
    feed("alliance.scores", "score", _score_with_rationales("s1", "early", 4.0, 3.5, 2.5))
    first = hub.open(Hello(ALICE, None), server_time=0.0)
    snapshot = frames(first, hub)
    cursor = [m for m in snapshot if m["type"] == "snapshot"][0]["cursor"]
    feed("alliance.scores", "score", _score_with_rationales("s1", "middle", 3.0, 3.0, 2.0))
    resumed = hub.open(Hello(ALICE, cursor), server_time=1.0)
    missed = frames(resumed, hub)
    assert any(m["type"] == "resumed" and m["missed"] == 1 for m in missed)
    hub.handle(resumed, orjson.dumps({"type": "timeline", "session_id": "s1"}))
    timeline = [m for m in frames(resumed, hub) if m["type"] == "timeline"][0]
    assert [e["kind"] for e in timeline["events"]] == ["session", "score", "score"]
    for path, msgs in (("snapshot", snapshot), ("resume", missed), ("timeline", [timeline])):
        assert not _leaks(msgs, {"goal", "approach"}), (path, _leaks(msgs, {"goal", "approach"}))
    assert [s["current"] for s in snapshot[1]["sessions"]] == [{"bond": 2.5}]
    # and the same paths for a supervisor carry everything
    sup = hub.open(Hello(WARD, None), server_time=2.0)
    hub.handle(sup, orjson.dumps({"type": "timeline", "session_id": "s1"}))
    got = frames(sup, hub)
    assert got[1]["sessions"][0]["current"] == {"goal": 3.0, "approach": 3.0, "bond": 2.0}
    assert _leaks(got, {"goal", "approach"})  # the detector does see them when present


def test_no_record_withholds_every_dimension_and_the_setting_turns_the_gate_off():
    for policy, current in ((Policy(), {}), (Policy(unvalidated_to_counselors=True),
                                             {"goal": 4.0, "approach": 3.5, "bond": 2.5})):
        hub = Hub(MemoryHistory(), policy)
        feed = Feed(hub)
        conn = hub.open(Hello(ALICE, None), server_time=0.0)
        feed("chat.sessions", "session", ev.started("s1", "alice", "ward"))
        feed("alliance.scores", "score", _score_with_rationales("s1", "early", 4.0, 3.5, 2.5))
        last = [m for m in frames(conn, hub) if m["type"] == "event"][-1]
        assert last["summary"]["current"] == current
        assert len(last["data"]["items"]) == (12 if current else 0)


def test_a_record_that_becomes_passing_opens_the_next_scores(gated):
    hub, feed = gated
    hub.policy = Policy(max_queue=500, record_book=RecordBook())  # no record yet
    conn = hub.open(Hello(ALICE, None), server_time=0.0)
    feed("chat.sessions", "session", ev.started("s1", "alice", "ward"))
    feed("alliance.scores", "score", _score_with_rationales("s1", "early", 4.0, 3.5, 2.5))
    assert [m for m in frames(conn, hub) if m["type"] == "event"][-1]["summary"]["current"] == {}
    hub.policy = Policy(max_queue=500, record_book=RecordBook([_bond_record()]))  # the shell reloaded records
    feed("alliance.scores", "score", _score_with_rationales("s1", "middle", 3.0, 3.0, 2.0))
    last = [m for m in frames(conn, hub) if m["type"] == "event"][-1]
    assert set(last["data"]["dimensions"]) == {"bond"} and last["summary"]["current"] == {"bond": 2.0}
