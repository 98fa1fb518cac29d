"""`alliance-monitor token issue` and `alliance-monitor gateway` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import orjson
import pytest

from alliance_monitor.cli import main
from gateway.auth import verify_token

SECRET = "cli-test-secret-0123456789"


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("ALLIANCE_GATEWAY_SECRET", SECRET)


def test_token_issue_prints_a_verifiable_token(secret_env, capsys):
    assert main(["token", "issue", "--role", "supervisor", "--group", "ward-3", "--ttl", "90m"]) == 0
    tok = capsys.readouterr().out.strip()
    viewer = verify_token(SECRET.encode(), tok)
    assert viewer.groups == {"ward-3"} and viewer.expires_at - time.time() == pytest.approx(5400, abs=5)
    assert main(["token", "issue", "--role", "counselor", "--counselor-id", "c-1"]) == 0
    assert verify_token(SECRET.encode(), capsys.readouterr().out.strip()).counselor_id == "c-1"


@pytest.mark.parametrize("argv, message", [
    (["token", "issue", "--role", "supervisor"], "needs --group"),
    (["token", "issue", "--role", "counselor"], "needs --counselor-id"),
    (["token", "issue", "--role", "counselor", "--counselor-id", "c", "--all"], "drop --group/--all"),
    (["token", "issue", "--role", "supervisor", "--all", "--ttl", "soon"], "--ttl must look like"),
    (["token", "issue", "--role", "boss"], "invalid choice"),
    (["gateway", "--port", "99999"], "--port must be between"),
    (["gateway", "--origin", "evil.example"], "--origin must look like"),
    (["gateway", "--tls-cert", "cert.pem"], "needs both --tls-cert and --tls-key"),
    (["gateway", "--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"], "--tls-cert /no/cert.pem: no such file"),
    (["ingest", "--tls-key", "key.pem"], "needs both --tls-cert and --tls-key"),
    (["gateway", "--hello-timeout", "0"], "--hello-timeout must be greater than 0"),
    (["gateway", "--trusted-proxy", "10.0.0.0/33"], "expected an address or CIDR network"),
    (["gateway", "--observer", "localhost"], "expected an address or CIDR network"),
    (["gateway", "--reconnect-rate", "-1"], "--reconnect-rate"),
    (["up", "--unhealthy-grace", "soon"], "--unhealthy-grace"),
])
def test_bad_arguments_give_one_line_and_nonzero_exit(secret_env, capsys, argv, message):
    assert run_cli(argv) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_secret_is_one_line(monkeypatch, capsys):
    monkeypatch.delenv("ALLIANCE_GATEWAY_SECRET", raising=False)
    assert main(["token", "issue", "--role", "supervisor", "--all"]) == 2
    assert capsys.readouterr().err.strip() == (
        "alliance-monitor: set ALLIANCE_GATEWAY_SECRET to a random secret of at least 16 bytes")


def run_cli(argv: list[str]) -> int:
    """Exit code of the CLI, whether argparse exits or a command returns."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.integration
def test_gateway_command_serves_health_and_stops_on_sigterm(kafka_bootstrap):
    env = dict(os.environ, ALLIANCE_GATEWAY_SECRET=SECRET, KAFKA_BOOTSTRAP=kafka_bootstrap)
    proc = subprocess.Popen([sys.executable, "-m", "alliance_monitor.cli", "gateway", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"health (http://\S+/healthz)", line)
        assert match, f"unexpected first line {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        health = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(match.group(1), timeout=5) as resp:
                    health = orjson.loads(resp.read())
                    break
            except OSError:  # 503 while catching up
                time.sleep(0.2)
        assert health and health["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
