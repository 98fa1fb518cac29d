"""`eval` on a small labelled fixture: hand-checked correlations, ICC and kappa, label errors."""

from __future__ import annotations

import math

import orjson
import pytest

from store.db import make_engine, upgrade
from store.errors import LabelError
from store.eval import evaluate, parse_label, read_labels, self_consistency
from store.repository import ModelKey, StoreRepository
from store.writes import write_events

from .factories import score

PRED_GOAL = [1, 2, 3, 4, 5]
LABEL_GOAL = [2, 4, 5, 4, 5]  # r = 6 / sqrt(60) = .7746 (hand-computed in test_metrics)
APPROACH = [2, 3, 3, 4, 5]  # predictions equal the labels: r = 1
PRED_BOND = [5, 4, 3, 2, 1]
LABEL_BOND = [1, 2, 3, 4, 5]  # r = -1


def write_fixture(tmp_path):
    labels = tmp_path / "labels.jsonl"
    lines = ["# client-rated WAI-SR, test fixture", ""]
    for i in range(5):
        items = {f"Q{q}": LABEL_GOAL[i] for q in range(1, 5)}
        items |= {f"Q{q}": APPROACH[i] for q in range(5, 9)}
        items |= {f"Q{q}": LABEL_BOND[i] for q in range(9, 13)}
        lines.append(orjson.dumps({"session_id": f"e{i}", "items": items, "note": "ignored"}).decode())
    lines.append(orjson.dumps({"session_id": "unscored", "dimensions": {"goal": 3}}).decode())
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")

    url = f"sqlite:///{tmp_path / 'eval.db'}"
    upgrade(url)
    engine = make_engine(url)
    events = []
    for i in range(5):
        items = {f"Q{q}": float(PRED_GOAL[i]) for q in range(1, 5)}
        items |= {f"Q{q}": float(APPROACH[i]) for q in range(5, 9)}
        items |= {f"Q{q}": float(PRED_BOND[i]) for q in range(9, 13)}
        events += [score(f"e{i}", "late", items), score(f"e{i}", "early", 3.0)]
    # sampled read-out of the same model: per-sample choices for Q1 of two sessions
    events += [score("e0", "late", {"Q1": 1.0}, readout="sampled", samples={"Q1": [1, 1]}),
               score("e1", "late", {"Q1": 1.5}, readout="sampled", samples={"Q1": [1, 2]})]
    with engine.begin() as conn:
        write_events(conn, events)
    return labels, url, engine


def test_evaluate_reproduces_hand_checked_correlations(tmp_path):
    labels_path, _, engine = write_fixture(tmp_path)
    labels = read_labels(labels_path)
    assert labels["e1"].dimensions == {"goal": 4.0, "approach": 3.0, "bond": 2.0}
    repo = StoreRepository(engine)
    res = evaluate(repo.predictions(ModelKey("test-model"), phase="late"), labels)
    assert (res.labelled, res.matched) == (6, 5)
    assert res.dimensions["goal"].r == pytest.approx(6 / math.sqrt(60))
    assert res.dimensions["approach"].r == pytest.approx(1.0) and res.dimensions["approach"].p == 0.0
    assert res.dimensions["bond"].r == pytest.approx(-1.0)
    assert res.items["Q1"].r == pytest.approx(6 / math.sqrt(60)) and res.items["Q1"].n == 5
    early = evaluate(repo.predictions(ModelKey("test-model"), phase="early"), labels, "early")
    assert math.isnan(early.dimensions["goal"].r)  # constant predictions have no correlation

    # [[1,1],[1,2]]: ICC(1,1) = 0 and Fleiss' kappa = (.5 - 10/16) / (1 - 10/16) = -1/3, by hand
    cons = self_consistency(repo.predictions(ModelKey("test-model", readout="sampled")))
    assert cons["all"].subjects == 2 and cons["all"].samples == 2
    assert cons["all"].icc1 == pytest.approx(0.0, abs=1e-12)
    assert cons["all"].kappa == pytest.approx(-1 / 3)
    engine.dispose()


