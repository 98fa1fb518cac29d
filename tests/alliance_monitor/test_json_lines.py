"""With ALLIANCE_LOG_FORMAT=json a service part's own lines are JSON records too."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from alliance_monitor.logs import JsonLines


def test_plain_lines_become_records_and_records_pass_through():
    out = io.StringIO()
    stream = JsonLines(out, "processor", "stdout")
    stream.write("processor assignment: chat.turns partitions [0, 1]\n\x08\x1b[?25hprocessor stopped: turns=0\n")
    stream.write('{"level": "info", "msg": "already a record"}\n\n')
    stream.write("alliance-monitor: no broker")
    stream.flush()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["msg"] for r in records] == ["processor assignment: chat.turns partitions [0, 1]",
                                          "processor stopped: turns=0", "already a record", "alliance-monitor: no broker"]
    assert records[0]["part"] == "processor" and records[0]["logger"] == "stdout" and records[0]["level"] == "info"
    assert records[-1]["level"] == "error"


def test_a_service_part_writes_only_json_and_a_command_for_people_stays_plain(tmp_path):
    env = {**os.environ, "ALLIANCE_LOG_FORMAT": "json", "ALLIANCE_STATE_DIR": str(tmp_path),
           "ALLIANCE_INGEST_TOKENS": "t=" + "x" * 20}
    env.pop("KAFKA_BOOTSTRAP", None)
    part = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "ingest", "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    lines = [line for line in (part.stdout + part.stderr).splitlines() if line.strip()]
    assert part.returncode == 2 and lines and all(line.startswith("{") for line in lines), lines
    assert "KAFKA_BOOTSTRAP is not set" in json.loads(lines[-1])["msg"]
    listing = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "topics"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert listing.returncode == 0 and listing.stdout.startswith("topic ")
