"""A replayed session through every real part, and the same run under faults.

Parts: the embedded broker, ``alliance-monitor process`` (Faust), ``score`` (the
real tiny model through a real engine), ``sink`` (SQLAlchemy into a real
database), ``gateway`` (websockets) with real websocket clients. Nothing is faked;
the faults are real: SIGKILL, a worker that is simply not running, a PostgreSQL
database that refuses connections.

"Final state" of a run = the phase scores per request id, the alert ids with
their kind and severity, the alert ids each viewer saw, and the rows in the
store. Every fault run must end in the final state of an undisturbed run.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.auth import issue_token
from store.db import make_engine
from store.repository import StoreRepository
from streams.alert_policy import SettingsBook, on_score
from streams.contracts import PHASES, AllianceAlert, AllianceScore, ScoreRequest
from streams.replay import ReplayEvent, publish
from tests.e2e.harness import SECRET, Pipeline, Viewer, now_utc, read_topic, session_events, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.model]

SPEED = 40.0  # the 12-minute session in 18 s of wall time
SCORE_TIMEOUT = float(os.environ.get("ALLIANCE_E2E_SCORE_TIMEOUT", "600"))


@dataclass
class Outcome:
    scores: dict[str, tuple[float, float, float]]
    requests: list[str]
    alerts: dict[str, tuple[str, str, str]]
    supervisor_alerts: set[str]
    counselor_alerts: set[str]
    stranger_events: int
    store_predictions: dict[str, tuple[float, float, float]]
    store_alerts: set[str]
    store_session: bool
    #: per phase, the turn ids of the scored transcript (equal transcripts => equal scores)
    transcripts: dict[str, list[int]] | None = None


def _replay(pipeline: Pipeline, session_id: str) -> threading.Thread:
    events = session_events(session_id, "c-e2e", "g-e2e", now_utc())
    topics = {"ChatTurn": "chat.turns", "SessionEvent": "chat.sessions"}
    replay = [ReplayEvent(topics[type(e).__name__], e, getattr(e, "sent_at", None) or e.at, "e2e", i)
              for i, e in enumerate(events)]
    t = threading.Thread(target=publish, args=(replay, pipeline.bootstrap), kwargs={"speed": SPEED, "progress": False},
                         daemon=True)
    t.start()
    return t


def _scores(pipeline: Pipeline, session_id: str) -> dict[str, AllianceScore]:
    out = {}
    for s in read_topic(pipeline.bootstrap, "alliance.scores", AllianceScore, session_id=session_id):
        out[s.request_id] = s
    return out


def _dims(s) -> tuple[float, float, float]:
    return tuple(round(float(s[d] if isinstance(s, dict) else s.dimensions[d].score), 2)
                 for d in ("goal", "approach", "bond"))


def run_session(pipeline: Pipeline, *, fault=None) -> tuple[Outcome, dict, dict]:
    """Replay the e2e session through the pipeline, apply ``fault`` mid-way, collect the final state."""
    session_id = f"e2e-{uuid.uuid4().hex[:8]}"
    secret = SECRET.encode()
    supervisor = Viewer(pipeline.ws_url, issue_token(secret, role="supervisor", groups=["g-e2e"]), "supervisor")
    counselor = Viewer(pipeline.ws_url, issue_token(secret, role="counselor", counselor_id="c-e2e"), "counselor")
    stranger = Viewer(pipeline.ws_url, issue_token(secret, role="counselor", counselor_id="c-other"), "stranger")
    try:
        wait_until(lambda: all(v.connects for v in (supervisor, counselor, stranger)), timeout=30,
                   what="websocket clients connected", every=0.2)
        replay = _replay(pipeline, session_id)
        if fault is not None:
            fault(pipeline, session_id)
        replay.join(120)
        scores = wait_until(lambda: (lambda s: s if len(s) == 3 else None)(_scores(pipeline, session_id)),
                            timeout=SCORE_TIMEOUT, what="three phase scores", pipeline=pipeline, every=2)
        # alerts follow scores; give the processor and the consumers a moment to settle
        time.sleep(3)
        alerts = {a.alert_id: a for a in read_topic(pipeline.bootstrap, "alliance.alerts", AllianceAlert,
                                                   session_id=session_id)}
        wait_until(lambda: set(alerts) <= supervisor.alert_ids(session_id), timeout=60,
                   what="every alert on the supervisor's websocket")
        repo = StoreRepository(make_engine(pipeline.db_url))
        wait_until(lambda: len(repo.phase_timeline(session_id)) == 3
                   and {a.alert["alert_id"] for a in repo.alerts_with_acks(session_id)} >= set(alerts),
                   timeout=120, what="predictions and alerts in the store", every=1)
        sent = read_topic(pipeline.bootstrap, "alliance.requests", ScoreRequest, session_id=session_id)
        requests = [r.request_id for r in sent]
        time.sleep(1)
        return Outcome(
            scores={rid.split(":")[1]: _dims(s) for rid, s in scores.items()},
            requests=requests,
            alerts={aid.split(":", 1)[1]: (a.dimension, a.kind, a.severity) for aid, a in alerts.items()},
            supervisor_alerts={a.split(":", 1)[1] for a in supervisor.alert_ids(session_id)},
            counselor_alerts={a.split(":", 1)[1] for a in counselor.alert_ids(session_id)},
            stranger_events=len([m for m in stranger.messages if m.get("session_id") == session_id]),
            store_predictions={p.phase: _dims(p.dimensions) for p in repo.phase_timeline(session_id)},
            store_alerts={a.alert["alert_id"].split(":", 1)[1] for a in repo.alerts_with_acks(session_id)},
            store_session=repo.session(session_id) is not None,
            transcripts={r.phase: [line.turn_id for line in r.transcript] for r in sent},
        ), scores, alerts
    finally:
        for v in (supervisor, counselor, stranger):
            v.close()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def pg_database(postgres_url):
    """A fresh PostgreSQL database for one pipeline run (dropped afterwards)."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"alliance_e2e_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    def outage(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if on else "true"}'))
            if on:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})

    yield url, outage
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_pipeline(tmp_path, db_url: str, engine: str = "vllm") -> Pipeline:
    p = Pipeline(tmp_path / "run", db_url=db_url, engine=engine, clock_rate=SPEED)
    p.start()
    p.wait_gateway()
    return p


