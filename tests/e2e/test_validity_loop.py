"""The whole validity loop, end to end: collect -> train -> score -> rate -> evaluate -> gate -> serve.

1. ``corpus synth`` writes a small SYNTHETIC labelled corpus (short sessions).
2. ``train --method head`` learns a read-out head on the oldest 70 % (a new model identity).
3. ``score-corpus --head`` scores the held-out 30 % (>= the gate's n = 50) into a SQLite store.
4. Their client ratings go to ``chat.ratings`` and the real sink writes them to the ratings table.
5. ``eval --from-store`` writes the head identity's validation record; it passes at least one
   dimension (the zero-shot model's record would not exist / not pass).
6. Live: the running processor, the scoring worker *with the head* and the gateway, real
   websocket clients. A held-out session whose offline head scores trigger an alert on a passing
   dimension is replayed: that alert is marked validated and reaches the counselor, and so do the
   passing dimension's scores. The same scores stamped with the zero-shot identity (no passing
   record), for another session, reach the supervisor only, marked unvalidated, with no number
   for the counselor.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from alliance_monitor.cli import main
from gateway.auth import issue_token
from scoring.head import load_head
from store.db import make_engine, upgrade
from store.eval import read_labels
from store.ratings import ratings
from store.repository import ModelKey, StoreRepository
from streams.alert_policy import AlertSettings
from streams.contracts import AllianceScore, ClientRating, ModelIdentity
from streams.replay import ReplayEvent, publish
from streams.replay_format import read_file
from streams.topics import RATINGS
from tests.e2e.harness import SECRET, Pipeline, Viewer, now_utc, read_topic, wait_until
from tests.kafka_helpers import produce
from training.dataset import from_files
from training.split import split_by_time

pytestmark = [pytest.mark.integration, pytest.mark.model]

SESSIONS = 172  # 30 % held out by time -> 52 >= the gate's minimum n of 50
EVAL_SHARE = 0.3
SPEED = 40.0


def _key(identity: ModelIdentity) -> str:
    return f"{identity.name}@{identity.revision}:{identity.prompt_version}/{identity.readout}"


def _write_sessions(src: Path, dst: Path, ids: set[str]) -> Path:
    """The replay lines (one session per line) of ``ids`` only: what a site would export."""
    keep = [line for line in src.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#") and json.loads(line)["session_id"] in ids]
    dst.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return dst


def _fires(scores: list[float], settings: AlertSettings) -> bool:
    """Would the alert policy fire on this phase sequence (a low level or a drop)? Precondition only."""
    prev = None
    for cur in scores:
        if cur < settings.low_fire or (prev is not None and prev - cur >= settings.drop_fire):
            return True
        prev = cur
    return False


def _alerts(viewer: Viewer, session_id: str) -> list[dict]:
    return list(viewer.alerts(session_id).values())


def test_train_score_rate_eval_then_the_head_alerts_reach_the_counselor(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("ALLIANCE_TRAINED_DIR", str(tmp_path / "trained"))
    # The loop's mechanics, not the demo model's knowledge, are under test: every step runs the real
    # transformers engine on the tiny random-weight model. Its hidden states are a random projection of
    # the words, which is enough for a head to find the synthetic corpus's cues and pass the gate.
    monkeypatch.setenv("ALLIANCE_MODEL", str(tiny_model.path))
    corpus, head_dir = tmp_path / "corpus", tmp_path / "head"
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(db_url)
    db = make_engine(db_url)
    repo = StoreRepository(db)

    # 1-2. synthetic corpus, head trained on the oldest 70 %
    assert main(["corpus", "synth", "--out", str(corpus), "--sessions", str(SESSIONS), "--seed", "5",
                 "--langs", "en"]) == 0
    assert main(["train", "--labels", str(corpus / "labels.jsonl"), "--sessions", str(corpus / "sessions.jsonl"),
                 "--method", "head", "--out", str(head_dir), "--eval-share", str(EVAL_SHARE), "--no-progress"]) == 0
    head_id = load_head(head_dir).identity()
    assert head_id.readout == "head" and "+head-" in head_id.revision

    labels = read_labels(corpus / "labels.jsonl")
    held = split_by_time(from_files(labels, [corpus / "sessions.jsonl"])[0], EVAL_SHARE).evaluation
    held_ids = {s.session_id for s in held}
    assert len(held_ids) >= 50
    held_file = _write_sessions(corpus / "sessions.jsonl", tmp_path / "held-out.jsonl", held_ids)

    # 3. the held-out sessions scored offline with the head, late phase (what eval reads)
    engine_args = ["--engine", "transformers", "--max-model-len", "4096", "--rationale", "none", "--no-progress"]
    assert main(["score-corpus", str(held_file), "--head", str(head_dir), "--phases", "late",
                 "--db", db_url, *engine_args]) == 0
    assert len(repo.predictions(ModelKey.parse(_key(head_id)), phase="late")) == len(held_ids)

    pipeline = Pipeline(tmp_path / "run", db_url=db_url, engine="transformers",
                        extra_env={"ALLIANCE_MODEL": str(tiny_model.path)})
    pipeline.specs["processor"].argv += ["--records-reload", "1"]
    pipeline.specs["gateway"].argv += ["--records-reload", "1"]
    pipeline.specs["scorer"].argv += ["--head", str(head_dir), "--no-calibration"]
    supervisor = counselor = None
    try:
        # 4. the clients' ratings through chat.ratings and the real sink
        pipeline.start("sink")
        at = now_utc()
        produce(pipeline.bootstrap, RATINGS.name, [
            (sid, ClientRating(rating_id=f"r-{sid}", session_id=sid, instrument="wai-sr",
                               answers={k: int(v) for k, v in labels[sid].items.items()}, lang="en",
                               submitted_at=at, source="platform"))
            for sid in sorted(held_ids)])
        wait_until(lambda: len(ratings(db, instrument="wai-sr")) == len(held_ids), timeout=120,
                   what="the ratings in the store", pipeline=pipeline)

        # 5. eval --from-store: the head identity's record
        assert main(["eval", "--from-store", "--db", db_url, "--model", _key(head_id), "--resamples", "1000"]) == 0
        record = repo.latest_record(head_id)
        assert record is not None and record.labels_n >= 50
        passing = record.passed_dimensions()
        assert passing, f"the head passes no dimension on held-out sessions: {record.dimensions}"
        assert repo.latest_record(ModelIdentity(name=head_id.name, revision=head_id.revision.split("+")[0])) is None

        # a held-out session whose head scores (every phase, offline = live cuts) fire on a passing dimension
        settings = AlertSettings()
        watched = [d for d in passing if d in settings.watched]
        assert watched, f"the head passes only {passing}, which the alert policy does not watch"
        by_late = sorted(repo.predictions(ModelKey.parse(_key(head_id)), phase="late"),
                         key=lambda p: min(p.dimensions[d] for d in watched))
        chosen = dim = None
        candidates = [p.session_id for p in by_late[:3]]
        # the three candidates' every phase in one run (one engine start), then the first that fires
        both = _write_sessions(corpus / "sessions.jsonl", tmp_path / "candidates.jsonl", set(candidates))
        assert main(["score-corpus", str(both), "--head", str(head_dir), "--phases", "all",
                     "--db", db_url, *engine_args]) == 0
        for cand in candidates:
            phases = {p.phase: p for p in repo.predictions(ModelKey.parse(_key(head_id))) if p.session_id == cand}
            for d in watched:
                if _fires([phases[ph].dimensions[d] for ph in ("early", "middle", "late")], settings):
                    chosen, dim = cand, d
                    break
            if chosen:
                break
        assert chosen, "no held-out session's head scores fire an alert on a passing dimension"
        _write_sessions(corpus / "sessions.jsonl", tmp_path / f"{chosen}.jsonl", {chosen})

        # 6. live: processor + scorer with the head + gateway, real websocket clients
        pipeline.start("processor", "scorer", "gateway")
        pipeline.wait_gateway()
        secret = SECRET.encode()
        supervisor = Viewer(pipeline.ws_url, issue_token(secret, role="supervisor", groups=["g-synthetic"]),
                            "supervisor")
        events, bad = read_file(tmp_path / f"{chosen}.jsonl")
        assert not bad
        counselor_id = next(e.event.counselor_id for e in events if getattr(e.event, "counselor_id", None))
        counselor = Viewer(pipeline.ws_url, issue_token(secret, role="counselor", counselor_id=counselor_id),
                           "counselor")
        wait_until(lambda: supervisor.connects and counselor.connects, timeout=30, what="clients", every=0.2)

        live = f"live-{uuid.uuid4().hex[:6]}"
        shift = now_utc() - min(e.at for e in events)
        replay = [ReplayEvent(e.topic, e.event.model_copy(update={
            "session_id": live, **{f: getattr(e.event, f) + shift for f in ("at", "sent_at")
                                   if getattr(e.event, f, None) is not None}}), e.at + shift, e.source, e.order)
                  for e in events]
        feeder = threading.Thread(target=publish, args=(replay, pipeline.bootstrap),
                                  kwargs={"speed": SPEED, "progress": False}, daemon=True)
        feeder.start()
        got = wait_until(lambda: [a for a in _alerts(counselor, live) if a["dimension"] == dim], timeout=900,
                         what=f"the {dim} alert of the head (counselor)", pipeline=pipeline, every=2)
        assert all(a["validated"] for a in got)
        seen = wait_until(lambda: [a for a in _alerts(supervisor, live) if a["dimension"] == dim], timeout=60,
                          what="the alert (supervisor)")
        assert all(a["validated"] for a in seen)
        scores = wait_until(lambda: counselor.events(live, "score"), timeout=300, what="the head's scores (counselor)")
        for e in scores:
            assert e["data"]["model"]["readout"] == "head"
            assert set(e["data"]["dimensions"]) == set(passing) and dim in e["data"]["dimensions"]

        # the same scores from the zero-shot identity (no record): supervisor only, unvalidated, no numbers
        zero = ModelIdentity(name=head_id.name, revision=head_id.revision.split("+")[0])
        head_scores = read_topic(pipeline.bootstrap, "alliance.scores", AllianceScore, session_id=live)
        assert head_scores
        other = f"zero-{uuid.uuid4().hex[:6]}"
        started = [e.event.model_copy(update={"session_id": other, "at": now_utc()}) for e in events
                   if e.topic == "chat.sessions" and e.event.kind == "started"]
        produce(pipeline.bootstrap, "chat.sessions", [(other, ev) for ev in started])
        produce(pipeline.bootstrap, "alliance.scores", [
            (other, s.model_copy(update={"session_id": other, "request_id": f"{other}:{s.phase}", "model": zero}))
            for s in sorted(head_scores, key=lambda s: ("early", "middle", "late").index(s.phase))])
        zero_alerts = wait_until(lambda: [a for a in _alerts(supervisor, other) if a["dimension"] == dim],
                                 timeout=120, what="the zero-shot alert (supervisor)", pipeline=pipeline)
        assert not any(a["validated"] for a in zero_alerts)
        wait_until(lambda: counselor.events(other, "score"), timeout=60, what="zero-shot scores (counselor)")
        assert _alerts(counselor, other) == [], "a zero-shot alert reached the counselor"
        for e in counselor.events(other, "score"):
            assert e["data"]["dimensions"] == {} and e["data"]["items"] == []
    finally:
        for v in (supervisor, counselor):
            if v is not None:
                v.close()
        pipeline.close()
