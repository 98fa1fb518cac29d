"""The whole pipeline as real child processes, for end-to-end and fault tests.

``Pipeline`` owns a fresh embedded broker and runs the real console script for
each part (``process``, ``score``, ``sink``, ``gateway``) as a subprocess, with
the same :class:`alliance_monitor.up.Child` shell that ``alliance-monitor up``
uses. Tests can kill (SIGKILL), stop and restart any part. ``Viewer`` is a real
websocket client that reconnects and resumes like the pages do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from alliance_monitor.supervision import RestartPolicy
from alliance_monitor.up import Child, ChildSpec, http_probe
from streams.broker import EmbeddedBroker, ensure_topics
from streams.contracts import ChatTurn, SessionEvent

SECRET = "e2e-secret-0123456789abcdef-0123"

# A short session (12 planned minutes, boundaries at 4, 8 and 12 min) written so that the
# counselor starts rushing in the middle phase and the client withdraws. Short on purpose:
# every phase is scored by the real model on the CPU, several times per test run.
SCRIPT: list[tuple[float, str, str]] = [
    (0.3, "counselor", "Hi, I'm glad you reached out. What would you like to talk about today?"),
    (0.9, "client", "I've been really stressed about my exams and I can't sleep properly anymore."),
    (1.4, "counselor", "Exams are weighing on you, and it's costing you sleep. What is the hardest part right now?"),
    (2.1, "client", "Mostly at night. I lie awake thinking about failing and letting my parents down."),
    (2.7, "counselor", ("So the worry gets loudest at night, and part of it is about your parents. "
                        "What would you like to be different by the end of our talk?")),
    (3.3, "client", "I'd like to have some way to calm down at night, and maybe a plan for studying."),
    (3.8, "counselor", "Calmer nights and a study plan. Shall we start with the nights?"),
    (4.2, "client", "Yes, that sounds good."),
    (4.6, "counselor", "How many hours do you sleep?"),
    (4.8, "client", "maybe 5"),
    (5.0, "counselor", "Do you use your phone in bed? Do you drink coffee? When do you study?"),
    (5.4, "client", "sometimes"),
    (5.6, "counselor", "You should stop using the phone after ten and no coffee after lunch. Have you tried melatonin?"),
    (6.3, "client", "ok"),
    (6.5, "counselor", "And you should make a timetable. Did you make one? Why not?"),
    (7.4, "client", "idk"),
    (7.6, "counselor", "Which exam is first? How much have you prepared?"),
    (8.5, "client", "math. not much"),
    (8.8, "counselor", "I notice I have been firing a lot of questions and advice at you. How is this going for you?"),
    (9.6, "client", "honestly it felt a bit like a checklist. I already know I should sleep more."),
    (10.0, "counselor", "Thank you for telling me. You're right, you know that already. What would actually help?"),
    (10.8, "client", "maybe just figuring out why my mind races at night"),
    (11.2, "counselor", "Let's look at that together: what goes through your mind when you lie down?"),
    (11.7, "client", "that I'm behind and everyone else has it together"),
]
PLANNED_MINUTES = 12.0


def session_events(session_id: str, counselor_id: str, group: str, start: datetime,
                   *, ended: bool = True) -> list:
    events: list = [SessionEvent(session_id=session_id, kind="started", at=start, counselor_id=counselor_id,
                                 planned_minutes=PLANNED_MINUTES, group=group, lang="en")]
    for i, (minute, speaker, text) in enumerate(SCRIPT):
        events.append(ChatTurn(session_id=session_id, turn_id=i, speaker=speaker, text=text,
                               sent_at=start + timedelta(minutes=minute), counselor_id=counselor_id, lang="en"))
    if ended:
        events.append(SessionEvent(session_id=session_id, kind="ended", at=start + timedelta(minutes=PLANNED_MINUTES),
                                   counselor_id=counselor_id, planned_minutes=PLANNED_MINUTES, group=group,
                                   lang="en"))
    return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Pipeline:
    """Broker + processor + scorer + sink + gateway, each a real subprocess."""

    workdir: Path
    db_url: str
    engine: str = "vllm"
    clock_rate: float = 40.0
    extra_env: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker().start()
        ensure_topics(self.broker.bootstrap)
        self.port = free_port()
        self.env = {
            "KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "ALLIANCE_DB_URL": self.db_url,
            "ALLIANCE_GATEWAY_SECRET": SECRET,
            "ALLIANCE_STATE_DIR": str(self.workdir / "state"),
            **self.extra_env,
        }
        self.specs = {
            "processor": ChildSpec("processor", ["process", "--app-id", "e2e-processor", "--clock-rate",
                                                 str(self.clock_rate), "--signal-interval", "0.5"], self.env),
            "scorer": ChildSpec("scorer", ["score", "--engine", self.engine, "--rationale", "alerts",
                                           "--rationale-tokens", "24", "--max-model-len", "4096"], self.env),
            "sink": ChildSpec("sink", ["sink", "--upgrade"], self.env),
            "gateway": ChildSpec("gateway", ["gateway", "--port", str(self.port)], self.env,
                                 probe=http_probe(f"http://127.0.0.1:{self.port}/healthz")),
        }
        self.children = {n: Child(s, self.workdir / "logs", RestartPolicy()) for n, s in self.specs.items()}
        (self.workdir / "logs").mkdir(exist_ok=True)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, *names: str) -> None:
        for n in names or tuple(self.children):
            self.children[n].start()

    def kill(self, name: str) -> None:
        """SIGKILL the part and its process group: a crash, not a shutdown."""
        child = self.children[name]
        proc, child.proc = child.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self, name: str) -> None:
        self.children[name].stop()

    def running(self, name: str) -> bool:
        return self.children[name].poll() is None and self.children[name].proc is not None

    def wait_gateway(self, timeout: float = 60.0) -> None:
        probe = http_probe(f"http://127.0.0.1:{self.port}/healthz")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe()[0]:
                return
            self.assert_alive("gateway")
            time.sleep(0.2)
        raise AssertionError(f"gateway not healthy after {timeout}s; log:\n{self.log('gateway')[-3000:]}")

    def assert_alive(self, *names: str) -> None:
        for n in names or tuple(self.children):
            c = self.children[n]
            if c.proc is not None and c.poll() is not None:
                raise AssertionError(f"{n} exited with {c.poll()}; log:\n{self.log(n)[-3000:]}")

    def log(self, name: str) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for c in self.children.values():
            c.stop()
        self.broker.stop()


# --- reading topics ------------------------------------------------------------------------


def read_topic(bootstrap: str, topic: str, contract, *, session_id: str | None = None) -> list:
    """Everything currently on a topic (decoded), optionally for one session."""
    from streams.codec import decode
    from streams.errors import ContractError
    from tests.kafka_helpers import consume_all_sync

    recs = consume_all_sync(bootstrap, topic, idle=1.0, timeout=30,
                            where=(lambda r: r.key and r.key.decode() == session_id) if session_id else None)
    out = []
    for r in recs:
        try:
            out.append(decode(contract, r.value))
        except ContractError:
            pass
    return out


def wait_until(predicate, *, timeout: float, what: str, pipeline: Pipeline | None = None, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if pipeline is not None:
            pipeline.assert_alive(*[n for n, c in pipeline.children.items() if c.proc is not None])
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# --- a websocket viewer that resumes like the pages do ---------------------------------------


class Viewer:
    """A real websocket client in a background thread; reconnects with its cursor."""

    def __init__(self, url: str, token: str, name: str):
        self.url, self.token, self.name = url, token, name
        self.messages: list[dict] = []
        self.cursor: dict | None = None
        self.connects = 0
        self.gaps = 0
        self.closes: list[tuple[int | None, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        while not self._stop.is_set():
            try:
                async with connect(self.url, open_timeout=5) as ws:
                    hello = {"type": "hello", "token": self.token}
                    if self.cursor is not None:
                        hello["resume"] = self.cursor
                    await ws.send(orjson.dumps(hello).decode())
                    self.connects += 1
                    while not self._stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.5)
                        except asyncio.TimeoutError:
                            continue
                        msg = orjson.loads(raw)
                        self.messages.append(msg)
                        kind = msg.get("type")
                        if kind in ("snapshot", "position") and msg.get("cursor") is not None:
                            self.cursor = dict(msg["cursor"])
                        elif kind == "event":
                            topic, part, offset = msg["id"].rsplit(":", 2)
                            self.cursor = dict(self.cursor or {})
                            self.cursor[f"{topic}:{part}"] = int(offset)
                        elif kind == "gap":
                            self.gaps += 1
            except ConnectionClosed as err:
                self.closes.append((err.rcvd.code if err.rcvd else None, err.rcvd.reason if err.rcvd else ""))
            except (OSError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.3)

    def alerts(self, session_id: str) -> dict[str, dict]:
        """Alerts seen live, in a snapshot, or in a session summary (what the board shows), by id.

        Topics have no common order: an alert can reach the gateway before its
        session's ``started`` names the group, so a group supervisor first sees it
        in the summary that comes with ``started`` rather than as a live event.
        """
        out: dict[str, dict] = {}
        for m in self.messages:
            if m.get("type") == "event" and m.get("session_id") == session_id:
                if m.get("kind") == "alert":
                    out[m["data"]["alert_id"]] = m["data"]
                for a in (m.get("summary") or {}).get("alerts", []):
                    out.setdefault(a["alert_id"], a)
            elif m.get("type") == "snapshot":
                for s in m.get("sessions", []):
                    if s.get("session_id") == session_id:
                        for a in s.get("alerts", []):
                            out.setdefault(a["alert_id"], a)
        return out

    def alert_ids(self, session_id: str) -> set[str]:
        return set(self.alerts(session_id))

    def events(self, session_id: str, kind: str) -> list[dict]:
        return [m for m in self.messages
                if m.get("type") == "event" and m.get("kind") == kind and m.get("session_id") == session_id]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
