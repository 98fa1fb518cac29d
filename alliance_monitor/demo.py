"""``alliance-monitor demo``: the sample sessions through the whole pipeline.

On embedded defaults: the embedded broker, the processor, the CPU scoring worker
with the demo model, the sink into a fresh SQLite file, and the gateway with the
supervisor board. The samples are replayed at ``--speed`` with their event times
moved to now (so the board's elapsed times are live); alerts are printed as they
happen with their evidence; at the end the phase-wise summary is printed. Ctrl-C
stops every part (see :mod:`alliance_monitor.up`).
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import asyncio
import os
import secrets
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from streams import environment
from validation.gate import GATE_VALIDATED, episode_reaches_counselor, gate_label, is_process_alert

if TYPE_CHECKING:
    from streams.contracts import AllianceAlert, AllianceScore, RuptureEpisode



def say(msg: str) -> None:
    print(msg, flush=True)


# --- what the terminal shows -------------------------------------------------------------


def format_alert(alert) -> str:
    """An alert with its evidence, as the demo prints it."""
    arrow = ""
    if alert.previous is not None and alert.current is not None:
        arrow = f" {alert.previous:.2f} → {alert.current:.2f}"
    elif alert.current is not None:
        arrow = f" {alert.current:.2f}"
    gate = gate_label(alert)  # the routing decision of validation/gate.py (and validation/detectors.py)
    if is_process_alert(alert):  # from the process-signal rules: gated like a model, by their own record
        what = f"process signal {(alert.signal or '').replace('_', ' ')}".rstrip()
        audience = "validated" if gate == GATE_VALIDATED else "UNVALIDATED rule: supervisors only"
    else:
        what = f"{alert.dimension} {alert.kind}"
        audience = "validated" if gate == GATE_VALIDATED else "UNVALIDATED model: supervisors only"
    lines = [(f"ALERT  {alert.severity.upper():8} {alert.session_id} (counselor {alert.counselor_id}), "
              f"{alert.phase} phase: {what}{arrow}  [{audience}]")]
    if alert.message:
        lines.append(f"       {alert.message}")
    for ev in alert.evidence[:3]:
        moved = ""
        if ev.previous is not None and ev.current is not None:
            moved = f" {ev.previous:.2f}→{ev.current:.2f}"
        head = f"       · {ev.item_id or ev.dimension}{moved}"
        if ev.note:
            head += f": {ev.note}"
        verified = sum(1 for q in ev.quotes if q.verified)
        if verified:  # chat text: shown on the board to a token with this session in scope, never on stdout
            head += f"  [{verified} verified quote{'s' if verified != 1 else ''} (on the board)]"
        lines.append(head)
    return "\n".join(lines)


def format_score(score) -> str:
    dims = "  ".join(f"{d} {s.score:.2f}" for d, s in score.dimensions.items())
    return (f"score  {score.session_id} {score.phase:6}: {dims}   "
            f"({score.prompt_tokens} prompt tokens, {score.cached_tokens} cached, {score.latency_ms / 1000:.1f}s)")


def format_episode(episode) -> str:
    """A rupture episode change, as the demo prints it (turn ids and cue names, no text)."""
    audience = ("counselor and supervisors" if episode_reaches_counselor(episode)  # validation/gate.py decides
                else "UNVALIDATED rule: supervisors only" if "markers" in episode.sources
                else "UNVALIDATED model: supervisors only")
    turns = ", ".join(f"{m.turn_id} {m.cue.replace('_', ' ')}" for m in episode.markers[:4])
    more = f" +{len(episode.markers) - 4}" if len(episode.markers) > 4 else ""
    line = (f"RUPTURE {episode.kind} {episode.status.replace('_', ' ')}  {episode.session_id} "
            f"(counselor {episode.counselor_id}), {episode.phase} phase, from turn {episode.opened_turn_id}"
            f"  [{audience}]")
    detail = f"        markers: {turns}{more}" if turns else "        opened by a model drop"
    if episode.repair_moves:
        detail += "; repair: " + ", ".join(f"{m.turn_id} {m.cue.replace('_', ' ')}" for m in episode.repair_moves[:3])
    if episode.reengaged_turn_id is not None:
        detail += f"; client re-engaged at {episode.reengaged_turn_id}"
    return line + "\n" + detail


class EventPrinter:
    """Follows alliance.scores, alliance.alerts and alliance.ruptures from now on and prints them."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.scores: dict[str, AllianceScore] = {}
        self.alerts: dict[str, AllianceAlert] = {}
        self.episodes: dict[str, RuptureEpisode] = {}  # newest version per episode
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> "EventPrinter":
        self.thread.start()
        self.ready.wait(30)
        return self

    async def _run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from streams.codec import decode
        from streams.contracts import AllianceAlert, AllianceScore, RuptureEpisode
        from streams.errors import ContractError
        from streams.kafka_security import kafka_security
        from streams.topics import ALERTS, RUPTURES, SCORES

        contracts: dict[str, type[AllianceScore | AllianceAlert | RuptureEpisode]] = {SCORES.name: AllianceScore, ALERTS.name: AllianceAlert, RUPTURES.name: RuptureEpisode}
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **kafka_security(), enable_auto_commit=False,
                             fetch_max_wait_ms=100)
        await c.start()
        try:
            tps = [TopicPartition(t, p) for t in contracts for p in sorted(c.partitions_for_topic(t) or [])]
            c.assign(tps)
            await c.seek_to_end(*tps)
            for tp in tps:
                await c.position(tp)
            self.ready.set()
            while not self.stop.is_set():
                batch = await c.getmany(timeout_ms=200)
                for tp, recs in batch.items():
                    for r in recs:
                        try:
                            ev = decode(contracts[tp.topic], r.value)
                        except ContractError:
                            continue
                        if isinstance(ev, AllianceScore):
                            if ev.request_id not in self.scores:
                                say(format_score(ev))
                            self.scores[ev.request_id] = ev
                        elif isinstance(ev, RuptureEpisode):
                            known = self.episodes.get(ev.episode_id)
                            if known is None or ev.version > known.version:
                                self.episodes[ev.episode_id] = ev
                                if known is None or (ev.status, ev.kind) != (known.status, known.kind):
                                    say(format_episode(ev))
                        else:
                            if ev.alert_id not in self.alerts:
                                say(format_alert(ev))
                            self.alerts[ev.alert_id] = ev
        finally:
            await c.stop()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


