"""Turn-level counselor feedback through the gateway: a model output, gated like an alert."""

from __future__ import annotations

import orjson
import pytest

from gateway.policy import Policy
from gateway.visibility import feedback_is_gated
from scoring.turn_features import decide, features, quote_of
from streams.contracts import CounselorFeedback, ModelIdentity
from tests.gateway import events as ev
from tests.gateway.conftest import (
    collect_until,
    counselor_token,
    events_of,
    open_client,
    publish,
    supervisor_token,
    until_known,
)

RATINGS = {"empathy": 1.6, "relevance": 2.0, "conciseness": 2.4, "safety": 3.1, "self_exploration": 1.8,
           "autonomy": 1.5, "change_stage": 2.2, "passive_response": 2.0, "boundary_overstepping": 3.9}


def feedback(sid: str, cid: str, turn_id: int, text: str, *, validated: bool = False, lang: str = "en",
             phase: str = "middle", ratings: dict | None = None) -> CounselorFeedback:
    """A feedback record as the scoring worker builds it, for a given counselor turn and ratings."""
    RATINGS = {**globals()["RATINGS"], **(ratings or {})}  # noqa: N806
    f = features(text)
    d = decide(RATINGS, f, text, lang)
    return CounselorFeedback(
        feedback_id=f"{sid}:{phase}:t{turn_id}", session_id=sid, counselor_id=cid, phase=phase, turn_id=turn_id,  # type: ignore[arg-type]  # phase: a str test parameter
        lang=lang, quote=quote_of(text), principles={k: v for k, v in RATINGS.items() if k not in (  # type: ignore[arg-type]  # lang, keys: strs
            "passive_response", "boundary_overstepping")},
        patterns={"passive_response": RATINGS["passive_response"],
                  "boundary_overstepping": RATINGS["boundary_overstepping"]},
        features=f.as_dict(), pattern=d.pattern, pattern_source=d.pattern_source, principle=d.principle,  # type: ignore[arg-type]  # RATINGS is a plain dict
        next_move=d.next_move, model=ModelIdentity(name="smollm2-135m-demo", prompt_version="turn-feedback-v1"),
        validated=validated)


def test_feedback_is_gated_unless_validated():
    data = feedback("s", "c", 27, "You should try it again.").model_dump(mode="json")
    assert feedback_is_gated(data, Policy()) and not feedback_is_gated(data, Policy(unvalidated_to_counselors=True))
    assert not feedback_is_gated({**data, "validated": True}, Policy())


@pytest.mark.integration
async def test_unvalidated_feedback_reaches_supervisors_only(gateway, kafka_bootstrap, unique):
    s, cid, grp = f"fs-{unique}", f"fc-{unique}", f"fg-{unique}"
    counselor = await open_client(gateway, counselor_token(cid))
    sup = await open_client(gateway, supervisor_token(grp))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gateway, s)
    await publish(kafka_bootstrap, "alliance.feedback",
                  feedback(s, cid, 27, "You should try it again, with your phone in another room."),
                  feedback(s, cid, 29, "Which exam is first?", validated=True))
    sup_msgs = await collect_until(sup, lambda ms: len(events_of(ms, s, "feedback")) == 2)
    last = events_of(sup_msgs, s, "feedback")[-1]["summary"]["feedback"]
    assert [(f["turn_id"], f["validated"]) for f in last] == [(27, False), (29, True)]
    assert last[0]["pattern"] == "boundary_overstepping" and "You should try it again" in last[0]["next_move"]

    c_msgs = await collect_until(counselor, lambda ms: len(events_of(ms, s, "feedback")) >= 1)
    await counselor.send(orjson.dumps({"type": "ping"}).decode())
    c_msgs += await collect_until(counselor, lambda ms: any(m.get("type") == "pong" for m in ms))
    seen = events_of(c_msgs, s, "feedback")
    assert [m["data"]["turn_id"] for m in seen] == [29]
    assert [f["turn_id"] for f in seen[-1]["summary"]["feedback"]] == [29]
    await counselor.close()
    await sup.close()


@pytest.mark.integration
async def test_the_board_lists_a_trained_detector_a_scorer_serves(make_gateway, kafka_bootstrap, unique):
    """A card whose directive was answered by a trained detector (``score --turn-detector``): the supervisor's
    detector table lists that detector with its identity and each code's state from its own record; the
    counselor's summary carries no table."""
    from tests.validation.test_detector_feedback_gate import TRAINED, _record
    from validation.detectors import COUNSELOR_WORDS
    from validation.records import RecordBook

    book = RecordBook([_record(TRAINED.identity, {"directive": True, "reflection": False})])
    gw = await make_gateway(Policy(record_book=book))
    s, cid, grp = f"fd-{unique}", f"fdc-{unique}", f"fdg-{unique}"
    counselor = await open_client(gw, counselor_token(cid))
    sup = await open_client(gw, supervisor_token(grp))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gw, s)
    card = feedback(s, cid, 31, "Write the exams down before bed tonight.")
    answered = {c: TRAINED.key if c in ("reflection", "directive") else COUNSELOR_WORDS.key for c in card.features}
    await publish(kafka_bootstrap, "alliance.feedback",
                  card.model_copy(update={"feature_detectors": answered, "features": {**card.features,
                                                                                     "directive": True}}))
    msgs = await collect_until(sup, lambda ms: len(events_of(ms, s, "feedback")) == 1)
    table = {d["detector"]: d for d in events_of(msgs, s, "feedback")[-1]["summary"]["detectors"]}
    trained = table[TRAINED.key]
    assert trained["kind"] == "trained" and trained["codes"] == {"reflection": "unvalidated", "directive": "validated"}
    assert trained["identity"] == f"trained.counselor-words@{TRAINED.version}:trained/expected"
    assert set(table) == {"process-signals@2", "rupture-markers@2", COUNSELOR_WORDS.key, TRAINED.key}
    assert set(table[COUNSELOR_WORDS.key]["codes"].values()) == {"unvalidated"}
    # the counselor: the card is unvalidated (supervisors only), and no table rides on their summaries
    await publish(kafka_bootstrap, "alliance.feedback", feedback(s, cid, 33, "Which exam is first?", validated=True))
    c_msgs = await collect_until(counselor, lambda ms: len(events_of(ms, s, "feedback")) >= 1)
    assert [m["data"]["turn_id"] for m in events_of(c_msgs, s, "feedback")] == [33]
    assert events_of(c_msgs, s, "feedback")[-1]["summary"]["detectors"] == []
    await counselor.close()
    await sup.close()
