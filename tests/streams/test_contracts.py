"""Every contract round-trips through orjson; every invalid field is rejected by name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pydantic
import pytest

from streams.codec import decode, encode, validate
from streams.contracts import (
    CONTRACTS,
    MAX_TEXT_BYTES,
    AccessEvent,
    AlertAck,
    AllianceAlert,
    AllianceScore,
    ChatTurn,
    ClientRating,
    CounselorFeedback,
    DeadLetter,
    DimensionScore,
    Evidence,
    ItemScore,
    ModelDrop,
    ModelIdentity,
    ProcessSignal,
    Quote,
    RuptureEpisode,
    RuptureMarker,
    ScoreRequest,
    SessionEvent,
    SurveyLink,
    TranscriptLine,
)
from streams.errors import ContractError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def make_turn(**over) -> dict:
    base = {
        "session_id": "s-1",
        "turn_id": 3,
        "speaker": "client",
        "text": "I keep waking up at 4am.",
        "sent_at": "2026-03-02T09:05:00Z",
        "counselor_id": "c-anna",
        "lang": "en",
    }
    base.update(over)
    return base


def items(dim_scores=(4.0, 3.0, 2.0)) -> list[ItemScore]:
    out = []
    for i in range(12):
        dim = ("goal", "approach", "bond")[i // 4]
        out.append(
            ItemScore(
                item_id=f"Q{i + 1}",
                dimension=dim,
                expected=dim_scores[i // 4],
                probs=[0.1, 0.2, 0.4, 0.2, 0.1],
                rationale='Reason: "waking up at 4am"',
                quotes=[Quote(text="waking up at 4am", verified=True)],
            )
        )
    return out


EXAMPLES = [
    ChatTurn.model_validate(make_turn()),
    ChatTurn.model_validate(make_turn(text="我最近总是睡不好。", lang="zh", speaker="counselor")),
    SessionEvent(session_id="s-1", kind="started", at=T0, counselor_id="c-anna", group="g-north"),
    SessionEvent(session_id="s-1", kind="ended", at=T0 + timedelta(minutes=50), counselor_id="c-anna",
                 planned_minutes=45.5),
    ScoreRequest(
        request_id="s-1:early", session_id="s-1", counselor_id="c-anna", phase="early", upto_turn_id=1,
        transcript=[TranscriptLine(turn_id=0, speaker="counselor", text="Hi"),
                    TranscriptLine(turn_id=1, speaker="client", text="Hello")],
        lang="en", created_at=T0,
    ),
    AllianceScore(
        request_id="s-1:middle", session_id="s-1", counselor_id="c-anna", phase="middle", upto_turn_id=20,
        items=items(),
        dimensions={d: DimensionScore(score=s, spread=0.3) for d, s in zip(("goal", "approach", "bond"), (4, 3, 2), strict=True)},
        model=ModelIdentity(name="smollm2-135m", revision="gguf-q8", prompt_version="v1", readout="expected"),
        prompt_tokens=1290, cached_tokens=1152, latency_ms=812.5, scored_at=T0,
    ),
    ProcessSignal(session_id="s-1", counselor_id="c-anna", at=T0, upto_turn_id=7, phase="early", elapsed_s=300,
                  client_length_ratio=0.4, client_latency_s=35.0, client_idle_s=12.0, question_streak=4,
                  directive_density=0.5, minimal_response_rate=0.6, flags=["withdrawal", "rushing"]),
    AllianceAlert(
        alert_id="s-1:middle:bond:drop", session_id="s-1", counselor_id="c-anna", dimension="bond", kind="drop",
        severity="warning", previous=4.1, current=3.2, phase="middle", message="Bond dropped",
        evidence=[Evidence(item_id="Q9", dimension="bond", previous=4.2, current=3.0, delta=-1.2,
                           rationale="r", quotes=[Quote(text="ok", verified=True)])],
        model="smollm2-135m", created_at=T0,
    ),
    AlertAck(alert_id="s-1:middle:bond:drop", session_id="s-1", by="supervisor g-north", role="supervisor",
             note="calling the counselor", at=T0),
    ClientRating(rating_id="survey:abc", session_id="s-1", instrument="wai-sr", answers={f"Q{i}": 4 for i in range(1, 13)},
                 lang="en", submitted_at=T0, source="survey", link_id="abc"),
    SurveyLink(link_id="abc", session_id="s-1", url="https://gw.example.org/survey#t=x.y", lang="zh",
               expires_at=T0 + timedelta(hours=72), created_at=T0),
    RuptureEpisode(
        episode_id="s-1:rupture:1", session_id="s-1", counselor_id="c-anna", version=3, kind="confrontation",
        status="repaired", closed=True, sources=["markers", "model"], phase="middle", opened_at=T0,
        opened_turn_id=17, markers=[RuptureMarker(turn_id=17, speaker="client", family="confrontation", cue="criticism")],
        repair_moves=[RuptureMarker(turn_id=19, speaker="counselor", family="repair", cue="acknowledging")],
        reengaged_turn_id=20, closed_at=T0 + timedelta(minutes=3),
        model_drop=ModelDrop(alert_id="s-1:middle:bond:drop", dimension="bond", phase="middle", previous=4.1,
                             current=3.2, model="smollm2-135m"),
        at=T0 + timedelta(minutes=3),
    ),
    CounselorFeedback(
        feedback_id="s-1:middle:t27", session_id="s-1", counselor_id="c-anna", phase="middle", turn_id=27,
        quote="You should try it again.", principles={"empathy": 1.6, "autonomy": 1.4}, patterns={
            "passive_response": 1.5, "boundary_overstepping": 4.1}, features={"directive": True},
        pattern="boundary_overstepping", pattern_source="features", principle="autonomy",
        next_move='Hand the choice back: instead of "You should try it again.", ask "What feels doable to you?"',
        model=ModelIdentity(name="smollm2-135m", prompt_version="turn-feedback-v1"), created_at=T0,
    ),
    DeadLetter(source_topic="chat.turns", reason="ChatTurn.text: must not be empty", raw='{"x":1}', key="s-1",
               partition=0, offset=12, at=T0),
    AccessEvent(event_id="gw-1:3:7", action="timeline", viewer="Dr Ack", role="supervisor", scope="g-north",
                key_id="k2026", token_id="j-1", session_ids=["s-1"], sessions_shown=1, replica="gw-1", at=T0),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_orjson(event):
    raw = encode(event)
    assert isinstance(raw, bytes)
    back = decode(type(event), raw)
    assert back == event
    # the wire form is plain JSON with UTC timestamps
    data = orjson.loads(raw)
    for value in data.values():
        if isinstance(value, str) and value.startswith("2026-"):
            assert value.endswith("Z")


def test_every_contract_has_an_example():
    assert {type(e).__name__ for e in EXAMPLES} == set(CONTRACTS)


def test_timestamps_are_normalised_to_utc():
    turn = ChatTurn.model_validate(make_turn(sent_at="2026-03-02T17:05:00+08:00"))
    assert turn.sent_at == datetime(2026, 3, 2, 9, 5, tzinfo=timezone.utc)
    assert turn.sent_at.tzinfo == timezone.utc


INVALID = [
    ({"speaker": "therapist"}, "ChatTurn.speaker"),
    ({"text": ""}, "ChatTurn.text"),
    ({"text": "   \n"}, "ChatTurn.text"),
    ({"text": "x" * (MAX_TEXT_BYTES + 1)}, "ChatTurn.text"),
    ({"text": "睡" * (MAX_TEXT_BYTES // 3 + 1)}, "ChatTurn.text"),  # limit is bytes, not characters
    ({"sent_at": "2026-03-02T09:05:00"}, "ChatTurn.sent_at"),
    ({"sent_at": "yesterday"}, "ChatTurn.sent_at"),
    ({"session_id": ""}, "ChatTurn.session_id"),
    ({"session_id": None}, "ChatTurn.session_id"),
    ({"counselor_id": " c-anna"}, "ChatTurn.counselor_id"),
    ({"turn_id": -1}, "ChatTurn.turn_id"),
    ({"turn_id": "3"}, "ChatTurn.turn_id"),
    ({"lang": "fr"}, "ChatTurn.lang"),
    ({"colour": "blue"}, "ChatTurn.colour"),
]


@pytest.mark.parametrize("change,field", INVALID, ids=[f for _, f in INVALID])
def test_invalid_field_is_rejected_by_name(change, field):
    with pytest.raises(ContractError) as info:
        validate(ChatTurn, make_turn(**change))
    assert field in str(info.value)


@pytest.mark.parametrize("missing", ["session_id", "turn_id", "speaker", "text", "sent_at", "counselor_id"])
def test_missing_field_is_named(missing):
    data = make_turn()
    del data[missing]
    with pytest.raises(ContractError) as info:
        validate(ChatTurn, data)
    assert f"ChatTurn.{missing}: is required" in str(info.value)


def test_several_problems_are_all_reported():
    with pytest.raises(ContractError) as info:
        validate(ChatTurn, make_turn(speaker="bot", text="", sent_at="2026-03-02T09:05:00"))
    msg = str(info.value)
    for field in ("speaker", "text", "sent_at"):
        assert f"ChatTurn.{field}" in msg
    assert len(info.value.problems) == 3


def test_not_json_and_not_object():
    with pytest.raises(ContractError, match="not valid JSON"):
        decode(ChatTurn, b"{nope")
    with pytest.raises(ContractError, match="expected a JSON object"):
        decode(ChatTurn, b"[1, 2]")


def test_session_event_rules():
    ok = {"session_id": "s", "kind": "started", "at": "2026-03-02T09:00:00Z", "counselor_id": "c"}
    assert validate(SessionEvent, ok).planned_minutes == 50
    for change, field in [({"kind": "paused"}, "kind"), ({"planned_minutes": 0}, "planned_minutes"),
                          ({"at": "2026-03-02T09:00:00"}, "at")]:
        with pytest.raises(ContractError, match=f"SessionEvent.{field}"):
            validate(SessionEvent, {**ok, **change})


def test_request_id_must_be_session_and_phase():
    base = EXAMPLES[4].model_dump()
    with pytest.raises(ContractError, match="request_id must be 's-1:early'"):
        validate(ScoreRequest, {**base, "request_id": "s-1:late"})
    with pytest.raises(ContractError, match=r"ScoreRequest\.phase"):
        validate(ScoreRequest, {**base, "phase": "end"})


def test_score_probabilities_and_ranges():
    score = EXAMPLES[5].model_dump()
    bad_probs = [dict(i) for i in score["items"]]
    bad_probs[0]["probs"] = [0.5, 0.5, 0.5, 0.0, 0.0]
    with pytest.raises(ContractError, match=r"AllianceScore.items.0.probs: must sum to 1"):
        validate(AllianceScore, {**score, "items": bad_probs})
    out_of_scale = [dict(i) for i in score["items"]]
    out_of_scale[2]["expected"] = 5.5
    with pytest.raises(ContractError, match=r"AllianceScore.items.2.expected"):
        validate(AllianceScore, {**score, "items": out_of_scale})
    bad_item = [dict(i) for i in score["items"]]
    bad_item[0]["item_id"] = "Q13"
    with pytest.raises(ContractError, match=r"AllianceScore.items.0.item_id"):
        validate(AllianceScore, {**score, "items": bad_item})


def test_alert_enums():
    alert = EXAMPLES[7].model_dump()
    for field, value in [("kind", "spike"), ("severity", "panic"), ("dimension", "mood")]:
        with pytest.raises(ContractError, match=f"AllianceAlert.{field}"):
            validate(AllianceAlert, {**alert, field: value})


def test_contracts_are_immutable():
    turn = EXAMPLES[0]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        turn.text = "changed"  # type: ignore[misc]  # the point: assigning to a frozen model


def test_derived_ids_always_fit_and_stay_deterministic_and_distinct():
    from streams.contracts import MAX_ID_CHARS, derived_id, request_id_for

    short = request_id_for("s-1", "early")
    assert short == "s-1:early"  # ordinary ids are unchanged
    base = "s" * (MAX_ID_CHARS - 1)
    ids = {derived_id(base + c, "middle", "approach", "recovered") for c in "ab"}
    ids |= {request_id_for(base + c, p) for c in "ab" for p in ("early", "middle", "late")}
    assert len(ids) == 8 and all(len(i) <= MAX_ID_CHARS for i in ids)
    assert request_id_for(base + "a", "late") == request_id_for(base + "a", "late")
    assert request_id_for(base + "a", "late").endswith(":late")


def test_rupture_episode_rejects_an_inconsistent_record():
    base = next(e for e in EXAMPLES if isinstance(e, RuptureEpisode)).model_dump()
    with pytest.raises(ContractError, match="model_drop"):
        validate(RuptureEpisode, {**base, "model_drop": None})
    with pytest.raises(ContractError, match="closed"):
        validate(RuptureEpisode, {**base, "closed": False})
    with pytest.raises(ContractError, match="kind"):
        validate(RuptureEpisode, {**base, "kind": "sulking"})
