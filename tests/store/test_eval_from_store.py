"""`eval --from-store`: the store's own client ratings as labels, the same record as `eval --labels`;
`models status` figures and sessions still needed; `report` response rates."""

from __future__ import annotations

import orjson
import pytest

from alliance_monitor.cli import main
from store.db import make_engine
from store.ratings import STORE_LABELS_SOURCE
from store.repository import StoreRepository
from store.validation_demo import write_labelled_set
from store.writes import write_events
from streams.contracts import ModelIdentity
from validation import synthetic

from .factories import client_rating, session_events

pytestmark = pytest.mark.integration

FAST = ["--resamples", "500"]
DEMO = ModelIdentity(name="demo-model")


def item_answers(dims: dict[str, float]) -> dict[str, int]:
    """Whole 1-5 answers whose dimension means are the labels rounded to a quarter."""
    out = {}
    for d, first in (("goal", 1), ("approach", 5), ("bond", 9)):
        total = int(round(float(dims[d]) * 4))
        base, extra = divmod(total, 4)
        for k in range(4):
            out[f"Q{first + k}"] = min(5, max(1, base + (1 if k < extra else 0)))
    return out


def rated_store(tmp_path, ds, *, every: int = 1, revise: bool = True, url: str | None = None):
    """A store with the fixture's late predictions, and each session's rating in the ratings table.

    Every session first gets a misleading rating, then the real one as revision 2: evaluation
    must read the latest. Also writes the same answers as an `eval --labels` file."""
    url = url or f"sqlite:///{tmp_path / 'rated.db'}"
    write_labelled_set(ds, url, tmp_path / "unused.jsonl")
    engine = make_engine(url)
    lines, events = [], []
    for i, sid in enumerate(ds.session_ids[::every]):
        answers = item_answers({d: ds.labels[d][i * every] for d in synthetic.DIMENSIONS})
        if revise:
            events.append(client_rating(sid, 1, rating_id=f"{sid}:first", minutes=51))
        events.append(client_rating(sid, answers, rating_id=f"{sid}:second", minutes=52))
        lines.append(orjson.dumps({"session_id": sid, "items": answers}))
    with engine.begin() as conn:
        write_events(conn, events)
    labels = tmp_path / "same.jsonl"
    labels.write_bytes(b"\n".join(lines) + b"\n")
    return url, labels, engine


def test_eval_from_store_writes_the_record_eval_labels_writes(tmp_path, capsys, db_url):
    url, labels, engine = rated_store(tmp_path, synthetic.signal_in("bond"), url=db_url)
    assert main(["eval", "--from-store", "--db", url, *FAST]) == 0
    out = capsys.readouterr().out
    assert "validation record written for demo-model@local:v1/expected" in out
    repo = StoreRepository(engine)
    from_store = repo.latest_record(DEMO)
    assert from_store.labels_source == STORE_LABELS_SOURCE and from_store.labels_n == 242
    assert from_store.passed_dimensions() == ["bond"]

    assert main(["eval", "--labels", str(labels), "--db", url, *FAST]) == 0
    capsys.readouterr()
    from_file = repo.latest_record(DEMO)
    assert from_file.created_at > from_store.created_at and from_file.labels_source == str(labels)
    engine.dispose()
    for dim in synthetic.DIMENSIONS:  # same labels, same code path: the same figures
        a, b = from_store.dimensions[dim], from_file.dimensions[dim]
        assert (a.n, a.r, a.partial_r, a.partial_ci, a.baseline_r, a.passed) == \
               (b.n, b.r, b.partial_r, b.partial_ci, b.baseline_r, b.passed)


def test_models_status_shows_figures_and_sessions_still_needed(tmp_path, capsys):
    # a quarter of the sessions rated: bond's effect is real but n is short
    url, _, engine = rated_store(tmp_path, synthetic.signal_in("bond"), every=6, revise=False)
    assert main(["eval", "--from-store", "--db", url, *FAST]) == 0
    capsys.readouterr()
    assert main(["models", "status", "--db", url]) == 0
    out = capsys.readouterr().out
    rec = StoreRepository(engine).latest_record(DEMO)
    bond = rec.dimensions["bond"]
    assert bond.n == 41 and not bond.passed
    row = next(line for line in out.splitlines() if line.strip().startswith("bond ") and "[" in line)
    parts = row.split()
    assert parts[1] == "41" and float(parts[3]) == pytest.approx(bond.partial_r, abs=5e-4)
    assert f"{bond.partial_ci[0]:6.3f}".strip() in row and "fail" in parts
    from validation.power import needed_for_verdict

    need = needed_for_verdict(bond, rec.settings)
    assert need.more and f"{need.more} more ({need.total} in all)" in row
    goal_row = next(line for line in out.splitlines() if line.strip().startswith("goal ") and "[" in line)
    assert "more sessions will not help" in goal_row


def test_eval_from_store_without_ratings_is_a_one_line_error(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    write_labelled_set(synthetic.length_only(), url, tmp_path / "x.jsonl")
    assert main(["eval", "--from-store", "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alliance-monitor: no WAI-SR ratings in the store") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--from-store", "--labels", "x.jsonl", "--db", url])
    assert exit_.value.code == 2 and "not allowed with argument --from-store" in capsys.readouterr().err


def test_report_shows_response_rate_and_rating_distribution(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    write_labelled_set(synthetic.length_only(), url, tmp_path / "x.jsonl")
    engine = make_engine(url)
    events = []
    for i in range(10):
        events += session_events(f"r{i}", counselor="c-a" if i < 8 else "c-b")
    events += [client_rating(f"r{i}", 4 if i % 2 else 2) for i in range(3)]
    events += [client_rating("r9", 9, instrument="srs")]
    with engine.begin() as conn:
        write_events(conn, events)
    out_dir = tmp_path / "report"
    assert main(["report", "--out", str(out_dir), "--db", url]) == 0
    text = capsys.readouterr().out
    assert "response rate" in text.lower()
    rates = (out_dir / "response_rates.csv").read_text().splitlines()
    assert rates[0] == "counselor_id,ended_sessions,rated_sessions,response_rate"
    assert "c-a,8,3,0.375" in rates and "c-b,2,1,0.5" in rates
    dist = (out_dir / "rating_distribution.csv").read_text().splitlines()
    assert dist[0].startswith("instrument,item,dimension,n,mean")
    q1 = next(line for line in dist if line.startswith("wai-sr,Q1,"))
    assert q1.split(",")[3] == "3"
    assert (out_dir / "ratings.png").stat().st_size > 1000
