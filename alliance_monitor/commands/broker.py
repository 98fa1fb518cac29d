"""``broker``, ``topics``, ``replay``, ``tail``: the broker and the topics of the streams package."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys
import threading
import time

from ..argtypes import int_at_least, non_negative_float, port, speed
from ..errors import CliError
from ..stopping import stop_on_sigterm
from .common import add_embedded_broker_argument, announce


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu) until Ctrl-C")
    p.add_argument("--port", type=port, default=9092, help="loopback port (default 9092; 0 = any free port)")
    p.add_argument("--no-topics", action="store_true", help="do not create the topic catalog")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("topics", help="list the topic catalog, or create it on the broker")
    p.add_argument("--create", action="store_true", help="create missing topics on KAFKA_BOOTSTRAP / embedded broker")
    p.add_argument("--check", action="store_true",
                   help="compare the broker's partition counts (topics and the processor's changelogs) with "
                        "ALLIANCE_PARTITIONS; exit 2 when they disagree")
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("replay", help="publish recorded sessions (JSONL) with their original timing")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSONL files or folders of them (see docs/replay-format.md)")
    p.add_argument("--speed", type=speed, default=1.0,
                   help="times faster than real time, e.g. 60 (50 min in 50 s); 'max' = no pauses")
    p.add_argument("--rebase-now", action="store_true",
                   help="shift event times so the first event is now (keeps all spacing)")
    p.add_argument("--no-progress", action="store_true")
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("tail", help="print events from a topic (ids and sizes only, never message text)")
    p.add_argument("topic")
    p.add_argument("--count", type=int_at_least(0), default=0, help="stop after this many events (0 = until --idle)")
    p.add_argument("--idle", type=non_negative_float, default=5.0, help="stop after this many seconds without an event")
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_tail)


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import EmbeddedBroker, clear_state, ensure_topics, running_embedded, write_state

    existing = running_embedded()
    if existing:
        print(f"an embedded broker is already running at {existing}", file=sys.stderr)
        return 1
    stop = threading.Event()
    stop_on_sigterm(stop.set)
    with EmbeddedBroker(port=args.port) as broker:
        write_state(broker)
        try:
            if not args.no_topics:
                ensure_topics(broker.bootstrap)
            print(f"broker ready at {broker.bootstrap} (export KAFKA_BOOTSTRAP={broker.bootstrap}); Ctrl-C stops it",
                  flush=True)
            while not stop.is_set() and broker.alive():
                stop.wait(0.5)
            if not broker.alive():
                print("broker process exited", file=sys.stderr)
                return 1
        except KeyboardInterrupt:
            pass
        finally:
            clear_state(broker)
    print("broker stopped", file=sys.stderr)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import all_topics

    if args.create:
        from streams.broker import ensure_topics, kafka_bootstrap

        with kafka_bootstrap(announce=announce, embedded=args.embedded_broker) as bootstrap:
            created = ensure_topics(bootstrap)
            print(f"created {len(created)} topic(s) on {bootstrap}")
            _check_partitions(bootstrap)  # topics that existed with another count: one line, exit 2
        return 0
    if args.check:
        from streams.broker import kafka_bootstrap

        with kafka_bootstrap(announce=announce, embedded=args.embedded_broker) as bootstrap:
            _check_partitions(bootstrap, verbose=True)
        return 0
    print(f"{'topic':24} {'contract':15} {'partitions':>10} {'retention':>10}  text")
    for t in all_topics():
        days = t.retention_ms / 86_400_000
        print(f"{t.name:24} {t.contract.__name__:15} {t.partition_count():>10} {days:>9.0f}d  "
              f"{'yes' if t.carries_text else 'no'}")
    return 0


def partition_report(bootstrap: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """(ALLIANCE_PARTITIONS, the count of every existing catalog topic and processor changelog, those off it).

    One check for ``topics --check``, ``topics --create`` and ``status``."""
    from streams.broker import partition_counts, partition_disagreements
    from streams.processor import changelog_topics
    from streams.topics import all_topics, default_partitions

    want = default_partitions()
    names = [t.name for t in all_topics()] + changelog_topics()
    counts = partition_counts(bootstrap, names)
    return want, {n: counts[n] for n in names if n in counts}, partition_disagreements(counts, want)


def _check_partitions(bootstrap: str, *, verbose: bool = False) -> None:
    """Every catalog topic and the processor's changelogs against ALLIANCE_PARTITIONS; CliError on a mismatch."""
    from streams.broker import disagreement_line
    from streams.processor import changelog_topics
    from streams.topics import all_topics

    want, counts, found = partition_report(bootstrap)
    if verbose:
        for name in [t.name for t in all_topics()] + changelog_topics():
            print(f"{name:44} {counts.get(name, '-'):>10}")
    if found:
        raise CliError(disagreement_line(found, want))
    if verbose:
        print(f"every existing topic has {want} partition(s)")


