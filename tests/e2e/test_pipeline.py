"""A replayed session through every real part, and the same run under faults.

Parts: the embedded broker, ``alliance-monitor process`` (Faust), ``score`` (the
real tiny model through a real engine), ``sink`` (SQLAlchemy into a real
database), ``gateway`` (websockets) with real websocket clients. Nothing is faked;
the faults are real: SIGKILL, a worker that is simply not running, a PostgreSQL
database that refuses connections.

One pipeline serves the whole module (vLLM engine, PostgreSQL store): the fault runs
score the tiny random-weight model of the demo model's architecture (real vLLM code,
a fraction of the compute; what they prove holds for any weights), and the last test
swaps in the demo model for one run that shows its scores and alerts reach every part.

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


# --- one pipeline for the whole module -----------------------------------------------------------
#
# Every run below replays a fresh session id through the same broker, processor, scorer, sink and
# gateway (vLLM engine, PostgreSQL store): the engine loads once, and a fault test restarts only the
# part it faults. After each test the pipeline is put back (every part running, the store open),
# so a failing fault test cannot leave the next one a broken pipeline.


@pytest.fixture(scope="module")
def shared(tmp_path_factory, postgres_url, tiny_model):
    """The module's pipeline and an ``outage(on)`` switch for its PostgreSQL database."""
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

    pipeline = make_pipeline(tmp_path_factory.mktemp("pipeline"), url, model=tiny_model)
    try:
        yield pipeline, outage
    finally:
        pipeline.close()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pipeline(shared):
    """The shared pipeline, whole again after the test: store open, every part running."""
    p, outage = shared
    yield p
    outage(False)
    for name in p.children:
        if not p.running(name):
            p.start(name)
    p.wait_gateway()


def make_pipeline(tmp_path, db_url: str, engine: str = "vllm", *, model=None) -> Pipeline:
    p = Pipeline(tmp_path / "run", db_url=db_url, engine=engine, clock_rate=SPEED,
                 extra_env={"ALLIANCE_MODEL": str(model.path)} if model is not None else {})
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


# --- the undisturbed run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def undisturbed(shared):
    """One undisturbed run: what the fault runs must end in."""
    return run_session(shared[0])


def check_one_run(outcome: Outcome, scores: dict[str, AllianceScore], alerts: dict[str, AllianceAlert]) -> set[str]:
    """What every undisturbed run shows; returns the model (not process) alerts."""
    # predictions at three phases, from exactly three requests with growing transcripts
    assert sorted(outcome.scores) == ["early", "late", "middle"]
    assert sorted(outcome.requests) == sorted(set(outcome.requests)), "a duplicate ScoreRequest"
    assert {r.split(":")[1] for r in outcome.requests} == {"early", "middle", "late"}
    sid = next(iter(scores)).split(":")[0]
    uptos = [scores[f"{sid}:{p}"].upto_turn_id for p in PHASES]
    assert uptos == sorted(uptos) and uptos[0] >= 0
    # prefix caching did its job across the phases of one session (vLLM reports it)
    assert sum(s.cached_tokens for s in scores.values()) > 0
    # the alerts are exactly what the alert policy says for these scores (plus process alerts)
    model_alerts = {a for a, (dim, _, _) in outcome.alerts.items() if dim != "process"}
    assert {f"{sid}:{a}" for a in model_alerts} == expected_model_alerts(scores)
    assert any(dim == "process" for dim, _, _ in outcome.alerts.values()), "the rushed middle phase raised nothing"
    # delivery: the supervisor saw every alert; the counselor only ungated ones; a stranger nothing
    assert set(outcome.alerts) <= outcome.supervisor_alerts
    # process alerts too: a rule detector without a passing record of its own is gated like a model
    ungated = {a for a, _ in outcome.alerts.items() if alerts[f"{sid}:{a}"].validated}
    assert outcome.counselor_alerts == ungated
    assert outcome.stranger_events == 0
    # and the store holds the same
    assert outcome.store_session
    assert outcome.store_predictions == outcome.scores
    assert outcome.store_alerts == set(outcome.alerts)
    return model_alerts


def test_replayed_session_reaches_every_part(undisturbed):
    check_one_run(*undisturbed)


# --- faults: each must end where an undisturbed run ends --------------------------------------------


@pytest.fixture
def baseline(undisturbed) -> Outcome:
    return undisturbed[0]


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
    wait_until(lambda: _requests(pipeline, session_id), timeout=120, what="the early-phase request", every=0.5)


def _requests(pipeline: Pipeline, session_id: str) -> list[ScoreRequest]:
    return read_topic(pipeline.bootstrap, "alliance.requests", ScoreRequest, session_id=session_id)


def test_processor_killed_mid_session_and_restarted(pipeline, baseline):
    def fault(p: Pipeline, session_id: str) -> None:
        _after_first_request(p, session_id)
        p.kill("processor")
        time.sleep(3)
        p.start("processor")

    outcome, _, _ = run_session(pipeline, fault=fault)
    assert_same_final_state(outcome, baseline)


def test_scoring_worker_down_for_the_whole_session(pipeline, baseline):
    def fault(p: Pipeline, session_id: str) -> None:
        p.kill("scorer")
        # the session runs its course; its three requests wait in Kafka, nothing scores them
        wait_until(lambda: len(_requests(p, session_id)) == 3, timeout=180, what="all three requests",
                   pipeline=p, every=1)
        assert not _scores(p, session_id)
        p.start("scorer")

    outcome, _, _ = run_session(pipeline, fault=fault)
    assert_same_final_state(outcome, baseline)


def test_gateway_restarted_clients_resume_without_missing_an_alert(pipeline, baseline):
    def fault(p: Pipeline, session_id: str) -> None:
        _after_first_request(p, session_id)
        p.kill("gateway")
        time.sleep(5)
        p.start("gateway")
        p.wait_gateway()

    outcome, _, _ = run_session(pipeline, fault=fault)
    assert_same_final_state(outcome, baseline)


def test_store_down_then_back(shared, pipeline, baseline):
    _, outage = shared

    def fault(p: Pipeline, session_id: str) -> None:
        outage(True)
        # the whole session and its scoring happen while the database refuses connections
        wait_until(lambda: len(_scores(p, session_id)) == 3, timeout=SCORE_TIMEOUT, what="three phase scores",
                   pipeline=p, every=1)
        time.sleep(2)  # the alerts of the late score reach the sink too (it cannot write them)
        outage(False)

    outcome, _, _ = run_session(pipeline, fault=fault)
    assert_same_final_state(outcome, baseline)


# --- the demo model through the production engine (last: it swaps the module's scorer) -------------------


def test_the_demo_model_through_vllm_reaches_every_part_with_its_alerts(pipeline, demo_model):
    pipeline.kill("scorer")
    spec = pipeline.specs["scorer"]
    spec.env = {**spec.env, "ALLIANCE_MODEL": str(demo_model.path)}
    pipeline.start("scorer")
    outcome, scores, alerts = run_session(pipeline)
    assert {s.model.name for s in scores.values()} == {demo_model.name}
    # the demo model rates this session low (docs: it is a toy): its alerts go the whole way too
    assert check_one_run(outcome, scores, alerts), "the demo model raised no alert on this session"