def expected_model_alerts(scores: dict[str, AllianceScore]) -> set[str]:
    """What the pure AlertPolicy says these three scores should raise."""
    state = None
    ids: set[str] = set()
    book = SettingsBook.builtin()
    for phase in PHASES:
        score = next(s for s in scores.values() if s.phase == phase)
        decision = on_score(state, score, book.for_model(score.model.name), counselor_id="c-e2e")
        state = decision.state
        ids |= {a.alert_id for a in decision.alerts}
    return ids


# --- the undisturbed run, through the production engine ------------------------------------------


def test_replayed_session_reaches_every_part_with_vllm(tmp_path):
    pipeline = make_pipeline(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", engine="vllm")
    try:
        outcome, scores, alerts = run_session(pipeline)
    finally:
        pipeline.close()
    # predictions at three phases, from exactly three requests with growing transcripts
    assert sorted(outcome.scores) == ["early", "late", "middle"]
    assert sorted(outcome.requests) == sorted(set(outcome.requests)), "a duplicate ScoreRequest"
    assert {r.split(":")[1] for r in outcome.requests} == {"early", "middle", "late"}
    uptos = [scores[f"{next(iter(scores)).split(':')[0]}:{p}"].upto_turn_id for p in PHASES]
    assert uptos == sorted(uptos) and uptos[0] >= 0
    # prefix caching did its job across the phases of one session (vLLM reports it)
    assert sum(s.cached_tokens for s in scores.values()) > 0
    # the alerts are exactly what the alert policy says for these scores (plus process alerts)
    model_alerts = {a for a, (dim, _, _) in outcome.alerts.items() if dim != "process"}
    assert {f"{next(iter(scores)).split(':')[0]}:{a}" for a in model_alerts} == expected_model_alerts(scores)
    # delivery: the supervisor saw every alert; the counselor only ungated ones; a stranger nothing
    assert set(outcome.alerts) <= outcome.supervisor_alerts
    ungated = {a for a, (dim, _, _) in outcome.alerts.items()
               if dim == "process" or alerts[f"{next(iter(scores)).split(':')[0]}:{a}"].validated}
    assert outcome.counselor_alerts == ungated
    assert outcome.stranger_events == 0
    # and the store holds the same
    assert outcome.store_session
    assert outcome.store_predictions == outcome.scores
    assert outcome.store_alerts == set(outcome.alerts)


# --- faults: each must end where an undisturbed run ends --------------------------------------------


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, postgres_url):
    """One undisturbed run (vLLM engine, PostgreSQL store) to compare the fault runs with."""
    tmp = tmp_path_factory.mktemp("baseline")
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"alliance_e2e_base_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    pipeline = make_pipeline(tmp, url)
    try:
        outcome, _, _ = run_session(pipeline)
    finally:
        pipeline.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return outcome


