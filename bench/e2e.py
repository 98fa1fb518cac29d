"""End-to-end latency: boundary-crossing event -> alert / score on a supervisor's websocket.

    python bench/e2e.py              # N = 10, 100, 1000 concurrent sessions (~14 min on 2 cores)
    python bench/e2e.py --quick      # N = 10, then a 45 s N = 100 window (~7 min: two model loads)
    python bench/e2e.py --engine transformers --rationale none --sessions 10,100 --budget 120

Every part is real (tests/e2e/harness.py ``Pipeline``): a fresh embedded Tansu broker,
``alliance-monitor process`` (Faust), ``score`` (the demo model on the CPU), ``sink``
(SQLite) and ``gateway`` (websockets) as subprocesses, and a real websocket client
(``Viewer``) logged in as the supervisor of the benchmark's group.

N sessions (the 12-planned-minute e2e script: boundaries at 4 / 8 / 12 min) start
staggered over one session length of event time, so at the middle of the replay all N
are live at once; the replay runs at ``--speed`` and the processor's clock at the same
rate. For each phase boundary of each session:

* crossing = wall time the benchmark sent the first turn / ``ended`` event whose event
  time is at or after the boundary (taken right after ``producer.send``);
* request  = Kafka record timestamp of the ScoreRequest on ``alliance.requests``;
* score    = Kafka record timestamp of the AllianceScore on ``alliance.scores``;
* ws score / ws alert = wall time the supervisor's websocket client received the
  ``score`` event / the first model (non-process) ``alert`` event of that phase.

Stages: stream = request - crossing (includes the processor's deliberate waits:
``--lateness`` event seconds and ``--grace`` wall seconds, i.e. max(lateness,
grace x speed) event seconds after the boundary); model = score - request (queue wait
+ compute; compute alone is the score's own ``latency_ms``); delivery = ws - score.
All clocks are the same machine's wall clock.

Bounded: after the replay ends the benchmark waits at most ``--budget`` seconds for
the 3N scores, then reports how many boundaries completed, the backlog (requests not
scored), the model's measured throughput and the latencies of what completed. A run
whose scorer still has a backlog is torn down before the next N (a fresh pipeline), so
one N's backlog never pollutes the next; a run that finished is reused (warm model).

Baseline, measured on the same broker in the same run before each replay: bare
produce -> consume latency of a small record (aiokafka producer and an assign()
consumer with default fetch settings, the same client library the parts use).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alliance_monitor.supervision import RestartPolicy  # noqa: E402
from alliance_monitor.up import Child, ChildSpec  # noqa: E402
from tests.e2e.harness import PLANNED_MINUTES, SECRET, Pipeline, Viewer, session_events  # noqa: E402

PHASES = ("early", "middle", "late")
BOUNDARY_FRACTIONS = {"early": 1 / 3, "middle": 2 / 3, "late": 1.0}


# --- a viewer that stamps each message with its receive time -------------------------------


class _StampedList(list):
    """A list whose append() records the wall receive time in the message (key ``_rx``)."""

    def append(self, msg) -> None:  # type: ignore[override]  # stamps and stores any message the viewer gets
        if isinstance(msg, dict):
            msg["_rx"] = time.time()
        super().append(msg)


class StampedViewer(Viewer):
    """harness.Viewer, unchanged, except that received messages carry their receive time."""

    @property
    def messages(self) -> list:
        return self._messages

    @messages.setter
    def messages(self, value: list) -> None:
        self._messages = _StampedList(value)


# --- pure helpers --------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no data."""
    if not values:
        return None
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, math.ceil(q / 100 * len(xs)) - 1))
    return xs[k]


def fmt_s(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:6.2f}"


def crossing_index(events: list, start: datetime) -> dict[str, int]:
    """Per phase: the index of the first turn / ``ended`` event at or after the boundary."""
    out = {}
    for phase, frac in BOUNDARY_FRACTIONS.items():
        boundary = start + timedelta(minutes=PLANNED_MINUTES * frac)
        for i, e in enumerate(events):
            at = getattr(e, "sent_at", None) or e.at
            is_turn_or_end = hasattr(e, "sent_at") or getattr(e, "kind", None) == "ended"
            if is_turn_or_end and at >= boundary:
                out[phase] = i
                break
    return out


# --- broker baseline -------------------------------------------------------------------------