# --- the run -------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    """The whole demo (arguments: ``alliance-monitor demo --help``); returns the exit code."""
    from scoring.errors import ModelError
    from scoring.models import pull_demo, resolve
    from store.db import make_engine, upgrade
    from store.report import build_report
    from streams.broker import ensure_topics, kafka_bootstrap, state_dir
    from streams.replay import iter_files, merge, publish, read_file, rebase

    from .errors import CliError
    from .stopping import stop_on_sigterm
    from .up import Supervisor, default_specs, gate_status

    linger = sys.stdout.isatty() if args.linger is None else args.linger
    run_dir = state_dir() / "demo"
    run_dir.mkdir(parents=True, exist_ok=True)

    # 1. sessions to replay
    files = list(iter_files([args.samples]))
    per_file = []
    for f in files:
        if not f.exists():
            raise CliError(f"{f}: no such file")
        events, bad = read_file(f)
        if bad:
            raise CliError(f"{bad[0]} (and {len(bad) - 1} more)" if len(bad) > 1 else str(bad[0]))
        per_file.append(events)
    events = merge(per_file)
    if not events:
        raise CliError(f"no sessions found in {args.samples}")
    sessions = sorted({e.session_id for e in events})

    # 2. model, store, secret
    if "scorer" not in (args.without or []) and not args.model:
        try:
            resolve(None)
        except ModelError:
            say("demo model not found: converting it once (alliance-monitor models pull-demo)")
            pull_demo(progress=True)
    db_url = args.db_url or environment.get("ALLIANCE_DB_URL")
    if not db_url:
        db_path = run_dir / "alliance-demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        db_url = f"sqlite:///{db_path}"
    upgrade(db_url)
    args.db_url = db_url
    os.environ.setdefault("ALLIANCE_GATEWAY_SECRET", secrets.token_urlsafe(32))
    if not args.clock_rate:
        args.clock_rate = args.speed

    say("alliance-monitor demo — the model is the DEMO model (SmolLM2-135M), a toy whose scores carry little "
        "signal.")
    say(gate_status(args.model, db_url))

    with kafka_bootstrap(announce=say, embedded=True) as bootstrap:
        ensure_topics(bootstrap)
        specs = default_specs(args, bootstrap)
        app_id = f"alliance-demo-{int(time.time())}"  # one group for every processor replica
        for s in specs:
            if s.name.split("-")[0] == "processor":
                s.argv += ["--app-id", app_id]
        sup = Supervisor(specs, run_dir / "logs", say=say)
        printer = None
        stop_now = threading.Event()
        stop_on_sigterm(stop_now.set)
        try:
            sup.start()
            say("waiting for every part to be healthy (the scorer loads its model: up to a few minutes)…")
            if not sup.wait_healthy(600):
                raise CliError(f"the pipeline did not become healthy; see the logs in {run_dir / 'logs'}")
            _print_access(args)
            printer = EventPrinter(bootstrap).start()
            t0 = datetime.now(timezone.utc)
            events = rebase(events, t0)
            span = (events[-1].at - events[0].at).total_seconds()
            say(f"replaying {len(sessions)} sample sessions ({len(events)} events, {span / 60:.0f} min of "
                f"event time) at {args.speed:g}x: about {span / args.speed:.0f} s")
            replay_done = threading.Event()

            def replay_all() -> None:
                publish(events, bootstrap, speed=args.speed, progress=False)
                replay_done.set()

            replay = threading.Thread(target=replay_all, daemon=True)
            replay.start()
            while not replay_done.is_set() and not stop_now.is_set():
                sup.step()
                time.sleep(0.5)
            want = {f"{s}:{p}" for s in sessions for p in ("early", "middle", "late")}
            say(f"replay finished; waiting for the remaining phase scores ({len(want - set(printer.scores))} left)…")
            deadline = time.monotonic() + args.wait_scores
            while not want <= set(printer.scores) and time.monotonic() < deadline and not stop_now.is_set():
                sup.step()
                time.sleep(0.5)
            missing = sorted(want - set(printer.scores))
            if missing:
                say(f"still missing after {args.wait_scores:.0f}s: {', '.join(missing)}")
            time.sleep(3)  # let the sink write the last events
            out = Path(args.out) if args.out else run_dir / "report"
            result = build_report(make_engine(db_url), out)
            say("")
            say(result.text)
            say(f"plots and tables: {out}")
            say(f"{len(printer.alerts)} alert(s), {len(printer.episodes)} rupture episode(s), "
                f"{len(printer.scores)} phase score(s) for {len(sessions)} sessions")
            if linger and not stop_now.is_set():
                say("the board stays up; Ctrl-C stops everything")
                sup.run(until=stop_now.is_set)
            return 0 if not missing else 1
        except KeyboardInterrupt:
            say("stopping…")
            return 130
        finally:
            if printer:
                printer.close()
            sup.stop()


def _print_access(args: argparse.Namespace) -> None:
    from gateway.auth import issue_token, keyring_from_env

    secret = keyring_from_env()
    sup_token = issue_token(secret, role="supervisor", all_groups=True, name="demo supervisor")
    counselor_token = issue_token(secret, role="counselor", counselor_id="c-ben")
    base = f"http://{args.host}:{args.port}"
    say(f"supervisor board:  {base}/board#token={sup_token}")
    say(f"counselor panel (c-ben): {base}/counselor#token={counselor_token}")
    say(f"supervisor token:  {sup_token}")
