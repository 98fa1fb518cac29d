"""``alliance-monitor process``: run the stream processor (one Faust worker) until Ctrl-C."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys

from streams import environment

from ..argtypes import int_at_least, non_negative_float, positive_float, positive_int
from ..errors import CliError
from ..health import add_health_argument, start_health
from .common import add_embedded_broker_argument, add_trusted_source_argument, announce


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("process", help="run the stream processor: phase clock, signals, score requests, alerts")
    p.add_argument("--app-id", default="alliance-processor",
                   help="Faust app id = consumer group and table changelog prefix (default alliance-processor)")
    p.add_argument("--clock-rate", type=positive_float, default=1.0,
                   help="event-time seconds per wall second while a session is silent: 1 live, the replay "
                        "--speed when replaying (e.g. 60), so a silent client's boundaries still arrive")
    p.add_argument("--transcript", choices=("cumulative", "phase"), default="cumulative",
                   help="what a ScoreRequest carries: everything so far (default) or only that phase")
    p.add_argument("--lateness", type=non_negative_float, default=10.0,
                   help="event-time seconds a phase waits for late turns after its boundary (default 10)")
    p.add_argument("--grace", type=non_negative_float, default=2.0,
                   help="wall seconds a phase also waits for turns still in transit; worth grace x clock-rate "
                        "of event time (default 2)")
    p.add_argument("--idle-timeout", type=positive_float, default=30.0,
                   help="minutes without any event after which a session that never ended is closed (default 30)")
    p.add_argument("--forget-after", type=positive_float, default=6 * 3600.0, metavar="SECONDS",
                   help="event-time seconds after a session closed when its state is deleted (default 21600)")
    p.add_argument("--signal-interval", type=non_negative_float, default=1.0,
                   help="at most one process signal per session per this many wall seconds (default 1)")
    p.add_argument("--alert-settings", metavar="JSON",
                   help="alert thresholds per model: {\"default\": {...}, \"models\": {\"pattern\": {...}}}")
    p.add_argument("--max-batch-bytes", type=positive_int, default=16384,
                   help="producer batch size in bytes (default 16384); exact table recovery does not depend on "
                        "it (the changelog tails are read after recovery, docs/findings.md)")
    p.add_argument("--standby-replicas", type=int_at_least(0), default=1, metavar="N",
                   help="other workers of the group that keep a warm copy of each table partition, so a "
                        "partition that moves (a worker died) is ready at once (default 1; 0 = recover from "
                        "the changelog on the new owner)")
    p.add_argument("--records-db", metavar="URL",
                   help="store with the models' validation records (default: ALLIANCE_DB_URL, else the SQLite "
                        "store); alerts of a model without a passing record are marked unvalidated")
    p.add_argument("--records-reload", type=positive_float, default=60.0, metavar="SECONDS",
                   help="how often validation records are re-read (default 60)")
    p.add_argument("--rupture-detector", default=environment.get("ALLIANCE_RUPTURE_DETECTOR") or None,
                   metavar="DIR|trained.rupture-markers@REV",
                   help="a trained rupture-marker detector (`alliance-monitor train-turns --detector rupture-markers`) "
                        "that answers its codes on client turns in place of the marker rules; the episodes it opens "
                        "name it and reach counselors only where its own `eval-turns --detector` record passes "
                        "(env ALLIANCE_RUPTURE_DETECTOR)")
    p.add_argument("--no-process-alerts", action="store_true", help="do not raise alerts from process signals")
    p.add_argument("--redact-before-model", action="store_true",
                   help="replace names, phone numbers, e-mails, addresses and ID numbers in turn texts with "
                        "[NAME], [PHONE], ... before they go into score requests (the model never sees them)")
    add_trusted_source_argument(p)
    add_health_argument(p)
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_process)


def load_rupture_detector(spec: str):
    """The trained rupture-marker detector at ``spec`` (a directory, or ``trained.rupture-markers@REV`` as
    train-turns printed it) as the rupture core serves it (``streams.ruptures.MarkerDetector``). Loaded once, at
    start: a missing, edited or wrong-parent artefact is one line (exit 2) before the worker joins its group."""
    from streams.ruptures import MarkerDetector
    from training.turn_detector import predict
    from training.turn_detector_files import load, resolve
    from validation.detectors import RUPTURE_MARKERS

    detector, models, _trained_on = load(resolve(spec))
    if detector.kind != "trained" or detector.name != RUPTURE_MARKERS.name:
        raise CliError(f"--rupture-detector: {detector.key} stands in for {detector.name}, not "
                       f"{RUPTURE_MARKERS.name}: train one with train-turns --detector {RUPTURE_MARKERS.name}")
    codes = tuple(c for c in RUPTURE_MARKERS.codes if c in models)
    if not codes:
        raise CliError(f"--rupture-detector: {detector.key} answers none of {', '.join(RUPTURE_MARKERS.codes)}")

    def answer(text: str, previous: str) -> dict[str, bool]:
        return predict(models, text, previous, "client")

    return MarkerDetector(detector.key, codes, answer)


def cmd_process(args: argparse.Namespace) -> int:
    from store.records import load_record_book
    from streams.alert_policy import SettingsBook
    from streams.broker import kafka_bootstrap
    from streams.phase_clock import ClockSettings
    from streams.processor import ProcessorConfig, check_partitions, run_worker
    from streams.ruptures import RuptureSettings
    from streams.session_state import ProcessorSettings

    book = SettingsBook.builtin()
    if args.alert_settings:
        try:
            book = SettingsBook.from_json(args.alert_settings)
        except FileNotFoundError:
            raise CliError(f"--alert-settings: no such file {args.alert_settings}") from None
        except (ValueError, TypeError) as err:
            raise CliError(f"--alert-settings {args.alert_settings}: {err}") from None
    markers = load_rupture_detector(args.rupture_detector) if args.rupture_detector else None
    settings = ProcessorSettings(
        ruptures=RuptureSettings(markers=markers),
        clock=ClockSettings(allowed_lateness_s=args.lateness, idle_timeout_s=args.idle_timeout * 60.0),
        alerts=book.default,
        clock_rate=args.clock_rate,
        transcript_mode=args.transcript,
        signal_min_interval_s=args.signal_interval,
        process_alerts=not args.no_process_alerts,
        watched=book.watched(),
        transport_grace_s=args.grace,
        forget_after_s=args.forget_after,
        redact_before_model=args.redact_before_model,
        trusted_sources=frozenset(args.trusted_source),
    )
    if args.redact_before_model:  # build the Chinese name dictionary now, not inside the first turn
        from privacy import redact

        redact("张伟")
    health = start_health("processor", args.health_port)
    with kafka_bootstrap(announce=announce, embedded=args.embedded_broker) as bootstrap:
        if health:
            health.watch_kafka(bootstrap)
        records_db = args.records_db or environment.get("ALLIANCE_DB_URL")
        cfg = ProcessorConfig(bootstrap=bootstrap, app_id=args.app_id, settings=settings, alert_book=book,
                              producer_max_batch_size=args.max_batch_bytes,
                              standby_replicas=args.standby_replicas,
                              record_loader=lambda: load_record_book(records_db),
                              record_reload_s=args.records_reload,
                              on_ready=health.set_ready if health else None,
                              on_failing=health.set_failing if health else None,
                              on_group=health.watch_group(args.app_id).update if health else None)
        try:
            check_partitions(cfg)  # sources and changelogs that disagree: one line now, not a DLQ of every record
            if markers is not None:
                print(f"serving rupture detector {markers.key} on client turns (codes: {', '.join(markers.codes)}; "
                      "the marker rules answer the rest); its episodes reach counselors only where its record "
                      "passes", file=sys.stderr, flush=True)
            print(f"processor starting: app {args.app_id} on {bootstrap}, clock rate {args.clock_rate:g}, "
                  f"{args.transcript} transcripts (Ctrl-C stops)", file=sys.stderr, flush=True)
            return run_worker(cfg, loglevel="DEBUG" if args.verbose else "WARNING")
        finally:
            if health:
                health.close()
