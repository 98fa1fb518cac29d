"""The fixture numbers printed by ``python -m validation.demo_numbers`` are the ones the docs quote."""

from __future__ import annotations

from pathlib import Path

from validation import demo_numbers

DOC = Path(__file__).resolve().parents[2] / "docs" / "validation.md"


def test_docs_quote_the_numbers_the_fixtures_produce(capsys):
    assert demo_numbers.main([]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    doc = DOC.read_text(encoding="utf-8")
    missing = [line for line in printed if line.strip() and line not in doc]
    assert not missing, f"docs/validation.md is stale; rerun python -m validation.demo_numbers: {missing[:3]}"
    verdicts = [line.split()[-1] for line in printed if line.startswith(("length_only", "signal_in"))]
    assert verdicts == ["fail"] * 5 + ["PASS"]


def test_json_output_has_every_field(capsys):
    import json

    assert demo_numbers.main(["--json", "--resamples", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["dimension"] for r in data["gate"] if r["passed"]} == {"bond"}
    assert all(r["mae_after"] < r["mae_before"] for r in data["calibration"])
