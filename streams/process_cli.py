"""``alliance-monitor process``: run the stream processor (one Faust worker) until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("process", help="run the stream processor: phase clock, signals, score requests, alerts")
    p.add_argument("--app-id", default="alliance-processor",
                   help="Faust app id = consumer group and table changelog prefix (default alliance-processor)")
    p.add_argument("--clock-rate", type=_positive, default=1.0,
                   help="event-time seconds per wall second while a session is silent: 1 live, the replay "
                        "--speed when replaying (e.g. 60), so a silent client's boundaries still arrive")
    p.add_argument("--transcript", choices=("cumulative", "phase"), default="cumulative",
                   help="what a ScoreRequest carries: everything so far (default) or only that phase")
    p.add_argument("--lateness", type=_non_negative, default=10.0,
                   help="event-time seconds a phase waits for late turns after its boundary (default 10)")
    p.add_argument("--grace", type=_non_negative, default=2.0,
                   help="wall seconds a phase also waits for turns still in transit; worth grace x clock-rate "
                        "of event time (default 2)")
    p.add_argument("--idle-timeout", type=_positive, default=30.0,
                   help="minutes without any event after which a session that never ended is closed (default 30)")
    p.add_argument("--forget-after", type=_positive, default=6 * 3600.0, metavar="SECONDS",
                   help="event-time seconds after a session closed when its state is deleted (default 21600)")
    p.add_argument("--signal-interval", type=_non_negative, default=1.0,
                   help="at most one process signal per session per this many wall seconds (default 1)")
    p.add_argument("--alert-settings", metavar="JSON",
                   help="alert thresholds per model: {\"default\": {...}, \"models\": {\"pattern\": {...}}}")
    p.add_argument("--max-batch-bytes", type=int, default=1,
                   help="producer batch size; 1 (default) = one record per batch, needed on the embedded Tansu "
                        "broker for exact table recovery; on Apache Kafka use e.g. 1000000")
    p.add_argument("--records-db", metavar="URL",
                   help="store with the models' validation records (default: ALLIANCE_DB_URL, else the SQLite "
                        "store); alerts of a model without a passing record are marked unvalidated")
    p.add_argument("--records-reload", type=_positive, default=60.0, metavar="SECONDS",
                   help="how often validation records are re-read (default 60)")
    p.add_argument("--no-process-alerts", action="store_true", help="do not raise alerts from process signals")
    p.set_defaults(func=cmd_process)


def _number(value: str, *, allow_zero: bool) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {value!r}") from None
    if x < 0 or (x == 0 and not allow_zero) or x != x:
        raise argparse.ArgumentTypeError("must not be negative" if allow_zero else "must be greater than 0")
    return x


def _positive(value: str) -> float:
    return _number(value, allow_zero=False)


def _non_negative(value: str) -> float:
    return _number(value, allow_zero=True)


def cmd_process(args: argparse.Namespace) -> int:
    from alliance_monitor.cli import CliError

    from .alert_policy import SettingsBook
    from .broker import kafka_bootstrap
    from .phase_clock import ClockSettings
    from .processor import ProcessorConfig, run_worker
    from .session_state import ProcessorSettings

    book = SettingsBook.builtin()
    if args.alert_settings:
        try:
            book = SettingsBook.from_json(args.alert_settings)
        except FileNotFoundError:
            raise CliError(f"--alert-settings: no such file {args.alert_settings}") from None
        except (ValueError, TypeError) as err:
            raise CliError(f"--alert-settings {args.alert_settings}: {err}") from None
    settings = ProcessorSettings(
        clock=ClockSettings(allowed_lateness_s=args.lateness, idle_timeout_s=args.idle_timeout * 60.0),
        alerts=book.default,
        clock_rate=args.clock_rate,
        transcript_mode=args.transcript,
        signal_min_interval_s=args.signal_interval,
        process_alerts=not args.no_process_alerts,
        transport_grace_s=args.grace,
        forget_after_s=args.forget_after,
    )
    with kafka_bootstrap(announce=lambda m: print(m, file=sys.stderr)) as bootstrap:
        if args.max_batch_bytes < 1:
            raise CliError("--max-batch-bytes must be at least 1")
        from store.validation_cli import load_record_book

        records_db = args.records_db or os.environ.get("ALLIANCE_DB_URL")
        cfg = ProcessorConfig(bootstrap=bootstrap, app_id=args.app_id, settings=settings, alert_book=book,
                              producer_max_batch_size=args.max_batch_bytes,
                              record_loader=lambda: load_record_book(records_db),
                              record_reload_s=args.records_reload)
        print(f"processor starting: app {args.app_id} on {bootstrap}, clock rate {args.clock_rate:g}, "
              f"{args.transcript} transcripts (Ctrl-C stops)", file=sys.stderr, flush=True)
        return run_worker(cfg, loglevel="DEBUG" if args.verbose else "WARNING")
