"""``status``: one machine's parts at a glance — ready?, key figures, consumer lag, partition counts (docs/metrics.md)."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from urllib.parse import urlsplit

from streams import environment

from ..argtypes import non_negative_float, positive_float
from ..errors import CliError
from ..status import PartStatus, figures_of, format_part, parse_samples, rates


def part_list(value: str) -> list[tuple[str, str]]:
    """``[name=]http://host:port,...`` → [(name, base URL)]; the name defaults to host:port."""
    parts = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        name, _, url = item.rpartition("=") if "=" in item.split("://", 1)[0] else ("", "", item)
        split = urlsplit(url)
        try:
            port = split.port
        except ValueError:
            port = None
        if split.scheme not in ("http", "https") or not split.hostname or port is None or split.query:
            raise argparse.ArgumentTypeError(f"must be [name=]http://host:port[,...], not {item!r}")
        parts.append((name or f"{split.hostname}:{port}", url.rstrip("/")))
    if not parts:
        raise argparse.ArgumentTypeError("must name at least one part: [name=]http://host:port[,...]")
    return parts


def group_names(value: str) -> list[str]:
    groups = [g.strip() for g in value.split(",") if g.strip()]
    if not groups:
        raise argparse.ArgumentTypeError("must name at least one consumer group")
    return groups


def register(sub: argparse._SubParsersAction) -> None:
    from streams.telemetry import CONSUMER_GROUPS

    p = sub.add_parser("status", help="this machine's parts: ready?, key figures from /metrics, consumer-group lag, "
                                     "topics whose partition count is off ALLIANCE_PARTITIONS")
    p.add_argument("--parts", type=part_list, metavar="[NAME=]URL,...",
                   help="health/metrics base URLs of the parts, e.g. sink=http://127.0.0.1:8080 "
                        "(default: the parts a running `up` listed)")
    p.add_argument("--groups", type=group_names, default=list(CONSUMER_GROUPS), metavar="GROUP,...",
                   help=f"consumer groups whose lag to read from the broker (default {','.join(CONSUMER_GROUPS)})")
    p.add_argument("--no-broker", action="store_true", help="do not ask the broker for consumer-group lag and partition counts")
    p.add_argument("--interval", type=non_negative_float, default=0.0, metavar="SECONDS",
                   help="scrape twice this far apart and show counters per second too (default 0: once)")
    p.add_argument("--timeout", type=positive_float, default=3.0, help="seconds per request (default 3)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.set_defaults(func=cmd_status)


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only (part_list)
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _scrape(url: str, timeout: float):
    status, body = _get(f"{url}/metrics", timeout)
    if status != 200:
        raise ValueError(f"/metrics answered HTTP {status}")
    return parse_samples(body.decode("utf-8", "replace"))


def read_part(name: str, url: str, timeout: float, interval: float) -> PartStatus:
    part = PartStatus(name, url)
    try:
        part.ready = _get(f"{url}/healthz", timeout)[0] == 200
    except (OSError, ValueError):
        part.ready = None
    try:
        first = _scrape(url, timeout)
        if interval > 0:
            started = time.monotonic()
            time.sleep(interval)
            second = _scrape(url, timeout)
            part.rates = rates(first, second, time.monotonic() - started)
            first = second
        part.figures = figures_of(first)
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", None)  # urllib's URLError: the socket's own words
        part.error = str(reason or err) or type(err).__name__
    return part


def broker_lag(groups: list[str]) -> tuple[str | None, dict]:
    """(bootstrap, {group: {"lag": n, "partitions": [...]}}), or (None, {}) when no broker is known here."""
    from streams.broker import running_embedded
    from streams.group_lag import group_lag

    bootstrap = environment.get("KAFKA_BOOTSTRAP") or running_embedded()
    if not bootstrap:
        return None, {}
    lags = group_lag(bootstrap, groups)
    return bootstrap, {g: {"lag": sum(p.lag for p in ps),
                           "partitions": [dict(asdict(p), lag=p.lag) for p in ps]} for g, ps in lags.items()}


def broker_partitions(bootstrap: str) -> dict:
    """{"want": ALLIANCE_PARTITIONS, "mismatched": {topic: count}}: the check of ``topics --check``."""
    from .broker import partition_report

    want, _, found = partition_report(bootstrap)
    return {"want": want, "mismatched": found}


def partition_lines(partitions: dict) -> list[str]:
    """One line per topic whose partition count is off ALLIANCE_PARTITIONS, with the command that fixes it."""
    from streams.broker import partition_fix

    want, found = partitions["want"], partitions["mismatched"]
    if not found:
        return [f"partitions: every existing topic has {want} (ALLIANCE_PARTITIONS)"]
    return [f"partitions: {name} has {n}, not {want} (ALLIANCE_PARTITIONS); fix: {partition_fix(name, n, want)}"
            for name, n in found.items()] + ["  (docs/runbook.md, Scaling: changing the partition count)"]


def cmd_status(args: argparse.Namespace) -> int:
    from streams.broker import state_dir

    from ..up import PARTS_FILE, read_parts

    parts = args.parts or list(read_parts(state_dir() / PARTS_FILE).items())
    if not parts and args.no_broker:
        raise CliError("no parts to ask: give --parts [NAME=]URL,... or start `alliance-monitor up`")
    statuses = [read_part(name, url, args.timeout, args.interval) for name, url in parts]
    bootstrap, groups = (None, {}) if args.no_broker else broker_lag(args.groups)
    partitions = broker_partitions(bootstrap) if bootstrap else None
    if args.json:
        print(json.dumps({"parts": [asdict(s) for s in statuses], "broker": bootstrap, "groups": groups,
                          "partitions": partitions}))
    else:
        if not parts:
            print("no parts given and no `alliance-monitor up` running here (--parts [NAME=]URL,...)")
        for s in statuses:
            print("\n".join(format_part(s)))
        if bootstrap:
            print(f"consumer-group lag (committed vs end offsets, broker {bootstrap}):")
            for group, info in groups.items():
                behind = [f"{p['topic']}[{p['partition']}] {p['lag']}" for p in info["partitions"] if p["lag"]]
                state = "no committed offsets" if not info["partitions"] else f"lag {info['lag']}"
                print(f"  {group:<24} {state}" + (f"  ({', '.join(behind)})" if behind else ""))
            if partitions is not None:
                print("\n".join(partition_lines(partitions)))
        elif not args.no_broker:
            print("consumer-group lag: no broker here (set KAFKA_BOOTSTRAP or start `alliance-monitor broker`)",
                  file=sys.stderr)
    unhealthy = [s for s in statuses if s.ready is not True or s.error]
    mismatched = bool(partitions and partitions["mismatched"])  # the processor would refuse to start
    return 1 if unhealthy or mismatched else 0
