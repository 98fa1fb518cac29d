"""One gate over every counselor-facing signal (issue 23): rule detectors are held to a model's bar.

A process-signal flag or a rupture episode opened by client markers reaches a
counselor only once the rule detector's own turn-level record passes the code it
rests on; until then supervisors get it, marked unvalidated. A site may open a
detector by setting (shown as "opened"). Pure: real records, the real hub.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from gateway.client_messages import Hello
from gateway.history import MemoryHistory
from gateway.hub import Hub
from gateway.policy import Policy
from streams.alert_policy import AlertSettings, on_signal_flags
from streams.contracts import RuptureEpisode, RuptureMarker
from tests.gateway import events as ev
from tests.gateway.test_protocol import ALICE, WARD, Feed, frames
from validation.detectors import (
    PROCESS_SIGNALS,
    RUPTURE_MARKERS,
    detector_passes,
    gate_episode,
    gate_process_alert,
    parse_opened,
    status_rows,
)
from validation.records import RecordBook
from validation.stats import Interval
from validation.turn_agreement import CodeAgreement, turn_record

DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def _agreement(code: str, passing: bool) -> CodeAgreement:
    low = 0.55 if passing else 0.10
    return CodeAgreement(code, "binary", "kappa", 200, 20, 40, low + 0.1, Interval(low, low + 0.2, 0.95, 500), 0.05,
                         Interval(-0.1, 0.2, 0.95, 500), Interval(0.2, 0.5, 0.95, 500) if passing
                         else Interval(-0.2, 0.3, 0.95, 500), None, 0, "agrees" if passing else "weak")


def _book(detector, passing: dict[str, bool]) -> RecordBook:
    record = turn_record(detector.identity, [_agreement(c, ok) for c, ok in passing.items()], labels_n=200,
                         labels_source="site-codes.jsonl", created_at=DAY)
    return RecordBook([record])


def _process_alert(flag: str, book: RecordBook | None):
    (alert,) = on_signal_flags(None, session_id="s1", counselor_id="alice", phase="early", flags=[flag],
                               figures={}, settings=AlertSettings()).alerts
    return gate_process_alert(alert, book)


def _episode(kind: str, book: RecordBook | None) -> RuptureEpisode:
    family = "confrontation" if kind == "confrontation" else "withdrawal"
    ep = RuptureEpisode(episode_id=f"s1:rupture:{kind}", session_id="s1", counselor_id="alice", version=1, kind=kind,
                        status="open", sources=["markers"], phase="middle", opened_at=ev.T0, opened_turn_id=9,
                        markers=[RuptureMarker(turn_id=9, speaker="client", family=family, cue="minimal")])
    return gate_episode(ep, book)


def _hub(policy: Policy) -> tuple[Hub, Feed, object, object]:
    hub = Hub(MemoryHistory(), policy)
    feed = Feed(hub)
    feed("chat.sessions", "session", ev.started("s1", "alice", "ward"))
    alice, ward = hub.open(Hello(ALICE, None), 0), hub.open(Hello(WARD, None), 0)
    frames(alice), frames(ward)
    return hub, feed, alice, ward


def test_no_detector_is_validated_on_a_new_site():
    assert all(row["status"] == "unvalidated" for row in status_rows(RecordBook()))
    assert not _process_alert("rushing", None).validated
    assert not _episode("withdrawal", RecordBook()).validated


def test_a_passing_record_validates_only_its_own_codes_and_identity():
    book = _book(PROCESS_SIGNALS, {"withdrawal": True, "rushing": False})
    assert detector_passes(book, PROCESS_SIGNALS, "withdrawal")
    assert not detector_passes(book, PROCESS_SIGNALS, "rushing")
    assert not detector_passes(book, PROCESS_SIGNALS, "idle")  # not evaluated: closed
    assert not detector_passes(book, RUPTURE_MARKERS, "withdrawal")  # another detector's record
    assert _process_alert("withdrawal", book).validated and not _process_alert("rushing", book).validated
    markers = _book(RUPTURE_MARKERS, {"withdrawal": True, "confrontation": False})
    assert _episode("withdrawal", markers).validated
    assert not _episode("confrontation", markers).validated
    assert not _episode("mixed", markers).validated  # a mixed episode rests on both families


def test_unvalidated_detector_notices_reach_supervisors_only():
    hub, feed, alice, ward = _hub(Policy())
    feed("alliance.alerts", "alert", _process_alert("rushing", None))
    feed("alliance.ruptures", "rupture", _episode("withdrawal", None))
    sup = frames(ward)
    assert [m["kind"] for m in sup] == ["alert", "rupture"]
    assert sup[0]["data"]["gate"] == "unvalidated" and sup[1]["data"]["gate"] == "unvalidated"
    assert frames(alice) == []
    summary = hub.sessions["s1"].summary(hub.policy, for_counselor=True)
    assert summary["alerts"] == [] and summary["ruptures"] == []


def test_validated_detector_notices_reach_the_counselor():
    book = RecordBook([*_book(PROCESS_SIGNALS, {"rushing": True}), *_book(RUPTURE_MARKERS, {"withdrawal": True})])
    _, feed, alice, ward = _hub(Policy(record_book=book))
    feed("alliance.alerts", "alert", _process_alert("rushing", book))
    feed("alliance.ruptures", "rupture", _episode("withdrawal", book))
    got = frames(alice)
    assert [(m["kind"], m["data"]["gate"]) for m in got] == [("alert", "validated"), ("rupture", "validated")]
    assert len(frames(ward)) == 2


def test_a_site_may_open_a_detector_by_setting_and_the_board_shows_it():
    policy = Policy(opened_detectors=parse_opened(["process-signals:withdrawal", "rupture-markers"]))
    _, feed, alice, ward = _hub(policy)
    feed("alliance.alerts", "alert", _process_alert("withdrawal", None))
    feed("alliance.alerts", "alert", _process_alert("rushing", None))  # not opened: stays with supervisors
    feed("alliance.ruptures", "rupture", _episode("confrontation", None))
    got = frames(alice)
    assert [(m["kind"], m["data"]["gate"]) for m in got] == [("alert", "opened"), ("rupture", "opened")]
    assert got[0]["data"]["signal"] == "withdrawal"
    board = frames(ward)[-1]["summary"]
    assert board["opened_detectors"] == ["process-signals:withdrawal", "rupture-markers"]
    assert {a["signal"]: a["gate"] for a in board["alerts"]} == {"withdrawal": "opened", "rushing": "unvalidated"}


@pytest.mark.parametrize("spec, problem", [("process-signal", "can be opened"), ("process-signals:bond", "no code"),
                                           ("counselor-words", "can be opened")])
def test_opening_names_a_known_detector_and_code(spec, problem):
    with pytest.raises(ValueError, match=problem):
        parse_opened([spec])


# --- risk from validated signals ------------------------------------------------------------------------


def _ranked(policy: Policy) -> list[dict]:
    """A board of three sessions: 'steady' with an unvalidated model's low, falling bond (and its unvalidated
    'bond low' alert), 'flagged' with an unvalidated process flag, 'quiet' with nothing."""
    hub = Hub(MemoryHistory(), policy)
    feed = Feed(hub)
    for sid in ("steady", "flagged", "quiet"):
        feed("chat.sessions", "session", ev.started(sid, "alice", "ward"))
    feed("alliance.scores", "score", ev.score("steady", "alice", "early", 4.2, 4.0, 4.0))
    feed("alliance.scores", "score", ev.score("steady", "alice", "middle", 2.0, 4.0, 2.0))
    feed("alliance.alerts", "alert", ev.alert("steady:middle:bond:low", "steady", "alice", validated=False,
                                              kind="low", severity="critical"))
    feed("alliance.signals", "signal", ev.signal("flagged", "alice", flags=("rushing",)))
    feed("alliance.alerts", "alert", _process_alert("rushing", policy.record_book).model_copy(
        update={"session_id": "flagged", "alert_id": "flagged:early:process:rushing"}))
    conn = hub.open(Hello(WARD, None), 0)
    return frames(conn)[1]["sessions"]


def test_unvalidated_signals_show_beside_the_risk_without_moving_the_ranking():
    board = {s["session_id"]: s for s in _ranked(Policy())}
    assert [board[s]["risk"] for s in ("steady", "flagged", "quiet")] == [0, 0, 0]
    assert board["steady"]["risk_unvalidated"] > 100 and board["flagged"]["risk_unvalidated"] > 0
    assert board["quiet"]["risk_unvalidated"] == 0
    assert board["steady"]["falling"] is False and board["steady"]["falling_unvalidated"] is True
    assert board["steady"]["alerts"][0]["gate"] == "unvalidated"  # still shown to the supervisor, marked


def test_validated_signals_rank_the_board():
    from tests.gateway.test_protocol_gate import MODEL
    from validation import synthetic
    from validation.verdict import GateSettings, evaluate

    ds = synthetic.signal_in("bond")
    bond = evaluate(MODEL, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=300))
    book = RecordBook([bond, *_book(PROCESS_SIGNALS, {"rushing": True})])
    ranked = _ranked(Policy(record_book=book))
    assert [s["session_id"] for s in ranked] == ["steady", "flagged", "quiet"]
    steady = ranked[0]
    assert steady["falling"] is True  # bond passed: its fall counts
    assert steady["risk"] == pytest.approx((3.5 - 2.0) * 10 + 2.0 * 20)  # bond only: goal is not validated
    assert ranked[1]["risk"] > 0 and ranked[1]["risk_unvalidated"] == 0


def test_the_board_marks_unvalidated_flags_and_the_panel_says_which_rules_are_withheld():
    policy = Policy(record_book=_book(PROCESS_SIGNALS, {"rushing": True}),
                    opened_detectors=parse_opened(["process-signals:idle"]))
    hub, feed, _alice, _ward = _hub(policy)
    feed("alliance.signals", "signal", ev.signal("s1", "alice", flags=("rushing", "idle", "withdrawal")))
    state = hub.sessions["s1"]
    board = state.summary(policy, for_counselor=False)
    assert board["signal_gate"] == {"rushing": "validated", "idle": "opened", "withdrawal": "unvalidated"}
    assert board["rules_withheld"] == []
    assert state.summary(policy, for_counselor=True)["rules_withheld"] == ["process-signals", "rupture-markers"]
    assert state.summary(Policy(unvalidated_to_counselors=True), for_counselor=True)["rules_withheld"] == []


def test_a_snapshot_computes_the_policy_wide_fields_once_and_says_the_same_as_each_sessions_summary():
    """The snapshot hoists rules_withheld and opened_detectors out of the per-session loop (bench/gateway_resume.py):
    what each viewer receives must equal the session's own summary, for a counselor and for a supervisor."""
    policy = Policy(record_book=_book(PROCESS_SIGNALS, {"rushing": True}),
                    opened_detectors=parse_opened(["process-signals:idle"]))
    hub, feed, _alice, _ward = _hub(policy)
    feed("chat.sessions", "session", ev.started("s2", "alice", "ward"))
    for sid in ("s1", "s2"):
        feed("alliance.signals", "signal", ev.signal(sid, "alice", flags=("rushing", "idle")))
    for viewer, counselor in ((ALICE, True), (WARD, False)):
        snapshot = next(f for f in frames(hub.open(Hello(viewer, None), 0)) if f["type"] == "snapshot")
        got = {s["session_id"]: s for s in snapshot["sessions"]}
        assert set(got) == {"s1", "s2"}
        for sid, shown in got.items():
            assert shown == orjson.loads(orjson.dumps(hub.sessions[sid].summary(policy, counselor)))
        assert shown["rules_withheld"] == (["process-signals", "rupture-markers"] if counselor else [])


