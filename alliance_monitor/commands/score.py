"""``score`` (the worker) and ``score-file`` (offline): the scoring package's commands.

Model and engine errors are one line naming what to run; never a traceback.
Nothing here prints transcript text, except ``score-file --rationale``, whose
rationales quote the user's own file on the user's own terminal.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import asyncio
import dataclasses
import sys
from typing import TYPE_CHECKING

from streams import environment

from ..argtypes import int_at_least, non_negative_float, positive_float, positive_int
from ..errors import CliError
from ..health import add_health_argument, start_health
from ..stopping import stop_on_signals
from .common import add_embedded_broker_argument, announce

if TYPE_CHECKING:
    from scoring.live_detector import LiveDetector
    from scoring.scorer import RationaleMode


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("vllm", "transformers"),
                   default="vllm", help="inference engine (default: vllm)")
    p.add_argument("--model", default=None,
                   help="local Hugging Face model directory (default: the demo model)")
    p.add_argument("--max-model-len", type=positive_int, default=None,
                   help="context length (default 8192)")
    p.add_argument("--readout", choices=("expected", "sampled"), default="expected",
                   help="expected value of the option probabilities (default) or the published 3-sample protocol")
    p.add_argument("--samples", type=positive_int, default=3, help="samples per item in --readout sampled")
    p.add_argument("--rationale-tokens", type=positive_int, default=64, help="max new tokens per rationale")
    add_head_arg(p)


def add_head_arg(p: argparse.ArgumentParser) -> None:
    """``--head DIR``: shared by score, score-file and score-corpus."""
    p.add_argument("--head", default=environment.get("ALLIANCE_HEAD") or None, metavar="DIR",
                   help="a trained read-out head (`alliance-monitor train --method head`) applied to the scores; "
                        "a new model identity (env ALLIANCE_HEAD)")


def _build(args, rationale: RationaleMode):
    from scoring.engines import load_engine
    from scoring.engines.base import EngineSettings
    from scoring.models import resolve
    from scoring.scorer import Scorer, ScoringConfig

    ref = resolve(args.model)
    head = load_head(getattr(args, "head", None))  # checked before the (slow) engine load
    settings = EngineSettings() if args.max_model_len is None else EngineSettings(max_model_len=args.max_model_len)
    engine = load_engine(args.engine, ref, settings)
    config = ScoringConfig(readout=args.readout, rationale=rationale, samples=args.samples,
                           rationale_tokens=args.rationale_tokens)
    scorer = Scorer(engine, config)
    if head is not None:
        from scoring.head import with_head

        return engine, with_head(scorer, head, ref)
    return engine, scorer


def load_head(path: str | None):
    """The trained read-out head at ``path`` (None without one); a bad artefact is a HeadError (one line)."""
    if not path:
        return None
    from scoring.head import load_head as load

    return load(path)


def load_turn_detector(spec: str, model: str | None = None) -> LiveDetector:
    """The trained turn detector at ``spec`` (a directory, or ``trained.counselor-words@REV`` as train-turns
    printed it), ready to serve; a missing, edited or unservable artefact is one line (exit 2). One that reads
    hidden states gets the extractor on ``model`` (the scorer's ``--model``), refused unless it is the model the
    detector was trained on."""
    from scoring.live_detector import serve
    from training.turn_detector import hidden_model
    from training.turn_detector_files import load, resolve

    detector, models, _trained_on = load(resolve(spec))
    wanted = hidden_model(models)
    if wanted is None:
        return serve(detector, models)
    from scoring.models import resolve as resolve_model
    from training.turn_hidden import checked_pooler, turn_states

    pooler = checked_pooler(wanted, resolve_model(model))
    return serve(detector, models, lambda text, previous, speaker: turn_states(
        pooler, [(text, previous, speaker)]).hidden[0])


# --------------------------------------------------------------------------- score (worker)

def _cmd_score(args) -> int:
    from scoring.worker import WorkerConfig, run_worker
    from streams.broker import ensure_topics, kafka_bootstrap

    health = start_health("scorer", args.health_port)

    def ready(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if health:
            health.set_ready()

    cfg = WorkerConfig(group_id=args.group, concurrency=args.concurrency, timeout_s=args.timeout,
                       retries=args.retries, max_records=args.max_records, drain_s=args.drain)
    if args.feedback_turns is not None:
        cfg = dataclasses.replace(cfg, feedback_turns=args.feedback_turns)
    if args.turn_detector:  # checked before the (slow) engine load: a bad artefact is one line, exit 2
        if cfg.feedback_turns <= 0:
            raise CliError("--turn-detector serves feedback cards, and feedback is off: set --feedback-turns N "
                           "(or ALLIANCE_FEEDBACK_TURNS)")
        live = load_turn_detector(args.turn_detector, args.model)
        cfg = dataclasses.replace(cfg, turn_detector=live)
        print(f"serving turn detector {live.detector.key} in feedback cards (codes: {', '.join(live.codes)}; "
              "the word rules answer the rest); a card reaches counselors only where its record passes",
              file=sys.stderr, flush=True)
    if cfg.feedback_turns > 0:  # the feedback gate: turn-level validation records, reloaded every minute
        from store.records import load_record_book

        records_db = args.records_db or environment.get("ALLIANCE_DB_URL")
        cfg = dataclasses.replace(cfg, record_loader=lambda: load_record_book(records_db))

    async def main(bootstrap: str) -> int:
        nonlocal cfg
        if health:
            health.watch_kafka(bootstrap)
        stop = stop_on_signals(health)
        engine, scorer = _build(args, args.rationale)
        if not args.no_calibration:
            cfg = dataclasses.replace(cfg, calibration=load_calibration(scorer.identity, args.records_db))

        def outcome(record, out) -> None:
            if out.score is not None:
                s = out.score
                print(f"scored {s.request_id} in {s.latency_ms:.0f} ms "
                      f"({s.prompt_tokens} prompt tokens, {s.cached_tokens} cached)"
                      + (f"; feedback on {len(out.feedback)} counselor turn(s)" if out.feedback else ""), flush=True)
            else:
                print(f"dead-lettered partition {record.partition} offset {record.offset}: "
                      f"{(out.dlq_reason or '').split(':')[0]}", flush=True)

        try:
            stats = await run_worker(
                bootstrap, scorer, cfg, stop=stop,
                on_ready=lambda: ready(f"scoring worker ready: engine={engine.kind} model={engine.model_name} "
                                       f"group={cfg.group_id} bootstrap={bootstrap}"),
                on_outcome=outcome, on_group=health.watch_group(cfg.group_id).update if health else None,
                on_assigned=lambda parts: print(f"scoring worker assignment: partitions {parts}", flush=True))
        finally:
            await engine.aclose()
        print(f"done: {stats.scored} scored, {stats.dead_lettered} dead-lettered, {stats.retries} retries",
              file=sys.stderr)
        return 0

    if args.bootstrap:
        ensure_topics(args.bootstrap)
        return asyncio.run(main(args.bootstrap))
    with kafka_bootstrap(announce=announce, embedded=args.embedded_broker) as bootstrap:
        ensure_topics(bootstrap)
        return asyncio.run(main(bootstrap))


def load_calibration(identity, records_db: str | None):
    """The calibration stored with this model identity's validation record, if any."""
    from store.records import load_record_book
    from validation.calibration import Calibration

    record = load_record_book(records_db or environment.get("ALLIANCE_DB_URL")).for_model(identity)
    if record is None or not record.calibration:
        return None
    try:
        cal = Calibration.from_dict(record.calibration)
    except (ValueError, TypeError, KeyError) as err:
        print(f"calibration of {identity.name} is unreadable ({err}); publishing raw scores", file=sys.stderr)
        return None
    print(f"applying the {cal.method} calibration stored for {identity.name} ({cal.n} labelled sessions)",
          file=sys.stderr, flush=True)
    return cal


# --------------------------------------------------------------------------- score-file

def format_score(score, *, with_rationale: bool) -> str:
    from scoring.instrument import BY_ID

    lines = [(f"session {score.session_id}  phase {score.phase}  model {score.model.name} "
              f"({score.model.readout}, {score.model.prompt_version})"), ""]
    lines.append(f"{'dimension':<10} {'score':>5}  {'spread':>6}")
    for dim, d in score.dimensions.items():
        lines.append(f"{dim:<10} {d.score:>5.2f}  {d.spread:>6.2f}")
    lines += ["", f"{'item':<4} {'dim':<9} {'score':>5}  {'p1':>4} {'p2':>4} {'p3':>4} {'p4':>4} {'p5':>4}  wording"]
    for it in score.items:
        probs = " ".join(f"{p:4.2f}" for p in it.probs)
        lines.append(f"{it.item_id:<4} {it.dimension:<9} {it.expected:>5.2f}  {probs}  {BY_ID[it.item_id].wording('en')}")
        if with_rationale and it.rationale:
            lines.append(f"     reason: {it.rationale}")
            for q in it.quotes:
                lines.append(f"     quote {'ok ' if q.verified else 'NOT IN TRANSCRIPT'}: {q.text}")
    if score.consistency:
        c = score.consistency
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        lines += ["", (f"self-consistency over {int(c.get('samples') or 0)} samples: ICC(2,1) {fmt(c.get('icc'))}, "
                       f"Fleiss' kappa {fmt(c.get('fleiss_kappa'))}, parsed {fmt(c.get('parsed_share'))}")]
    lines += ["", (f"{score.prompt_tokens} prompt tokens ({score.cached_tokens} from the prefix cache), "
                   f"{score.latency_ms / 1000:.1f} s")]
    return "\n".join(lines)


def _cmd_score_file(args) -> int:
    from scoring.transcripts import load

    tr = load(args.transcript, session=args.session, lang=args.lang)

    async def main() -> int:
        engine, scorer = _build(args, args.rationale)
        try:
            score = await scorer.score(session_id=tr.session_id, phase=args.phase, turns=tr.turns, lang=tr.lang,
                                       counselor_id=tr.counselor_id)
        except ValueError as err:
            raise CliError(str(err)) from None
        finally:
            await engine.aclose()
        if args.json:
            from streams.codec import encode

            print(encode(score).decode())
        else:
            print(format_score(score, with_rationale=args.rationale != "none"))
        return 0

    return asyncio.run(main())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="scoring worker: alliance.requests -> alliance.scores")
    _add_engine_args(p)
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default: KAFKA_BOOTSTRAP or the embedded broker)")
    p.add_argument("--group", default="alliance-scorer", help="consumer group id")
    p.add_argument("--concurrency", type=positive_int, default=4, help="requests scored at once")
    p.add_argument("--timeout", type=positive_float, default=300.0, help="seconds per request before it counts as failed")
    p.add_argument("--retries", type=int_at_least(0), default=2, help="retries before a request goes to the DLQ")
    p.add_argument("--rationale", choices=("all", "alerts", "none"), default="alerts",
                   help="rationales for all items, the watched (goal, bond) items, or none")
    p.add_argument("--max-records", type=positive_int, default=None, help="stop after N records (testing)")
    p.add_argument("--feedback-turns", type=int_at_least(0), default=None, metavar="N",
                   help="turn-level feedback: rate the last N counselor turns of each scored phase "
                        "(default: ALLIANCE_FEEDBACK_TURNS or 0 = off)")
    add_health_argument(p)
    p.add_argument("--drain", type=non_negative_float, default=20.0, metavar="SECONDS",
                   help="on SIGTERM, how long the batch in progress may still take; the rest is left for "
                        "another worker (default 20)")
    p.add_argument("--turn-detector", default=environment.get("ALLIANCE_TURN_DETECTOR") or None, metavar="DIR|trained.NAME@REV",
                   help="a trained turn detector (`alliance-monitor train-turns`) whose answers stand in for the "
                        "word rules' in feedback cards; its cards reach counselors only where its own "
                        "`eval-turns --detector` record passes (env ALLIANCE_TURN_DETECTOR)")
    p.add_argument("--records-db", metavar="URL",
                   help="store holding the model's validation record and calibration (default: ALLIANCE_DB_URL, "
                        "else the SQLite store)")
    p.add_argument("--no-calibration", action="store_true",
                   help="publish raw scores even when a calibration is stored for this model")
    add_embedded_broker_argument(p)
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("score-file", help="score a transcript file offline and print the WAI-SR table")
    p.add_argument("transcript", help="text file ('Counselor: ...' / 'Client: ...' lines) or replay .jsonl")
    _add_engine_args(p)
    p.add_argument("--lang", choices=("en", "zh"), default=None, help="language (default: detected)")
    p.add_argument("--session", default=None, help="session id in a .jsonl file (default: the first)")
    p.add_argument("--phase", choices=("early", "middle", "late"), default="late",
                   help="phase label for the result (the whole file is scored)")
    p.add_argument("--rationale", choices=("all", "alerts", "none"), default="none",
                   help="generate rationales (slower; printed with their quotes)")
    p.add_argument("--json", action="store_true", help="print the AllianceScore as JSON")
    p.set_defaults(func=_cmd_score_file)