def test_eval_cli_prints_beside_the_reference_numbers(tmp_path, capsys):
    from alliance_monitor.cli import main

    labels, url, engine = write_fixture(tmp_path)
    out_json = tmp_path / "eval.json"
    rc = main(["eval", "--labels", str(labels), "--db", url, "--model", "test-model", "--json", str(out_json)])
    text = capsys.readouterr().out
    assert rc == 0
    goal_line = next(line for line in text.splitlines() if line.startswith("goal "))
    assert goal_line.split()[1] == ".775" and ".290" in goal_line and ".505" in goal_line
    assert "fine-tuned 8B" in text and "ICC(1,1)=.000" in text and "Fleiss' kappa=-.333" in text
    data = orjson.loads(out_json.read_bytes())
    assert data["dimensions"]["bond"]["r"] == pytest.approx(-1.0) and data["matched"] == 5
    assert data["reference"]["counselors"]["goal"] == 0.29
    engine.dispose()


def test_eval_sample_labels_parse(samples_dir):
    labels = read_labels(samples_dir / "labels" / "client-ratings.jsonl")
    assert len(labels) == 6 and all(len(lb.items) == 12 for lb in labels.values())


@pytest.mark.parametrize("line, problem", [
    ('{"items": {"Q1": 3}}', "session_id is required"),
    ('{"session_id": "a", "items": {"Q13": 3}}', "items.Q13 is not a WAI-SR item"),
    ('{"session_id": "a", "items": {"Q1": 6}}', "items.Q1 must be a number from 1 to 5"),
    ('{"session_id": "a", "dimensions": {"trust": 3}}', "dimensions.trust is not goal"),
    ('{"session_id": "a"}', "no items and no dimensions"),
    ('[1, 2]', "expected a JSON object"),
])
def test_bad_labels_name_the_problem(line, problem):
    with pytest.raises(LabelError, match=problem):
        parse_label(orjson.loads(line), "f:1")


def test_bad_label_file_is_one_line_with_file_and_line(tmp_path, capsys):
    from alliance_monitor.cli import main

    p = tmp_path / "l.jsonl"
    p.write_text('{"session_id": "a", "items": {"Q1": 3}}\n{not json\n', encoding="utf-8")
    rc = main(["eval", "--labels", str(p), "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{p}:2: not valid JSON" in err and err.count("\n") == 1


def test_item_samples_are_choices_from_1_to_5():
    from pydantic import ValidationError

    from streams.contracts import ItemScore

    ok = ItemScore(item_id="Q1", dimension="goal", expected=1.5, probs=[0.5, 0.5, 0, 0, 0], samples=[1, 2])
    assert ok.samples == [1, 2]
    with pytest.raises(ValidationError):
        ItemScore(item_id="Q1", dimension="goal", expected=1.5, probs=[0.5, 0.5, 0, 0, 0], samples=[0, 6])


def test_scorer_reported_consistency_and_length_covariates_are_kept(tmp_path, capsys):
    """Without per-sample choices, eval shows the mean of the scorer's own per-prediction figures."""
    from alliance_monitor.cli import main

    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    engine = make_engine(url)
    events = []
    for i, (icc_v, kappa) in enumerate([(0.5, 0.25), (0.7, 0.45)]):
        events.append(score(f"e{i}", "late", 2.0 + i))
        events.append(score(f"e{i}", "late", 2.0 + i, readout="sampled", transcript_chars=1000 * (i + 1),
                            client_turns=10 + i,
                            consistency={"samples": 3.0, "parsed_share": 1.0, "icc": icc_v, "fleiss_kappa": kappa}))
    with engine.begin() as conn:
        write_events(conn, events)
    recs = StoreRepository(engine).predictions(ModelKey("test-model", readout="sampled"))
    assert [(r.transcript_chars, r.client_turns) for r in recs] == [(1000, 10), (2000, 11)]
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"session_id": "e0", "dimensions": {"goal": 2}}\n{"session_id": "e1", "dimensions": '
                      '{"goal": 4}}\n', encoding="utf-8")
    assert main(["eval", "--labels", str(labels), "--db", url, "--model", "test-model"]) == 0
    out = capsys.readouterr().out
    assert "mean over 2 predictions (3 samples each): ICC(2,1)=.600  Fleiss' kappa=.350" in out
    engine.dispose()
