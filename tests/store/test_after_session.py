"""The after-session numbers of ``report``: deepened / stagnant / declined per counselor and cohort, beside
rupture and repair rates, on a real SQLite store seeded through the store's write API with a constructed set of
sessions whose shares are known exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from store.db import make_engine, upgrade
from store.report import DPI, FIGSIZES
from store.writes import write_events
from streams.rupture_replay import final_episodes, replay_ruptures

from .factories import score, session_events

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DIM_Q = {"goal": range(1, 5), "approach": range(5, 9), "bond": range(9, 13)}

#: session -> (counselor, early per dimension, late per dimension or None for no late phase)
SESSIONS = {
    "a1": ("c-a", {"goal": 2.0, "approach": 4.0, "bond": 3.0}, {"goal": 3.5, "approach": 2.5, "bond": 3.0}),
    "a2": ("c-a", {"goal": 3.0, "approach": 3.0, "bond": 3.0}, {"goal": 3.0, "approach": 3.0, "bond": 3.0}),
    "a3": ("c-a", {"goal": 4.0, "approach": 4.0, "bond": 4.0}, {"goal": 2.8, "approach": 2.8, "bond": 2.8}),
    "a4": ("c-a", {"goal": 4.0, "approach": 4.0, "bond": 4.0}, None),  # never reached the late phase
    "b1": ("c-b", {"goal": 2.0, "approach": 2.0, "bond": 2.0}, {"goal": 3.0, "approach": 3.0, "bond": 3.0}),  # +1.0
    "b2": ("c-b", {"goal": 3.5, "approach": 3.5, "bond": 3.5}, {"goal": 2.6, "approach": 2.6, "bond": 2.6}),  # -0.9
}
#: (counselor, dimension) -> (sessions with early and late, deepened, stagnant, declined), worked out by hand
EXPECTED = {
    ("c-a", "goal"): (3, 1, 1, 1), ("c-a", "approach"): (3, 0, 1, 2), ("c-a", "bond"): (3, 0, 2, 1),
    ("c-b", "goal"): (2, 1, 1, 0), ("c-b", "approach"): (2, 1, 1, 0), ("c-b", "bond"): (2, 1, 1, 0),
    ("all", "goal"): (5, 2, 2, 1), ("all", "approach"): (5, 1, 2, 2), ("all", "bond"): (5, 1, 3, 1),
}


def items(per_dim: dict[str, float]) -> dict[str, float]:
    return {f"Q{i}": v for dim, qs in DIM_Q.items() for i in qs for v in [per_dim[dim]]}


def seed_store(url: str):
    upgrade(url)
    engine = make_engine(url)
    events = []
    for sid, (cid, early, late) in SESSIONS.items():
        events += session_events(sid, counselor=cid)
        events.append(score(sid, "early", items(early), counselor=cid))
        if late is not None:
            events.append(score(sid, "late", items(late), counselor=cid))
    repaired = final_episodes(replay_ruptures(SAMPLES / "s04_confrontation_repaired_en.jsonl"))[0]
    unrepaired = final_episodes(replay_ruptures(SAMPLES / "s02_bond_rupture_middle_en.jsonl"))[0]
    assert (repaired.status, unrepaired.status) == ("repaired", "unrepaired")
    for ep, sid, cid in ((repaired, "a1", "c-a"), (unrepaired, "a2", "c-a"), (unrepaired, "b1", "c-b")):
        events.append(ep.model_copy(update={"session_id": sid, "counselor_id": cid,
                                            "episode_id": f"{sid}:rupture:1"}))
    with engine.begin() as conn:
        write_events(conn, events)
    return engine


def test_report_gives_exact_deepened_stagnant_declined_shares_and_rupture_rates(sqlite_url, tmp_path, capsys):
    from alliance_monitor.cli import main

    engine = seed_store(sqlite_url)
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), "--db", sqlite_url]) == 0
    printed = capsys.readouterr().out

    with (out / "after_session.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9  # 2 counselors + the cohort, 3 dimensions each
    for r in rows:
        n, deep, stag, decl = EXPECTED[(r["counselor_id"], r["dimension"])]
        assert (int(r["sessions_early_late"]), int(r["deepened"]), int(r["stagnant"]), int(r["declined"])) \
            == (n, deep, stag, decl), r
        for name, k in (("share_deepened", deep), ("share_stagnant", stag), ("share_declined", decl)):
            assert float(r[name]) == pytest.approx(k / n, abs=5e-5)  # written to 4 decimals
    by = {(r["counselor_id"], r["dimension"]): r for r in rows}
    assert (by["c-a", "goal"]["sessions"], by["c-a", "goal"]["ruptures"], by["c-a", "goal"]["repaired"],
            by["c-a", "goal"]["closed_episodes"]) == ("4", "2", "1", "2")
    assert float(by["c-a", "goal"]["ruptures_per_session"]) == 0.5 and float(by["c-a", "goal"]["repair_rate"]) == 0.5
    assert float(by["c-b", "bond"]["repair_rate"]) == 0.0 and by["all", "bond"]["ruptures"] == "3"
    assert float(by["all", "bond"]["repair_rate"]) == pytest.approx(1 / 3, abs=5e-5)

    assert "After the session" in printed
    block = printed.split("After the session", 1)[1].splitlines()
    line = next(x for x in block if x.strip().startswith("c-a"))
    assert "goal  33%/ 33%/ 33%" in line and "approach   0%/ 33%/ 67%" in line and "0.50/session" in line
    w, h = FIGSIZES["after_session.png"]
    with Image.open(out / "after_session.png") as img:
        assert img.format == "PNG" and img.size == (int(w * DPI), int(h * DPI))
        assert len(set(img.convert("L").getdata())) > 10
    engine.dispose()


def test_a_counselor_known_only_from_episodes_still_gets_a_row(sqlite_url, tmp_path):
    from store.after_session import after_session_rows
    from store.analytics import by_session
    from store.repository import StoreRepository, pick_model
    from store.rupture_report import summaries

    engine = seed_store(sqlite_url)
    ep = final_episodes(replay_ruptures(SAMPLES / "s02_bond_rupture_middle_en.jsonl"))[0]
    with engine.begin() as conn:
        write_events(conn, [*session_events("z1", counselor="c-z"),
                            ep.model_copy(update={"session_id": "z1", "counselor_id": "c-z", "episode_id": "z1:r:1"})])
    repo = StoreRepository(engine)
    sessions = by_session(repo.predictions(pick_model(repo.model_identities(), None)))
    _, per_counselor, total = summaries(engine)
    rows = {r.counselor_id: r for r in after_session_rows(sessions, per_counselor, total)}
    assert rows["c-z"].trajectories["goal"].n == 0 and rows["c-z"].ruptures.episodes == 1
    assert list(rows)[-1] == "all" and rows["all"].ruptures.sessions == 7
    engine.dispose()


def feedback(sid: str, turn: int, cid: str, empathy: float, when, pattern=None):
    from streams.contracts import CounselorFeedback, ModelIdentity

    ratings = {k: 3.0 for k in ("relevance", "conciseness", "safety", "self_exploration", "autonomy", "change_stage")}
    return CounselorFeedback(
        feedback_id=f"{sid}:late:t{turn}", session_id=sid, counselor_id=cid, phase="late", turn_id=turn,
        quote="a counselor turn", principles={"empathy": empathy, **ratings},
        patterns={"passive_response": 2.0, "boundary_overstepping": 4.0 if pattern else 1.5}, pattern=pattern,
        pattern_source="features" if pattern else None, principle="autonomy", next_move="Hand the choice back.",
        model=ModelIdentity(name="test-model"), created_at=when)


@pytest.mark.parametrize("source", ["store", "file"])
def test_report_with_feedback_gives_principle_profiles_per_counselor_and_week(sqlite_url, tmp_path, capsys, source):
    """From the feedback the sink stored (quotes already purged by retention), or from an exported file."""
    from datetime import timedelta

    from alliance_monitor.cli import main

    from .factories import T0

    engine = seed_store(sqlite_url)
    week2 = T0 + timedelta(days=7)
    recs = [feedback("a1", 2, "c-a", 4.0, T0), feedback("a1", 4, "c-a", 2.0, T0, "boundary_overstepping"),
            feedback("a2", 2, "c-a", 5.0, week2), feedback("b1", 2, "c-b", 1.5, T0, "boundary_overstepping")]
    out = tmp_path / "report"
    if source == "store":
        with engine.begin() as conn:
            write_events(conn, recs)
        engine.dispose()
        assert main(["db", "purge", "--older-than", "1", "--db", sqlite_url]) == 0  # the profile needs no quote
        assert "4 feedback records" in capsys.readouterr().out
        assert main(["report", "--out", str(out), "--db", sqlite_url]) == 0
    else:
        engine.dispose()
        path = tmp_path / "feedback.jsonl"
        path.write_bytes(b"".join(r.model_dump_json().encode() + b"\n" for r in recs))
        assert main(["report", "--out", str(out), "--db", sqlite_url, "--feedback", str(path)]) == 0
    printed = capsys.readouterr().out
    with (out / "principles.csv").open(encoding="utf-8") as f:
        rows = {(r["counselor_id"], r["week"]): r for r in csv.DictReader(f)}
    assert set(rows) == {("c-a", "2026-W10"), ("c-a", "2026-W11"), ("c-b", "2026-W10")}
    first = rows["c-a", "2026-W10"]
    assert (first["rated_turns"], first["sessions"], float(first["empathy"])) == ("2", "1", 3.0)
    assert float(first["boundary_overstepping"]) == pytest.approx(2.75) and first["named_boundary_overstepping"] == "1"
    assert float(rows["c-a", "2026-W11"]["empathy"]) == 5.0 and float(rows["c-b", "2026-W10"]["empathy"]) == 1.5
    assert "Principle profiles" in printed and "a counselor turn" not in printed  # numbers, never quotes
    with Image.open(out / "principles.png") as img:
        assert img.format == "PNG" and len(set(img.convert("L").getdata())) > 10


def test_report_with_a_bad_feedback_file_is_one_line(sqlite_url, tmp_path, capsys):
    from alliance_monitor.cli import main

    seed_store(sqlite_url).dispose()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"session_id": "a1"}\n', encoding="utf-8")
    assert main(["report", "--out", str(tmp_path / "r"), "--db", sqlite_url, "--feedback", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a CounselorFeedback record" in err and len(err.strip().splitlines()) == 1
