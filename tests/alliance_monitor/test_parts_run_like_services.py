"""Every long-running part: JSON logs without message text, GET /healthz, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "my-very-private-sentence-about-sleep"
TOKEN = "test-platform-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Part:
    """``alliance-monitor <args>`` as a real subprocess with its output collected."""

    def __init__(self, *args: str, **env: str):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_")}
        clean.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "alliance_monitor.cli", *args], env=clean,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(ln.rstrip("\n") for ln in self.proc.stdout),
                         daemon=True).start()

    def health(self, port: int, timeout: float = 120) -> int:
        """The first 200 from /healthz (after 503s while starting), or the last status seen."""
        deadline, status = time.monotonic() + timeout, 0
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    return resp.status
            except urllib.error.HTTPError as err:
                status = err.code
            except OSError:
                pass
            time.sleep(0.3)
        assert self.proc.poll() is None, "\n".join(self.lines[-30:])
        return status

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("did not exit after SIGTERM:\n" + "\n".join(self.lines[-30:])) from None


pytestmark = pytest.mark.integration


def test_ingest_logs_json_without_text_serves_health_and_stops_on_sigterm(private_kafka):
    port = _free_port()
    part = Part("ingest", "--port", str(port), KAFKA_BOOTSTRAP=private_kafka, ALLIANCE_LOG="info",
                ALLIANCE_LOG_FORMAT="json", ALLIANCE_INGEST_TOKENS=f"test={TOKEN}")
    try:
        assert part.health(port) == 200
        turn = {"session_id": f"logs-{port}", "turn_id": 0, "speaker": "client", "text": SENTINEL,
                "sent_at": "2026-03-02T09:00:00Z", "counselor_id": "c-1"}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/records", json.dumps([turn, {"text": SENTINEL}]).encode(),
                                     {"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert json.load(resp)["accepted"] == 1
    finally:
        assert part.terminate() == 0
    logs = [json.loads(ln) for ln in part.lines if ln.startswith("{")]
    assert any(r["logger"] == "ingest.server" and "1 accepted" in r["msg"] and r["part"] == "ingest" for r in logs)
    assert all({"ts", "level", "part", "logger", "msg"} <= set(r) for r in logs)
    assert not any(SENTINEL in ln for ln in part.lines)


def test_sink_and_processor_serve_health_and_stop_on_sigterm(private_kafka, tmp_path):
    sink_port, proc_port = _free_port(), _free_port()
    sink = Part("sink", "--db", f"sqlite:///{tmp_path / 'store.db'}", "--group", f"health-{sink_port}",
                KAFKA_BOOTSTRAP=private_kafka, ALLIANCE_HEALTH_PORT=str(sink_port))
    processor = Part("process", "--app-id", f"health-{proc_port}", KAFKA_BOOTSTRAP=private_kafka,
                     ALLIANCE_PROCESS_HEALTH_PORT=str(proc_port), ALLIANCE_DB_URL=f"sqlite:///{tmp_path / 'r.db'}",
                     ALLIANCE_STATE_DIR=str(tmp_path / "state"))
    try:
        assert sink.health(sink_port) == 200
        assert processor.health(proc_port, timeout=180) == 200
        assert any("processor ready" in ln for ln in processor.lines)
    finally:
        assert sink.terminate() == 0, "\n".join(sink.lines[-20:])
        assert processor.terminate() == 0, "\n".join(processor.lines[-20:])
    assert any("sink stopped" in ln for ln in sink.lines)
    assert any("processor stopped" in ln for ln in processor.lines)


def test_json_formatter_keeps_fields_and_never_adds_record_content():
    import logging

    from alliance_monitor.logs import JsonFormatter

    record = logging.LogRecord("scoring.worker", logging.WARNING, "x.py", 1, "scored %s in %d ms", ("s:early", 12),
                               None)
    record.session_id = "s"
    out = json.loads(JsonFormatter("scorer").format(record))
    assert out["msg"] == "scored s:early in 12 ms" and out["level"] == "warning" and out["session_id"] == "s"
    assert out["part"] == "scorer"