async def _broker_baseline(bootstrap: str, count: int, gap_s: float) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"bench.e2e.ping.{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    lat: list[float] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)

        async def recv() -> None:
            while len(lat) < count:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                now = time.time()
                for rec in batch.get(tp, []):
                    lat.append(now - float(rec.value.decode()))

        task = asyncio.create_task(recv())
        for _ in range(count):
            await producer.send_and_wait(topic, repr(time.time()).encode())
            await asyncio.sleep(gap_s)
        try:
            await asyncio.wait_for(task, 15)
        except asyncio.TimeoutError:
            pass
    finally:
        await producer.stop()
        await consumer.stop()
    return lat


def broker_baseline(bootstrap: str, count: int = 60, gap_s: float = 0.05) -> list[float]:
    return asyncio.run(_broker_baseline(bootstrap, count, gap_s))


# --- the pipeline ---------------------------------------------------------------------------


@dataclass
class Settings:
    engine: str
    rationale: str
    rationale_tokens: int
    speed: float
    grace: float
    lateness: float
    signal_interval: float
    concurrency: int


def start_pipeline(workdir: Path, s: Settings) -> Pipeline:
    """harness.Pipeline with the benchmark's processor and scorer flags (same shells, same parts)."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)  # the parts inherit the cwd: Faust's data dir lands here, not in the repo
    p = Pipeline(workdir, db_url=f"sqlite:///{workdir / 'store.db'}", engine=s.engine, clock_rate=s.speed)
    p.specs["processor"] = ChildSpec("processor", [
        "process", "--app-id", "bench-e2e-processor", "--clock-rate", str(s.speed),
        "--lateness", str(s.lateness), "--grace", str(s.grace), "--signal-interval", str(s.signal_interval)], p.env)
    p.specs["scorer"] = ChildSpec("scorer", [
        "score", "--engine", s.engine, "--rationale", s.rationale, "--rationale-tokens", str(s.rationale_tokens),
        "--max-model-len", "4096", "--concurrency", str(s.concurrency)], p.env)
    for name in ("processor", "scorer"):
        p.children[name] = Child(p.specs[name], workdir / "logs", RestartPolicy())
    t0 = time.monotonic()
    p.start()
    p.wait_gateway(120)
    for name, line in (("processor", "processor ready"), ("scorer", "scoring worker ready")):
        deadline = time.monotonic() + 600
        while line not in p.log(name):
            p.assert_alive(name)
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready after 600 s")
            time.sleep(0.5)
    print(f"  pipeline ready in {time.monotonic() - t0:.0f} s (broker {p.bootstrap}, gateway :{p.port})", flush=True)
    return p


@dataclass
class Boundary:
    request_id: str
    crossing: float | None = None
    request: float | None = None
    score: float | None = None
    compute_s: float | None = None
    ws_score: float | None = None
    ws_alert: float | None = None


@dataclass
class RunResult:
    n: int
    boundaries: dict[str, Boundary] = field(default_factory=dict)
    requests: int = 0
    scored: int = 0
    throughput_rpm: float | None = None
    baseline: list[float] = field(default_factory=list)
    load_before: tuple = ()
    load_after: tuple = ()
    replay_s: float = 0.0
    waited_s: float = 0.0
    ts_check: float | None = None
    timestamp_type: int | None = None


def run_n(p: Pipeline, n: int, s: Settings, budget: float) -> RunResult:
    from gateway.auth import issue_token
    from streams.codec import decode
    from streams.contracts import AllianceScore, ScoreRequest
    from streams.errors import ContractError
    from streams.replay import ReplayEvent, publish
    from tests.kafka_helpers import consume_all_sync

    res = RunResult(n=n, load_before=os.getloadavg())
    res.baseline = broker_baseline(p.bootstrap)
    tag = uuid.uuid4().hex[:6]
    group = f"g-bench-{tag}"
    viewer = StampedViewer(p.ws_url, issue_token(SECRET.encode(), role="supervisor", groups=[group]), "supervisor")
    try:
        deadline = time.monotonic() + 30
        while not viewer.connects:
            if time.monotonic() > deadline:
                raise SystemExit("supervisor websocket did not connect")
            time.sleep(0.1)

        # N sessions, starts staggered over one session length of event time
        base = datetime.now(timezone.utc)
        stagger = timedelta(minutes=PLANNED_MINUTES)
        topics = {"ChatTurn": "chat.turns", "SessionEvent": "chat.sessions"}
        replay: list[ReplayEvent] = []
        crossing_of: dict[tuple[str, int], str] = {}
        for k in range(n):
            sid = f"bench-{tag}-{k:04d}"
            start = base + stagger * (k / n)
            events = session_events(sid, f"c-{tag}-{k % 50}", group, start)
            for phase, i in crossing_index(events, start).items():
                crossing_of[(sid, i)] = f"{sid}:{phase}"
                res.boundaries[f"{sid}:{phase}"] = Boundary(f"{sid}:{phase}")
            replay += [ReplayEvent(topics[type(e).__name__], e, getattr(e, "sent_at", None) or e.at, sid, i)
                       for i, e in enumerate(events)]
        replay.sort(key=lambda e: (e.at, e.source, e.order))

        def on_event(ev: ReplayEvent) -> None:
            rid = crossing_of.get((ev.source, ev.order))
            if rid is not None:
                res.boundaries[rid].crossing = time.time()

        t0 = time.monotonic()
        th = threading.Thread(target=publish, args=(replay, p.bootstrap),
                              kwargs={"speed": s.speed, "progress": False, "on_event": on_event}, daemon=True)
        th.start()
        expected = 3 * n
        last = 0.0
        end_by: float | None = None
        while True:
            time.sleep(1)
            now = time.monotonic()
            if end_by is None and not th.is_alive():
                res.replay_s = now - t0
                end_by = now + budget
            scores = {m["data"].get("request_id") for m in list(viewer.messages)
                      if m.get("type") == "event" and m.get("kind") == "score"
                      and str(m.get("session_id", "")).startswith(f"bench-{tag}-")}
            if now - last >= 10:
                last = now
                state = "replaying" if end_by is None else f"budget left {end_by - now:4.0f} s"
                print(f"  N={n}: t+{now - t0:5.0f} s  scores on websocket {len(scores):4d}/{expected}  "
                      f"({state}; load {os.getloadavg()[0]:.1f})", flush=True)
            if end_by is not None and (len(scores) >= expected or now >= end_by):
                break
            p.assert_alive()
        res.waited_s = time.monotonic() - t0 - res.replay_s
        time.sleep(3)  # alerts follow scores by a processor hop
        res.load_after = os.getloadavg()

        mine = lambda r: r.key is not None and r.key.decode().startswith(f"bench-{tag}-")  # noqa: E731
        req_records = consume_all_sync(p.bootstrap, "alliance.requests", idle=2.0, timeout=120, where=mine)
        score_records = consume_all_sync(p.bootstrap, "alliance.scores", idle=2.0, timeout=120, where=mine)
        checks = []
        for rec in req_records:
            try:
                r = decode(ScoreRequest, rec.value)
            except ContractError:
                continue
            b = res.boundaries.get(r.request_id)
            if b is not None and b.request is None:
                b.request = rec.timestamp / 1000
                res.timestamp_type = rec.timestamp_type
                checks.append(abs(b.request - r.created_at.timestamp()))
        res.ts_check = statistics.median(checks) if checks else None
        res.requests = sum(1 for b in res.boundaries.values() if b.request is not None)
        score_times = []
        for rec in score_records:
            try:
                sc = decode(AllianceScore, rec.value)
            except ContractError:
                continue
            b = res.boundaries.get(sc.request_id)
            if b is not None and b.score is None:
                b.score = rec.timestamp / 1000
                b.compute_s = sc.latency_ms / 1000
                score_times.append(b.score)
        res.scored = len(score_times)
        req_times = [b.request for b in res.boundaries.values() if b.request is not None]
        if score_times and req_times:
            # the scorer is busy from the first request on: completed / (first request .. last score)
            span = max(score_times) - min(req_times)
            res.throughput_rpm = len(score_times) / span * 60 if span > 0 else None
        for m in list(viewer.messages):
            if m.get("type") != "event":
                continue
            data = m.get("data") or {}
            if m.get("kind") == "score":
                b = res.boundaries.get(data.get("request_id", ""))
                if b is not None and b.ws_score is None:
                    b.ws_score = m["_rx"]
            elif m.get("kind") == "alert" and data.get("dimension") != "process" and data.get("phase"):
                b = res.boundaries.get(f"{m.get('session_id')}:{data['phase']}")
                if b is not None and b.ws_alert is None:
                    b.ws_alert = m["_rx"]
    finally:
        viewer.close()
    return res


# --- report ------------------------------------------------------------------------------------


def stage_rows(res: RunResult) -> list[tuple[str, list[float]]]:
    bs = list(res.boundaries.values())

    def diffs(a: str, b: str) -> list[float]:
        return [getattr(x, b) - getattr(x, a) for x in bs if getattr(x, a) is not None and getattr(x, b) is not None]

    first = [(x.ws_alert if x.ws_alert is not None else x.ws_score) - x.crossing for x in bs
             if x.crossing is not None and (x.ws_alert or x.ws_score) is not None]
    return [
        ("stream   crossing -> ScoreRequest", diffs("crossing", "request")),
        ("model    ScoreRequest -> AllianceScore", diffs("request", "score")),
        ("  of it: compute (score.latency_ms)", [x.compute_s for x in bs if x.compute_s is not None]),
        ("delivery AllianceScore -> score on ws", diffs("score", "ws_score")),
        ("delivery AllianceScore -> alert on ws", diffs("score", "ws_alert")),
        ("e2e      crossing -> score on ws", diffs("crossing", "ws_score")),
        ("e2e      crossing -> alert on ws", diffs("crossing", "ws_alert")),
        ("e2e      crossing -> alert, else score", first),
    ]


def report(res: RunResult) -> None:
    n = res.n
    done = sum(1 for b in res.boundaries.values() if b.ws_score is not None)
    alerts = sum(1 for b in res.boundaries.values() if b.ws_alert is not None)
    base50 = pct(res.baseline, 50)
    print(f"\n== N = {n} concurrent sessions ({3 * n} boundaries) ==")
    print(f"  replay {res.replay_s:.0f} s, then waited {res.waited_s:.0f} s; load average "
          f"{res.load_before[0]:.1f} before, {res.load_after[0]:.1f} after (2 cores)")
    print(f"  requests emitted {res.requests}/{3 * n}, scored {res.scored}, backlog (requests not scored) "
          f"{res.requests - res.scored}, score on websocket {done}, phases with a model alert on websocket {alerts}")
    tp = "n/a" if res.throughput_rpm is None else f"{res.throughput_rpm:.1f}"
    print(f"  model throughput {tp} requests/min (12 items each) = scored / (first request .. last score)")
    if res.ts_check is not None:
        print(f"  sanity: |request record timestamp - ScoreRequest.created_at| median {res.ts_check * 1000:.0f} ms "
              f"(timestamp type {res.timestamp_type})")
    print(f"  {'stage':40s} {'count':>5s} {'p50 s':>7s} {'p99 s':>7s} {'max s':>7s}")
    for name, xs in stage_rows(res):
        print(f"  {name:40s} {len(xs):5d} {fmt_s(pct(xs, 50))}  {fmt_s(pct(xs, 99))}  "
              f"{fmt_s(max(xs) if xs else None)}")
    print(f"  {'baseline: bare broker produce->consume':40s} {len(res.baseline):5d} {fmt_s(base50)}  "
          f"{fmt_s(pct(res.baseline, 99))}  {fmt_s(max(res.baseline) if res.baseline else None)}")
    per_phase = []
    for phase in PHASES:
        xs = [b.request - b.crossing for rid, b in res.boundaries.items()
              if rid.endswith(":" + phase) and b.request is not None and b.crossing is not None]
        per_phase.append(f"{phase} {fmt_s(pct(xs, 50)).strip()}")
    print(f"  stream p50 per phase (s): {', '.join(per_phase)}")
    e2e = [x for name, x in stage_rows(res) if name.startswith("e2e      crossing -> alert, else")][0]
    dl = [x for name, x in stage_rows(res) if name.startswith("delivery AllianceScore -> score")][0]
    if base50:
        if e2e:
            print(f"  ratio e2e p50 (alert, else score) / broker p50: {pct(e2e, 50) / base50:,.0f}x")
        if dl:
            print(f"  ratio delivery p50 (score on ws) / broker p50: {pct(dl, 50) / base50:,.1f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N=10 then a 45 s N=100 window (~7 min on 2 cores)")
    ap.add_argument("--sessions", default=None, help="comma-separated N (default 10,100,1000)")
    ap.add_argument("--engine", choices=("vllm", "transformers"), default="vllm")
    ap.add_argument("--rationale", choices=("none", "alerts", "all"), default="alerts",
                    help="scorer --rationale (default alerts, as the pipeline runs)")
    ap.add_argument("--rationale-tokens", type=int, default=24)
    ap.add_argument("--speed", type=float, default=60.0, help="replay speed = processor --clock-rate (default 60)")
    ap.add_argument("--grace", type=float, default=0.5, help="processor --grace, wall s (default 0.5)")
    ap.add_argument("--lateness", type=float, default=2.0, help="processor --lateness, event s (default 2)")
    ap.add_argument("--signal-interval", type=float, default=1.0, help="processor --signal-interval (default 1)")
    ap.add_argument("--concurrency", type=int, default=4, help="scorer --concurrency (default 4)")
    ap.add_argument("--budget", type=float, default=None,
                    help="max wall s to wait for scores after the replay ends (default 180; --quick: 150 for N=10, "
                         "45 for N=100)")
    args = ap.parse_args()
    if not (args.speed > 0 and args.grace >= 0 and args.lateness >= 0 and args.concurrency >= 1
            and (args.budget is None or args.budget > 0)):
        ap.error("--speed and --budget must be > 0, --grace/--lateness >= 0, --concurrency >= 1")
    if args.quick:
        plan = [(10, args.budget or 150.0), (100, args.budget or 45.0)]
    else:
        try:
            ns = [int(x) for x in (args.sessions or "10,100,1000").split(",")]
        except ValueError:
            ap.error(f"--sessions: expected comma-separated integers, not {args.sessions!r}")
        if any(n < 1 for n in ns):
            ap.error("--sessions: every N must be at least 1")
        plan = [(n, args.budget or 180.0) for n in ns]
    s = Settings(args.engine, args.rationale, args.rationale_tokens, args.speed, args.grace, args.lateness,
                 args.signal_interval, args.concurrency)
    eff_late = max(args.lateness, args.grace * args.speed)
    print(f"bench/e2e: engine {s.engine}, rationale {s.rationale} ({s.rationale_tokens} tokens), scorer concurrency "
          f"{s.concurrency}; replay speed {s.speed:g}x = processor clock rate; processor --lateness {s.lateness:g} "
          f"--grace {s.grace:g} -> a phase waits {eff_late:g} event s = {eff_late / s.speed:.2f} wall s after its "
          f"boundary; plan {plan}; cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    os.chdir(work)  # and each pipeline gets its own run dir (start_pipeline), so no state carries over
    p: Pipeline | None = None
    t_all = time.monotonic()
    try:
        for i, (n, budget) in enumerate(plan):
            if p is None:
                print(f"starting pipeline for N={n} ...", flush=True)
                p = start_pipeline(work / f"run{i}", s)
            else:
                print(f"reusing the pipeline (previous N left no backlog) for N={n}", flush=True)
            res = run_n(p, n, s, budget)
            results.append(res)
            report(res)
            if res.requests - res.scored > 0 or res.requests < 3 * n:
                p.close()
                p = None
    finally:
        if p is not None:
            p.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n== summary (s; stream / model / delivery(score on ws) / e2e(alert, else score); "
          f"total {time.monotonic() - t_all:.0f} s) ==")
    print(f"  {'N':>5s} {'done':>9s} {'backlog':>7s} {'req/min':>7s}  {'stream p50/p99':>15s} "
          f"{'model p50/p99':>15s} {'deliv p50/p99':>15s} {'e2e p50/p99':>15s} {'broker p50':>10s}")
    for r in results:
        rows = dict(stage_rows(r))
        cols = [rows["stream   crossing -> ScoreRequest"], rows["model    ScoreRequest -> AllianceScore"],
                rows["delivery AllianceScore -> score on ws"], rows["e2e      crossing -> alert, else score"]]
        done = sum(1 for b in r.boundaries.values() if b.ws_score is not None)
        tp = "n/a" if r.throughput_rpm is None else f"{r.throughput_rpm:.1f}"
        print(f"  {r.n:5d} {done:4d}/{3 * r.n:<4d} {r.requests - r.scored:7d} {tp:>7s}  " +
              " ".join(f"{fmt_s(pct(c, 50))}/{fmt_s(pct(c, 99)).strip():>7s}" for c in cols) +
              f" {fmt_s(pct(r.baseline, 50))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