def assert_same_final_state(outcome: Outcome, baseline: Outcome) -> None:
    assert outcome.scores.keys() == baseline.scores.keys()
    assert outcome.transcripts == baseline.transcripts, "a phase was scored on other turns than undisturbed"
    for phase, dims in baseline.scores.items():
        assert outcome.scores[phase] == pytest.approx(dims, abs=0.02), phase
    assert len(outcome.requests) == len(set(outcome.requests)) == 3, outcome.requests
    assert outcome.alerts == baseline.alerts
    assert outcome.supervisor_alerts == baseline.supervisor_alerts
    assert outcome.counselor_alerts == baseline.counselor_alerts
    assert outcome.stranger_events == 0
    assert outcome.store_predictions.keys() == baseline.store_predictions.keys()
    assert outcome.store_alerts == baseline.store_alerts
    assert outcome.store_session


def _after_first_request(pipeline: Pipeline, session_id: str) -> None:
    wait_until(lambda: read_topic(pipeline.bootstrap, "alliance.requests", ScoreRequest, session_id=session_id),
               timeout=120, what="the early-phase request", every=0.5)


def run_with_fault(tmp_path, db_url: str, fault) -> Outcome:
    pipeline = make_pipeline(tmp_path, db_url)
    try:
        outcome, _, _ = run_session(pipeline, fault=fault)
    finally:
        pipeline.close()
    return outcome


def test_processor_killed_mid_session_and_restarted(tmp_path, pg_database, baseline):
    def fault(p: Pipeline, session_id: str) -> None:
        _after_first_request(p, session_id)
        p.kill("processor")
        time.sleep(3)
        p.start("processor")

    assert_same_final_state(run_with_fault(tmp_path, pg_database[0], fault), baseline)


def test_scoring_worker_down_for_a_minute(tmp_path, pg_database, baseline):
    def fault(p: Pipeline, session_id: str) -> None:
        p.kill("scorer")
        time.sleep(60)  # the session runs on; its requests wait in Kafka
        assert not _scores(p, session_id)
        p.start("scorer")

    assert_same_final_state(run_with_fault(tmp_path, pg_database[0], fault), baseline)


def test_gateway_restarted_clients_resume_without_missing_an_alert(tmp_path, pg_database, baseline):
    def fault(p: Pipeline, session_id: str) -> None:
        _after_first_request(p, session_id)
        p.kill("gateway")
        time.sleep(5)
        p.start("gateway")
        p.wait_gateway()

    assert_same_final_state(run_with_fault(tmp_path, pg_database[0], fault), baseline)


def test_store_down_then_back(tmp_path, pg_database, baseline):
    url, outage = pg_database

    def fault(p: Pipeline, session_id: str) -> None:
        outage(True)
        time.sleep(40)  # the whole session and its scoring happen while the database refuses connections
        outage(False)

    assert_same_final_state(run_with_fault(tmp_path, url, fault), baseline)
