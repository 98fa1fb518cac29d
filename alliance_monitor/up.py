"""The supervisor behind ``alliance-monitor up``: one process that owns the whole pipeline's children.

It starts (or reuses) the broker, then the processor, the scoring worker, the
sink and the gateway as child processes of the same console script, restarts a
child that crashes (with backoff, see :mod:`alliance_monitor.supervision`),
prints which part is unhealthy, and on Ctrl-C / SIGTERM stops every child, so
nothing is left running. ``alliance-monitor demo`` (in :mod:`alliance_monitor.demo`)
drives it with the sample sessions; the commands are in
:mod:`alliance_monitor.commands.up` and :mod:`alliance_monitor.commands.demo`.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .supervision import ChildHealth, RestartPolicy, State, all_healthy, status_line

#: The parts, in start order. Each is ``alliance-monitor <argv...>``.
PARTS = ("processor", "scorer", "sink", "gateway")


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: extra health probe beyond "the process is running"; returns (ok, detail)
    probe: Callable[[], tuple[bool, str]] | None = None
    #: readiness probe for parts without HTTP: healthy once this run has written
    #: this line to its log (e.g. the processor after joining the group and
    #: recovering its tables, the scorer after loading the model)
    ready_line: str | None = None
    grace_s: float = 2.0  # running this long counts as started when there is no probe
    #: where the part answers /healthz and /metrics (``alliance-monitor status`` reads it from parts.json)
    health_url: str | None = None


class Child:
    """A supervised subprocess (thin shell over :class:`ChildHealth`)."""

    def __init__(self, spec: ChildSpec, log_dir: Path, policy: RestartPolicy):
        self.spec = spec
        self.health = ChildHealth(spec.name, policy)
        self.log_path = log_dir / f"{spec.name}.log"
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self._log_from = 0  # where this run's output starts in the log
        self._ready = False

    def start(self) -> None:
        env = {**os.environ, **self.spec.env}
        log = open(self.log_path, "ab")
        self._log_from = log.tell()
        self._ready = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alliance_monitor.cli", *self.spec.argv],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # Ctrl-C reaches only the supervisor, which stops us in order
        )
        log.close()
        self.started_at = time.monotonic()
        self.health.started(self.started_at)

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def check(self) -> bool:
        """Probe health; True when the state changed."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        if self.spec.probe is not None:
            ok, detail = self.spec.probe()
        elif self.spec.ready_line is not None:
            ok, detail = self._ready_probe(), f"not ready yet (no {self.spec.ready_line!r} in its log)"
        else:
            ok, detail = time.monotonic() - self.started_at >= self.spec.grace_s, "starting"
        return self.health.probe(ok, detail, time.monotonic())

    def _ready_probe(self) -> bool:
        line = self.spec.ready_line
        if not self._ready and line is not None:
            try:
                with open(self.log_path, "rb") as f:
                    f.seek(self._log_from)
                    self._ready = line.encode() in f.read()
            except OSError:
                return False
        return self._ready

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            if self.health.state != State.FAILED:  # keep the verdict for the caller
                self.health.state = State.STOPPED
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
        self.health.state = State.STOPPED


def http_probe(url: str) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                return resp.status == 200, f"HTTP {resp.status}"
        except Exception as err:  # noqa: BLE001 - any failure is "unhealthy"
            return False, type(err).__name__
    return probe


