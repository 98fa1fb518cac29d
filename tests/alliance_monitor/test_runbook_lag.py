"""The runbook's lag command (docs/runbook.md, "Reading lag"), run as written against a real scorer and broker.

The `alliance-monitor status` line is read from the runbook's block, so the doc cannot drift from what
runs; only its placeholders are filled in (``KAFKA_BOOTSTRAP=...`` and the port-forwarded 8080, here the
scorer's own health port). The block's `kafka-consumer-groups.sh` and `kubectl port-forward` lines need a
Kafka distribution and a cluster, which this machine does not have.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests.alliance_monitor.test_parts_run_like_services import ROOT, _free_port
from tests.kafka_helpers import produce
from tests.scoring.helpers import EN_SESSION
from tests.scoring.test_worker import WorkerProcess, _request

pytestmark = [pytest.mark.model, pytest.mark.integration]


def status_line() -> str:
    text = (ROOT / "docs" / "runbook.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text.split("## Reading lag", 1)[1], re.S).group(1)
    return next(ln for ln in block.splitlines() if "alliance-monitor status" in ln)


def test_the_runbooks_lag_command_shows_the_scorer_and_its_groups_lag(tiny_model, tmp_path):
    from streams.broker import EmbeddedBroker, ensure_topics

    line = status_line()
    assert line.startswith("KAFKA_BOOTSTRAP=... alliance-monitor status --parts scorer=http://127.0.0.1:8080"), line
    port = _free_port()
    with EmbeddedBroker() as broker:  # its own: the scorer's group reads alliance.requests from the start
        ensure_topics(broker.bootstrap)
        reqs = [_request(f"lag-{i}", "early", EN_SESSION[:4]) for i in range(2)]
        produce(broker.bootstrap, "alliance.requests", [(r.session_id, r) for r in reqs])
        worker = WorkerProcess(broker.bootstrap, "alliance-scorer", str(tiny_model.path))
        worker.cmd += ["--health-port", str(port)]
        worker.start()
        try:
            deadline = time.monotonic() + 300
            while sum("scored " in ln for ln in worker.lines) < len(reqs):
                assert time.monotonic() < deadline and worker.proc.poll() is None, "\n".join(worker.lines[-20:])
                time.sleep(0.5)
            words = shlex.split(line.split("#", 1)[0].replace("...", broker.bootstrap).replace(":8080", f":{port}"))
            env_words = [w for w in words if re.match(r"[A-Z_]+=", w)]  # the leading VAR=value words
            env = dict(w.split("=", 1) for w in env_words)
            argv = words[len(env_words):]
            assert argv[0] == "alliance-monitor"
            clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIANCE_", "KAFKA_"))}
            clean.update(PYTHONPATH=str(ROOT), ALLIANCE_STATE_DIR=str(tmp_path), **env)
            deadline = time.monotonic() + 60
            while True:  # the commit follows the last score by a moment
                out = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", *argv[1:]], env=clean,
                                     capture_output=True, text=True, timeout=120)
                scorer_group = [ln for ln in out.stdout.splitlines() if ln.strip().startswith("alliance-scorer")]
                if out.returncode == 0 and scorer_group and scorer_group[0].split()[1:] == ["lag", "0"]:
                    break
                assert time.monotonic() < deadline, out.stdout + out.stderr
                time.sleep(1)
        finally:
            worker.kill(signal.SIGTERM)
    print(out.stdout)
    first = out.stdout.splitlines()[0].split()
    assert first[:2] == ["scorer", "ready"], out.stdout
    assert "/s" in out.stdout  # --interval 5: counters per second too
    assert f"broker {broker.bootstrap}" in out.stdout
