"""`report` on a store filled by replaying the samples through the broker and the sink.

The samples carry sessions and turns, not scores (scores come from the model),
so the test synthesises one AllianceScore per session and phase: the late phase
is the client's own label, the early phase is set per course (ruptures start
higher, repaired sessions start lower). Expected shares are computed from those
synthetic numbers, not hard-coded.
"""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from store import analytics
from store.db import make_engine, upgrade
from store.eval import DIM_ITEMS, read_labels
from store.report import DPI, FIGSIZES
from streams.replay import read_file
from tests.kafka_helpers import produce

from .factories import score
from .sinkkit import RunningSink, make_topics, wait_for
from .test_sink import count

pytestmark = pytest.mark.integration

#: how the early phase differs from the late (labelled) one, per sample course.
EARLY_SHIFT = {"rupture": +1.5, "drift": +0.5, "silent": +1.0, "directing": +0.75, "repair": -1.0, "steady": 0.0}


def synthetic_scores(samples_dir, suffix):
    labels = read_labels(samples_dir / "labels" / "client-ratings.jsonl")
    sessions, scores = [], []
    for path in sorted(samples_dir.glob("s0*.jsonl")):
        events, bad = read_file(path)
        assert not bad, bad
        evs = [e.event.model_copy(update={"session_id": e.event.session_id + suffix})
               for e in events if e.topic == "chat.sessions"]
        sessions += evs
        sid = events[0].event.session_id
        shift = next(v for k, v in EARLY_SHIFT.items() if k in path.name or k in sid)
        late = labels[sid].items
        early = {i: min(5.0, max(1.0, v + shift)) for i, v in late.items()}
        middle = {i: (early[i] + late[i]) / 2 for i in late}
        start = evs[0].at
        for phase, items in (("early", early), ("middle", middle), ("late", late)):
            scores.append(score(sid + suffix, phase, items, counselor=evs[0].counselor_id, start=start))
    return sessions, scores


async def test_report_on_replayed_samples_writes_plots_and_summary(kafka_bootstrap, unique, sqlite_url, tmp_path,
                                                                   samples_dir, capsys):
    from alliance_monitor.cli import main
    from store.models import ChatSession, Prediction

    suffix = f"-{unique}"
    topics = make_topics(kafka_bootstrap, f".rep{unique}")
    sessions, scores = synthetic_scores(samples_dir, suffix)
    assert len({s.session_id for s in sessions}) == 6
    produce(kafka_bootstrap, topics.sessions, [(e.session_id, e) for e in sessions])
    produce(kafka_bootstrap, topics.scores, [(e.session_id, e) for e in scores])
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    from store.sink import Sink

    async with RunningSink(Sink(kafka_bootstrap, engine, topics=topics, group_id=f"rep-{unique}")):
        await wait_for(lambda: count(engine, Prediction) == 18 and count(engine, ChatSession) == 6,
                       what="the replayed samples to be stored")

    out = tmp_path / "report"
    rc = main(["report", "--out", str(out), "--db", sqlite_url, "--delta", "0.5"])
    printed = capsys.readouterr().out
    assert rc == 0 and "Per-counselor profiles" in printed
    for name, (w, h) in FIGSIZES.items():
        with Image.open(out / name) as img:
            img.verify()  # a real, complete PNG
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.size == (int(w * DPI), int(h * DPI))
            assert len(set(img.convert("L").getdata())) > 10  # something was drawn
    assert (out / "summary.txt").read_text(encoding="utf-8") in printed

    # the CSV shares are what the synthetic early/late numbers imply
    expected = {}
    for dim in DIM_ITEMS:
        for name, delta in (("level", 1.0), ("delta", 0.5)):
            counts = {c: 0 for c in analytics.CHANGES}
            for sid in {s.session_id for s in scores}:
                e = next(s for s in scores if s.session_id == sid and s.phase == "early").dimensions[dim].score
                lt = next(s for s in scores if s.session_id == sid and s.phase == "late").dimensions[dim].score
                counts[analytics.classify_change(e, lt, delta)] += 1
            expected[(name, dim)] = counts
    with (out / "trajectories.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for r in rows:
        assert int(r["sessions"]) == 6
        assert {c: int(r[c]) for c in analytics.CHANGES} == expected[(r["threshold"], r["dimension"])]
    assert expected[("level", "bond")]["declined"] >= 1  # the rupture session is there
    with (out / "counselors.csv").open(encoding="utf-8") as f:
        counselors = {r["counselor_id"] for r in csv.DictReader(f)}
    assert counselors == {s.counselor_id for s in sessions}
    assert (out / "pairwise.csv").read_text().count("\n") == 1 + 3 * 15  # 6 counselors: 15 pairs × 3 dims
    engine.dispose()


def test_report_rejects_a_bad_delta_in_one_line(capsys):
    from alliance_monitor.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["report", "--out", "/tmp/x", "--delta", "-1"])
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1