class Supervisor:
    """Owns the children: start in order, watch, restart, stop everything."""

    def __init__(self, specs: list[ChildSpec], log_dir: Path, *, policy: RestartPolicy | None = None,
                 say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.children = [Child(s, log_dir, policy or RestartPolicy()) for s in specs]
        self.say = say
        self.stopping = threading.Event()
        self._last_status = ""

    def start(self) -> None:
        for c in self.children:
            c.start()
            self.say(f"started {c.spec.name} (log: {c.log_path})")

    def step(self) -> None:
        """One supervision round: notice exits, restart due children, probe health."""
        now = time.monotonic()
        changed = False
        for c in self.children:
            code = c.poll()
            if code is not None and c.health.state not in (State.BACKOFF, State.FAILED, State.STOPPED):
                c.proc = None
                state = c.health.exited(code, now)
                changed = True
                if state == State.FAILED:
                    self.say(f"{c.spec.name} failed: {c.health.detail}; see {c.log_path}")
                else:
                    self.say(f"{c.spec.name} exited with code {code}; restarting in "
                             f"{(c.health.restart_at or now) - now:.0f}s (see {c.log_path})")  # set: BACKOFF
            if c.health.due(now):
                c.health.restarting()
                c.start()
                self.say(f"restarted {c.spec.name} (restart #{c.health.restarts})")
                changed = True
            changed |= c.check()
            if c.health.stuck(time.monotonic()):
                detail = c.health.detail
                c.stop()
                c.health.restarting_unhealthy()
                c.start()
                grace = c.health.policy.unhealthy_grace(c.health.unhealthy_restarts)
                self.say(f"restarted {c.spec.name}: unhealthy ({detail}) for longer than its grace "
                         f"(restart #{c.health.restarts}; next grace {grace:g}s; see {c.log_path})")
                changed = True
        status = status_line([c.health for c in self.children])
        if changed and status != self._last_status:
            self.say(f"status: {status}")
            self._last_status = status

    def healthy(self) -> bool:
        return all_healthy([c.health for c in self.children])

    def failed(self) -> list[str]:
        return [c.spec.name for c in self.children if c.health.state == State.FAILED]

    def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            self.step()
            if self.healthy():
                return True
            if self.failed():
                return False
            time.sleep(0.25)
        return self.healthy()

    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        while not self.stopping.is_set() and not until():
            self.step()
            self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()
        for c in reversed(self.children):
            c.stop()
        self.say("all parts stopped")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_health(spec: ChildSpec) -> ChildSpec:
    """One health mechanism for every part: the same ``/healthz`` an orchestrator probes
    (``--health-port``, alliance_monitor/health.py), here on a free local port."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    return ChildSpec(spec.name, [*spec.argv, "--health-port", str(port)], spec.env,
                     probe=http_probe(f"{url}/healthz"), health_url=url)


def replica_names(part: str, count: int) -> list[str]:
    """``processor`` for one worker (the name every status line and log used so far), ``processor-1..N`` for more.

    Replicas of a part run the same command: the processors and scorers share one
    consumer group each (the broker splits the partitions between them), the gateways
    each read every topic and differ only in their port.
    """
    return [part] if count <= 1 else [f"{part}-{i}" for i in range(1, count + 1)]


def default_specs(args: argparse.Namespace, bootstrap: str) -> list[ChildSpec]:
    env = {"KAFKA_BOOTSTRAP": bootstrap}
    if getattr(args, "db_url", None):
        env["ALLIANCE_DB_URL"] = args.db_url
    if getattr(args, "trusted_source", None):  # the one variable every part that reads session records takes
        env["ALLIANCE_TRUSTED_SOURCE"] = ",".join(args.trusted_source)
    wanted = [p for p in PARTS if p not in set(args.without or [])]
    specs: list[ChildSpec] = []
    for part in wanted:
        if part == "processor":
            argv = ["process"]
            if args.clock_rate:
                argv += ["--clock-rate", str(args.clock_rate)]
            for name in replica_names("processor", getattr(args, "processors", 1)):
                specs.append(_with_health(ChildSpec(name, argv, env)))
        elif part == "scorer":
            argv = ["score", "--engine", args.engine]
            if args.model:
                argv += ["--model", args.model]
            for name in replica_names("scorer", getattr(args, "scorers", 1)):
                specs.append(_with_health(ChildSpec(name, argv, env)))
        elif part == "sink":
            specs.append(_with_health(ChildSpec("sink", ["sink"], env)))
        elif part == "gateway":
            local = "127.0.0.1" if args.host in ("0.0.0.0", "", "::") else args.host
            for i, name in enumerate(replica_names("gateway", getattr(args, "gateways", 1))):
                port = args.port + i
                specs.append(ChildSpec(name, ["gateway", "--host", args.host, "--port", str(port)], env,
                                       probe=http_probe(f"http://{local}:{port}/healthz"),
                                       health_url=f"http://{local}:{port}"))
    if getattr(args, "survey_links", None):  # docs/ratings.md: a survey link per ended session
        specs.append(_with_health(ChildSpec("survey-links", ["survey", "publish-links", "--base-url",
                                                             args.survey_links], env)))
    return specs


PARTS_FILE = "parts.json"


def write_parts(path: Path, specs: list[ChildSpec]) -> None:
    """Tell ``alliance-monitor status`` where this machine's parts answer (name -> health URL, pid)."""
    parts = {s.name: s.health_url for s in specs if s.health_url}
    path.write_text(json.dumps({"pid": os.getpid(), "parts": parts}))


def clear_parts(path: Path) -> None:
    """Remove the parts file if this supervisor wrote it (a newer ``up`` may own it now)."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (FileNotFoundError, ValueError, AttributeError):
        pass


def read_parts(path: Path) -> dict[str, str]:
    """The parts a running ``up`` on this machine listed; empty when none runs."""
    try:
        data = json.loads(path.read_text())
        os.kill(int(data["pid"]), 0)
        return {str(k): str(v) for k, v in data["parts"].items()}
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError, ProcessLookupError, PermissionError):
        return {}


def gate_status(model: str | None, db_url: str | None) -> str:
    """One line: is the scoring model validated (docs/validation.md), i.e. may its alerts reach counselors?"""
    try:
        from scoring.models import resolve
        from scoring.prompts import PROMPT_VERSION
        from store.records import load_record_book
        from streams.contracts import ModelIdentity

        ref = resolve(model)
        identity = ModelIdentity(name=ref.name, revision=ref.revision, prompt_version=PROMPT_VERSION)
        record = load_record_book(db_url).for_model(identity)
    except Exception as err:  # noqa: BLE001 - a status line must never stop the pipeline
        return f"validation gate: could not check the model ({type(err).__name__}); its alerts count as unvalidated"
    passed = record.passed_dimensions() if record is not None else []
    if record is None or not passed:
        return (f"validation gate: model {identity.name} is UNVALIDATED — its alerts and scores go to supervisors "
                f"only, marked 'unvalidated' (validate with `alliance-monitor eval --from-store` or `--labels FILE`)")
    return (f"validation gate: model {identity.name} is validated for {', '.join(passed)} (record of "
            f"{record.created_at:%Y-%m-%d}, {record.labels_n} labelled sessions)")