def test_the_detector_table_follows_the_feedback_and_a_reloaded_record_book():
    """The supervisor summary's detector table: a trained detector appears once a card names it, and its
    state follows the record book the gateway reloads (a new book object); a counselor gets no table."""
    import dataclasses

    from tests.gateway.test_feedback_gateway import feedback
    from tests.validation.test_detector_feedback_gate import TRAINED
    from validation.detectors import COUNSELOR_WORDS

    hub, feed, _alice, _ward = _hub(Policy())
    state = hub.sessions["s1"]
    assert [d["detector"] for d in state.summary(hub.policy, False)["detectors"]] == [
        "process-signals@2", "rupture-markers@2", COUNSELOR_WORDS.key]
    card = feedback("s1", "alice", 7, "Write the exams down before bed tonight.")
    answered = {c: TRAINED.key if c == "directive" else COUNSELOR_WORDS.key for c in card.features}
    feed("alliance.feedback", "feedback", card.model_copy(update={"feature_detectors": answered}))
    table = {d["detector"]: d for d in state.summary(hub.policy, False)["detectors"]}
    assert table[TRAINED.key]["codes"] == {"directive": "unvalidated"}
    hub.policy = dataclasses.replace(hub.policy, record_book=_book(TRAINED, {"directive": True}))
    table = {d["detector"]: d for d in state.summary(hub.policy, False)["detectors"]}
    assert table[TRAINED.key]["codes"] == {"directive": "validated"}
    assert state.summary(hub.policy, True)["detectors"] == []


