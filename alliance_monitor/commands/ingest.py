"""``ingest``: the HTTP endpoint where chat platforms post turns and session events."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys

from streams import environment

from ..argtypes import port, positive_float, positive_int
from ..errors import CliError
from ..health import add_health_argument
from ..stopping import stop_on_signals
from ..tls import add_tls_options, check_tls_options
from .common import add_embedded_broker_argument, run_kafka_part


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="HTTP endpoint for chat platforms: POST /v1/records -> chat.turns/chat.sessions")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8780, help="port (default 8780; 0 = any free port)")
    p.add_argument("--max-pending", type=positive_int, default=2000,
                   help="records in flight to Kafka before posts get 429 + Retry-After (default 2000)")
    p.add_argument("--max-records", type=positive_int, default=500, help="records per post (default 500)")
    p.add_argument("--retry-after", type=positive_int, default=1, help="seconds in the Retry-After header (default 1)")
    p.add_argument("--send-timeout", type=positive_float, default=30.0,
                   help="seconds Kafka has to acknowledge a batch before the post gets 503 (default 30)")
    p.add_argument("--dedupe-window", type=positive_int, default=200_000,
                   help="turn/session ids remembered to recognise re-posted records (default 200000)")
    add_tls_options(p, "https://")
    add_health_argument(p)
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.errors import IngestError
    from ingest.server import IngestConfig, serve
    from ingest.tokens import parse_tokens

    check_tls_options(args)
    if args.max_pending < args.max_records:  # a full post could never fit: 429 forever
        raise CliError(f"--max-pending ({args.max_pending}) must be at least --max-records ({args.max_records}): "
                       "a post of --max-records records would be throttled forever")
    try:
        tokens = parse_tokens(environment.get("ALLIANCE_INGEST_TOKENS"))
    except IngestError as err:
        raise CliError(str(err)) from None

    async def main(bootstrap: str, health) -> None:
        stop = stop_on_signals(health)
        cfg = IngestConfig(bootstrap=bootstrap, tokens=tokens, host=args.host, port=args.port,
                           max_pending=args.max_pending, max_records=args.max_records,
                           retry_after_s=args.retry_after, send_timeout_s=args.send_timeout,
                           dedupe_window=args.dedupe_window, tls_cert=args.tls_cert, tls_key=args.tls_key)

        def ready(addresses) -> None:
            scheme = "https" if args.tls_cert else "http"
            where = ", ".join(f"{scheme}://{a[0]}:{a[1]}" for a in addresses)
            print(f"ingest ready at {where}/v1/records for {len(set(tokens.values()))} platform(s)",
                  file=sys.stderr, flush=True)
            if health:
                health.set_ready()

        try:
            ingest = await serve(cfg, stop, on_ready=ready)
        except OSError as err:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
        c = ingest.counts
        print(f"ingest stopped: {c['accepted']} accepted, {c['duplicate']} duplicate, {c['rejected']} rejected, "
              f"{c['throttled']} throttled posts", file=sys.stderr, flush=True)

    run_kafka_part("ingest", args.health_port, main, embedded=args.embedded_broker)
    return 0
