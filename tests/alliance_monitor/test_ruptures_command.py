"""``alliance-monitor ruptures``: the sample table offline, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "ruptures", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_samples_table():
    res = run("samples/")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split()[1:5] for line in res.stdout.splitlines()[1:]}
    assert rows["s01_steady_good_alliance_en.jsonl"] == ["–", "none"]
    assert rows["s04_confrontation_repaired_en.jsonl"] == ["1", "confrontation", "repaired", "middle"]
    assert rows["s06_over_directing_zh.jsonl"] == ["1", "mixed", "unrepaired", "early"]
    # turn ids and cue names only: no message text of any sample
    assert "dishwasher" not in res.stdout and "十点" not in res.stdout


def test_json_lines_are_rupture_episodes():
    res = run("--json", "samples/s02_bond_rupture_middle_en.jsonl")
    assert res.returncode == 0, res.stderr
    (episode,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert (episode["kind"], episode["status"], episode["repair_moves"][0]["turn_id"]) == ("withdrawal", "unrepaired", 49)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    missing = run(str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"session_id": "x", "turn_id": "zero"}\n', encoding="utf-8")
    broken = run(str(bad))
    assert broken.returncode == 2 and "bad line" in broken.stderr and "Traceback" not in broken.stderr
    assert run(str(tmp_path)).returncode == 2  # a directory with no replay files