def test_an_episode_a_served_detector_opened_is_judged_on_that_detectors_record():
    from validation.detectors import detector_of_key, opened_episode

    key = "trained.rupture-markers@0123456789ab"
    trained = detector_of_key(key, ("confrontation",))
    rules_pass = _book(RUPTURE_MARKERS, {"withdrawal": True, "confrontation": True})
    ep = RuptureEpisode(episode_id="s1:rupture:1", session_id="s1", counselor_id="alice", version=1,
                        kind="confrontation", status="open", sources=["markers"], phase="middle", opened_at=ev.T0,
                        opened_turn_id=9, markers=[RuptureMarker(turn_id=9, speaker="client", family="confrontation",
                                                                 cue="trained")],
                        marker_detectors={"confrontation": key})
    assert not gate_episode(ep, rules_pass).validated  # the rules' record does not speak for the trained detector
    assert not opened_episode(ep, parse_opened(["rupture-markers"]))  # opening the rules does not open it
    assert gate_episode(ep, _book(trained, {"confrontation": True})).validated
    assert not gate_episode(ep, _book(trained, {"confrontation": False})).validated
    assert gate_episode(ep.model_copy(update={"marker_detectors": {}}), rules_pass).validated  # the rules'
    mixed = ep.model_copy(update={"kind": "mixed"})  # withdrawal by the rules, confrontation by the trained one
    assert not gate_episode(mixed, _book(trained, {"confrontation": True})).validated
    both = RecordBook([*rules_pass, *_book(trained, {"confrontation": True})])
    assert gate_episode(mixed, both).validated
    # the board's detector table lists the trained detector an episode names, and the gate shown is its record's
    hub, feed, alice, ward = _hub(Policy(record_book=rules_pass))
    feed("alliance.ruptures", "rupture", gate_episode(ep, rules_pass))
    assert [m["data"]["gate"] for m in frames(ward)] == ["unvalidated"] and frames(alice) == []
    table = {d["detector"]: d for d in hub.sessions["s1"].summary(hub.policy, False)["detectors"]}
    assert table[key]["codes"] == {"confrontation": "unvalidated"}
