"""Offline scoring of recorded sessions equals the live pipeline, across a real Ctrl-C.

Live: the sessions are replayed into the real pipeline (processor → scorer →
sink, each a real subprocess with the real engine) and their predictions land
in store A. Offline: ``alliance-monitor score-corpus`` scores the same file into
store B; it is interrupted with SIGINT (to its process group, as a terminal's
Ctrl-C) right after it stored the first session, then run again. Store B must
then hold every phase exactly once, with the live cuts (same last turn, same
transcript length and client turns) and the live predictions within the
engine's numeric noise. A bad line of a third session is named by file:line,
that session is held back, the others are scored (exit 1, nothing lost).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from store.db import make_engine
from store.models import Event, Prediction, PredictionItem
from streams.codec import encode
from streams.replay import merge, publish, read_file, rebase
from tests.e2e.harness import Pipeline, now_utc, session_events, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.model]

SPEED = 60.0
SAMPLE = Path("samples/s05_client_goes_silent_zh.jsonl")  # no `ended`: its phases close by time
#: The silent sample at half its pace (planned 25 minutes, every gap halved): still no `ended`, the client
#: still falls silent before the middle and late boundaries, which the timers cross; 25 s of replay, not 50.
PACE = 0.5
SHORT = "corpus-short-en"
SILENT = "sample-05-silent-client-zh"
# Both sides run the transformers engine on the tiny random-weight model (tests/tiny_model.py): the
# property — offline equals live, an interrupted run resumes without scoring twice — holds for any
# engine and weights, and the production engine has its own end-to-end run (test_pipeline.py).
ENGINE = "transformers"
ENGINE_ARGS = ["--engine", ENGINE, "--max-model-len", "4096", "--rationale-tokens", "24"]  # as the live scorer
TOL = 0.02  # the engine's numeric noise on the 1-5 scale (batching differs between the two runs)
REPO = Path(__file__).resolve().parents[2]


def _silent_sample(pace: float) -> tuple[datetime, bytes]:
    """The silent-client sample with every time since its start (and its planned length) scaled by ``pace``."""
    records = [orjson.loads(line) for line in SAMPLE.read_bytes().splitlines()
               if line.strip() and not line.startswith(b"#")]
    start = datetime.fromisoformat(next(r["at"] for r in records if r.get("kind") == "started"))
    out = []
    for r in records:
        for field in ("at", "sent_at"):
            if field in r:
                r[field] = (start + (datetime.fromisoformat(r[field]) - start) * pace).isoformat()
        if "planned_minutes" in r:
            r["planned_minutes"] = round(r["planned_minutes"] * pace)
        out.append(orjson.dumps(r) + b"\n")
    return start, b"".join(out)


def _corpus(path: Path) -> Path:
    """The short e2e session (first), the silent-client sample, and one bad line of a third session.

    Both sessions start together, so the live replay lasts as long as the longer one (not their sum)."""
    start, silent = _silent_sample(PACE)
    with path.open("wb") as f:
        for e in session_events(SHORT, "c-corpus", "g-corpus", start):
            f.write(encode(e) + b"\n")
        f.write(silent)
        f.write(b'{"session_id": "corpus-bad", "turn_id": 0, "speaker": "nobody", "text": "x", '
                b'"sent_at": "2026-03-02T10:00:00Z", "counselor_id": "c-corpus"}\n')
    return path


def _predictions(url: str) -> dict[str, dict]:
    with make_engine(url).connect() as conn:
        preds = {r.id: r for r in conn.execute(select(Prediction.__table__))}
        items = list(conn.execute(select(PredictionItem.__table__)))
    out = {}
    for p in preds.values():
        out[p.request_id] = {
            "model": (p.model_name, p.model_revision, p.prompt_version, p.readout),
            "cut": (p.upto_turn_id, p.transcript_chars, p.client_turns),
            "dims": {d: getattr(p, d) for d in ("goal", "approach", "bond")},
            "items": {i.item_id: i.expected for i in items if i.prediction_id == p.id},
            "scored_at": p.scored_at,
        }
    return out


def _score_events(url: str) -> int:
    """Journal entries of stored scores: one per (request, model, scored_at) — a re-score adds one."""
    with make_engine(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(Event).where(Event.kind == "score")).scalar_one()


def _live(tmp_path: Path, corpus: Path, model: Path) -> dict[str, dict]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    pipeline = Pipeline(tmp_path / "live", db_url=url, clock_rate=SPEED, engine=ENGINE,
                        extra_env={"ALLIANCE_MODEL": str(model)})
    try:
        pipeline.start("processor", "scorer", "sink")
        events, bad = read_file(corpus)
        assert [b.source.rsplit(":", 1)[1] for b in bad] == [str(len(corpus.read_bytes().splitlines()))]
        replay = rebase(merge([events]), now_utc())
        t = threading.Thread(target=publish, args=(replay, pipeline.bootstrap),
                             kwargs={"speed": SPEED, "progress": False}, daemon=True)
        t.start()
        t.join(300)
        return wait_until(lambda: (lambda p: p if len(p) == 6 else None)(_predictions(url)), timeout=1200,
                          what="six live predictions in the store", pipeline=pipeline, every=3)
    finally:
        pipeline.close()


def _offline_argv(corpus: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "alliance_monitor.cli", "score-corpus", str(corpus), "--db", url,
            "--no-progress", *ENGINE_ARGS]


def _env(model: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "ALLIANCE_LOG": "WARNING", "ALLIANCE_MODEL": str(model)}


def test_offline_scoring_interrupted_and_resumed_gives_the_live_predictions(tmp_path, tiny_model):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    live = _live(tmp_path, corpus, tiny_model.path)
    assert set(live) == {f"{s}:{p}" for s in (SHORT, SILENT) for p in ("early", "middle", "late")}

    url = f"sqlite:///{tmp_path / 'offline.db'}"
    # run 1: Ctrl-C right after the first session is stored. A test run started in the background by a shell
    # without job control ignores SIGINT, and so would the child it starts (an ignored signal survives exec):
    # let the child have the default Ctrl-C
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    proc = subprocess.Popen(_offline_argv(corpus, url), cwd=REPO, env=_env(tiny_model.path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]  # stdout=PIPE: never None
            lines.append(line)
            if line.startswith(f"stored {SHORT}:"):
                os.killpg(proc.pid, signal.SIGINT)
                break
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 130, "".join(lines) + out + err[-3000:]
    assert "interrupted: 1 session(s) stored this run" in err
    first = _predictions(url)
    assert set(first) == {f"{SHORT}:{p}" for p in ("early", "middle", "late")}, "a session was stored half"

    # run 2: continues with the rest, scores nothing twice
    done = subprocess.run(_offline_argv(corpus, url), cwd=REPO, env=_env(tiny_model.path), capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]  # the bad line, reported
    assert f"rejected {corpus}:{len(corpus.read_bytes().splitlines())}: ChatTurn.speaker" in done.stderr
    assert "held back session corpus-bad" in done.stderr
    assert "3 phase(s) to score, 3 already stored" in done.stdout
    assert f"stored {SILENT}: early middle late" in done.stdout
    offline = _predictions(url)
    assert set(offline) == set(live)
    assert _score_events(url) == 6, "a phase was scored twice"
    for rid in first:
        assert offline[rid]["scored_at"] == first[rid]["scored_at"], f"{rid} was scored again"

    # the same predictions as the live pipeline, for the same model identity
    for rid, want in live.items():
        got = offline[rid]
        assert got["model"] == want["model"], rid
        assert got["cut"] == want["cut"], f"{rid}: offline cut {got['cut']} != live {want['cut']}"
        for dim, value in want["dims"].items():
            assert got["dims"][dim] == pytest.approx(value, abs=TOL), (rid, dim)
        assert set(got["items"]) == set(want["items"])
        for item, value in want["items"].items():
            assert got["items"][item] == pytest.approx(value, abs=TOL), (rid, item)
