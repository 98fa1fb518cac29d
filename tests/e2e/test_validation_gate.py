"""The validation gate through the running processor and gateway (docs/validation.md).

Scores go into ``alliance.scores`` (the test plays the scoring worker's part);
the real ``alliance-monitor process`` applies the alert policy and the gate with
the validation records it reads from the store; the real gateway routes the
alerts and scores with the records it reads too; real websocket clients watch.
First the model has no record: its bond alert reaches the supervisor marked
unvalidated and never the counselor, and the counselor receives no score of any
dimension. Then a record that passes bond for that exact model identity is
written to the store: the same alert, for a second session, reaches the
counselor, and so do its bond scores — but still no goal or approach number.
"""

from __future__ import annotations

import time
import uuid

import pytest

from gateway.auth import issue_token
from store.db import make_engine, upgrade
from store.repository import StoreRepository
from streams.contracts import ModelIdentity
from tests.e2e.harness import SECRET, Pipeline, Viewer, wait_until
from tests.gateway import events as ev
from tests.kafka_helpers import produce
from validation import synthetic
from validation.verdict import GateSettings, evaluate

pytestmark = pytest.mark.integration

MODEL = ModelIdentity(name="care-style-8b", revision="r1", prompt_version="v1", readout="expected")


def _score(session_id: str, phase: str, bond: float):
    s = ev.score(session_id, "c-gate", phase, 4.2, 4.0, bond)
    return s.model_copy(update={"model": MODEL})


def _feed_bond_drop(pipeline: Pipeline, session_id: str) -> None:
    produce(pipeline.bootstrap, "chat.sessions", [(session_id, ev.started(session_id, "c-gate", "g-gate"))])
    for phase, bond in (("early", 4.3), ("middle", 2.9)):
        produce(pipeline.bootstrap, "alliance.scores", [(session_id, _score(session_id, phase, bond))])


def _alerts(viewer: Viewer, session_id: str) -> list[dict]:
    return list(viewer.alerts(session_id).values())


def _both_phases(viewer: Viewer, session_id: str) -> dict | None:
    """The latest session summary this viewer got, once it holds the early and middle scores."""
    frames = [m for m in viewer.messages if m.get("type") == "event" and m.get("session_id") == session_id]
    summary = frames[-1].get("summary") if frames else None
    return summary if summary and {"early", "middle"} <= set(summary["scores"]) else None


def test_unvalidated_alerts_reach_supervisors_only_until_a_passing_record(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(db_url)
    pipeline = Pipeline(tmp_path / "run", db_url=db_url)
    pipeline.specs["processor"].argv += ["--records-reload", "1"]
    pipeline.specs["gateway"].argv += ["--records-reload", "1"]
    pipeline.start("processor", "gateway")
    pipeline.wait_gateway()
    secret = SECRET.encode()
    supervisor = Viewer(pipeline.ws_url, issue_token(secret, role="supervisor", groups=["g-gate"]), "supervisor")
    counselor = Viewer(pipeline.ws_url, issue_token(secret, role="counselor", counselor_id="c-gate"), "counselor")
    try:
        wait_until(lambda: supervisor.connects and counselor.connects, timeout=30, what="clients", every=0.2)

        # 1. no validation record: supervisors only, marked unvalidated
        first = f"gate-a-{uuid.uuid4().hex[:6]}"
        _feed_bond_drop(pipeline, first)
        alerts = wait_until(lambda: _alerts(supervisor, first), timeout=120, what="the bond alert (supervisor)",
                            pipeline=pipeline)
        assert [(a["dimension"], a["kind"], a["validated"]) for a in alerts] == [("bond", "drop", False)]
        wait_until(lambda: counselor.events(first, "score"), timeout=30, what="the scores on the counselor panel")
        time.sleep(2)
        assert _alerts(counselor, first) == [], "an unvalidated model's alert reached the counselor"
        summary = counselor.events(first, "score")[-1]["summary"]
        assert summary["validation"]["mode"] is True
        # ...and neither do its scores, item detail or rationales, of any dimension
        wait_until(lambda: len(counselor.events(first, "score")) == 2, timeout=30, what="both scores (counselor)")
        for e in counselor.events(first, "score"):
            assert e["data"]["dimensions"] == {} and e["data"]["items"] == [], "an unvalidated score reached the counselor"
            assert e["summary"]["current"] == {} and e["summary"]["scores"] in ({}, {"early": {}}, {"early": {}, "middle": {}})
        assert summary["validation"]["withheld"] == ["approach", "bond", "goal"]
        # Topics have no common order: a score can reach the gateway before ``started`` names the
        # session's group, and a group supervisor then sees it in the session summary, not as an event.
        sup_view = wait_until(lambda: _both_phases(supervisor, first), timeout=30, what="both scores (supervisor)")
        assert all(set(v) == {"goal", "approach", "bond"} for v in sup_view["scores"].values())
        assert sup_view["validation"]["unvalidated"] == ["approach", "bond", "goal"]
        for e in supervisor.events(first, "score"):
            assert set(e["data"]["dimensions"]) == {"goal", "approach", "bond"}

        # 2. a passing record for this exact model identity (bond signal beyond length)
        ds = synthetic.signal_in("bond")
        record = evaluate(MODEL, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=300),
                          labels_source="site-ratings.jsonl")
        assert record.passes("bond")
        assert StoreRepository(make_engine(db_url)).add_validation_record(record)
        time.sleep(3)  # the processor and the gateway re-read records every second here

        second = f"gate-b-{uuid.uuid4().hex[:6]}"
        _feed_bond_drop(pipeline, second)
        got = wait_until(lambda: _alerts(counselor, second), timeout=120, what="the bond alert (counselor)",
                         pipeline=pipeline)
        assert [(a["dimension"], a["kind"], a["validated"]) for a in got] == [("bond", "drop", True)]
        seen = wait_until(lambda: _alerts(supervisor, second), timeout=60, what="the bond alert (supervisor)")
        assert [a["validated"] for a in seen] == [True]
        # the next scores reach the counselor for bond, the validated dimension, and only for bond
        scores = wait_until(lambda: (lambda e: e if len(e) == 2 else None)(counselor.events(second, "score")),
                            timeout=30, what="both scores (counselor)")
        for e in scores:
            assert set(e["data"]["dimensions"]) == {"bond"}
            assert {i["dimension"] for i in e["data"]["items"]} == {"bond"}
        assert scores[-1]["summary"]["current"] == {"bond": 2.9}
        assert scores[-1]["summary"]["validation"]["withheld"] == ["approach", "goal"]
    finally:
        supervisor.close()
        counselor.close()
        pipeline.close()