def cmd_replay(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from streams.broker import ensure_topics, kafka_bootstrap
    from streams.replay import iter_files, merge, publish, read_file, rebase

    per_file = []
    bad: list[object] = []  # missing files and rejected lines
    for path in iter_files(args.files):
        if not path.exists():
            print(f"{path}: no such file", file=sys.stderr)
            bad.append(path)
            continue
        events, errors = read_file(path)
        per_file.append(events)
        for e in errors:
            print(f"rejected {e}", file=sys.stderr)
        bad.extend(errors)
    events = merge(per_file)
    if args.rebase_now:
        events = rebase(events, datetime.now(timezone.utc))
    if not events:
        print("nothing to replay", file=sys.stderr)
        return 1
    with kafka_bootstrap(announce=announce, embedded=args.embedded_broker) as bootstrap:
        ensure_topics(bootstrap)
        stats = publish(events, bootstrap, speed=args.speed, progress=not args.no_progress)
    print(
        f"published {stats.turns} turns and {stats.session_events} session events "
        f"of {stats.sessions} sessions in {stats.elapsed_s:.1f}s"
        + (f"; {len(bad)} line(s) rejected" if bad else "")
    )
    return 1 if bad else 0


def cmd_tail(args: argparse.Namespace) -> int:
    import asyncio

    from streams.broker import kafka_bootstrap
    from streams.codec import decode
    from streams.errors import ContractError
    from streams.topics import spec

    try:
        topic = spec(args.topic)
    except KeyError as err:
        raise CliError(err.args[0]) from None

    async def run(bootstrap: str) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from streams.kafka_security import kafka_security

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_security(), enable_auto_commit=False)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(topic.name) or set()
            tps = [TopicPartition(topic.name, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            seen = 0
            last = time.monotonic()
            while time.monotonic() - last < args.idle:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        last = time.monotonic()
                        seen += 1
                        try:
                            ev = decode(topic.contract, r.value)
                            print(describe(ev), flush=True)
                        except ContractError as err:
                            print(f"invalid record at {r.topic}[{r.partition}]@{r.offset}: {err}", flush=True)
                        if args.count and seen >= args.count:
                            return 0
            return 0
        finally:
            await consumer.stop()

    with kafka_bootstrap(announce=announce, embedded=args.embedded_broker) as bootstrap:
        return asyncio.run(run(bootstrap))


def describe(event) -> str:
    """A one-line summary of an event that never includes message text."""
    from streams.contracts import AllianceAlert, AllianceScore, ChatTurn, SessionEvent

    if isinstance(event, ChatTurn):
        return (f"{event.sent_at:%H:%M:%S} {event.session_id} #{event.turn_id} {event.speaker:9} "
                f"{len(event.text)} chars")
    if isinstance(event, SessionEvent):
        return f"{event.at:%H:%M:%S} {event.session_id} {event.kind} (counselor {event.counselor_id})"
    if isinstance(event, AllianceScore):
        dims = " ".join(f"{d}={s.score:.2f}" for d, s in event.dimensions.items())
        return f"{event.session_id} {event.phase}: {dims}"
    if isinstance(event, AllianceAlert):
        return f"{event.session_id} {event.phase} {event.severity} {event.dimension} {event.kind}: {event.message}"
    from streams.contracts import CounselorFeedback, DeadLetter, RuptureEpisode

    if isinstance(event, DeadLetter):  # where from and why; the raw bytes only by size (they may hold chat text)
        return (f"{event.at:%Y-%m-%d %H:%M:%S} {event.source_topic}[{event.partition}]@{event.offset} "
                f"key {event.key or '-'}: {event.reason} ({len(event.raw)} {event.raw_encoding} chars)")

    if isinstance(event, RuptureEpisode):
        marks = " ".join(f"{m.turn_id}:{m.cue}" for m in event.markers)
        return (f"{event.episode_id} v{event.version} {event.kind} {event.status} ({'+'.join(event.sources)}) "
                f"{event.phase}, from turn {event.opened_turn_id}; markers {marks or '-'}")
    if isinstance(event, CounselorFeedback):  # ids and names only: the quote is counselor text
        return (f"{event.feedback_id} turn {event.turn_id}: pattern {event.pattern or '-'}, "
                f"work on {event.principle}{'' if event.validated else ' (unvalidated)'}")
    return f"{type(event).__name__} {getattr(event, 'session_id', '')}"
