"""Subcommands of the gateway package: ``gateway`` and ``token issue``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateway", help="serve live sessions to browsers (websockets) and the board/counselor pages")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 = any free port)")
    p.add_argument("--origin", action="append", default=[], metavar="URL",
                   help="extra allowed browser Origin, e.g. https://board.example.org (repeatable); "
                        "the gateway's own origin is always allowed")
    p.add_argument("--max-queue", type=_positive, default=1000,
                   help="messages pending per connection before a slow client is cut off (default 1000)")
    p.add_argument("--max-resume", type=_positive, default=5000,
                   help="most missed events a reconnect replays; further behind gets a fresh snapshot "
                        "(default 5000)")
    p.add_argument("--max-message-bytes", type=_positive, default=64 * 1024,
                   help="largest message a client may send (default 65536)")
    p.add_argument("--history", type=_positive, default=50_000,
                   help="events kept in memory for reconnects (default 50000)")
    p.add_argument("--unvalidated-to-counselors", action="store_true",
                   help="DEMO ONLY: also show alerts of unvalidated models to counselors (DESIGN §8)")
    p.set_defaults(func=cmd_gateway)

    t = sub.add_parser("token", help="access tokens for the gateway")
    tsub = t.add_subparsers(dest="token_command", metavar="ACTION")
    i = tsub.add_parser("issue", help="print a signed token (needs ALLIANCE_GATEWAY_SECRET or ALLIANCE_GATEWAY_KEYS)")
    i.add_argument("--role", required=True, choices=("counselor", "supervisor"))
    i.add_argument("--counselor-id", help="counselor tokens: whose sessions")
    i.add_argument("--group", action="append", default=[], help="supervisor tokens: a group in scope (repeatable)")
    i.add_argument("--all", dest="all_groups", action="store_true", help="supervisor tokens: every group")
    i.add_argument("--name", help="name shown on acknowledgements (default: counselor id / supervisor scope)")
    i.add_argument("--ttl", type=_duration, default=8 * 3600.0,
                   help="lifetime, e.g. 3600, 90m, 8h (default 8h, at most 24h)")
    i.set_defaults(func=cmd_token_issue)
    t.set_defaults(func=lambda args: _no_action())


def _no_action() -> int:
    from alliance_monitor.cli import CliError

    raise CliError("token needs an action: alliance-monitor token issue --role ...")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be a number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("--port must be between 0 and 65535")
    return port


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _duration(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    factor = units.get(text[-1:], None)
    number = text[:-1] if factor else text
    try:
        seconds = float(number) * (factor or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ttl must look like 3600, 90m, 12h or 7d, not {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("--ttl must be positive")
    return seconds


def cmd_token_issue(args: argparse.Namespace) -> int:
    from alliance_monitor.cli import CliError

    from .auth import TokenError, issue_token, keyring_from_env, token_id

    try:
        secret = keyring_from_env()
        token = issue_token(secret, role=args.role, counselor_id=args.counselor_id, groups=args.group,
                            all_groups=args.all_groups, name=args.name, ttl_s=args.ttl)
    except TokenError as err:
        raise CliError(str(err)) from None
    print(token)
    print(f"token id {token_id(token)} (key {secret.signing_kid}); revoke with `alliance-monitor token revoke ID`",
          file=sys.stderr)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from alliance_monitor.cli import CliError
    from streams.broker import ensure_topics, kafka_bootstrap

    from .auth import REVOKED_ENV, TokenError, keyring_from_env
    from .protocol import Policy
    from .server import GatewayConfig, run_gateway

    try:
        secret = keyring_from_env()
    except TokenError as err:
        raise CliError(str(err)) from None
    bad = [o for o in args.origin if not o.startswith(("http://", "https://")) or o.endswith("/")]
    if bad:
        raise CliError(f"--origin must look like https://host[:port] (no path, no trailing slash), not {bad[0]!r}")
    if args.unvalidated_to_counselors:
        from validation.gate import GATE_OFF_WARNING

        logging.getLogger("gateway").warning(GATE_OFF_WARNING)
        print(f"WARNING: {GATE_OFF_WARNING}", file=sys.stderr, flush=True)
    from store.validation_cli import load_record_book

    policy = Policy(max_queue=args.max_queue, max_resume=int(args.max_resume), unvalidated_to_counselors=args.unvalidated_to_counselors,
                    record_book=load_record_book(os.environ.get("ALLIANCE_DB_URL")))

    async def main(bootstrap: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        config = GatewayConfig(secret=secret, host=args.host, port=args.port, bootstrap=bootstrap,
                               origins=tuple(args.origin), max_message_bytes=args.max_message_bytes,
                               policy=policy, history_events=args.history,
                               revoked_file=os.environ.get(REVOKED_ENV) or None,
                               record_loader=lambda: load_record_book(os.environ.get("ALLIANCE_DB_URL")))
        try:
            await run_gateway(config, stop)
        except OSError as err:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None

    with kafka_bootstrap(announce=lambda m: print(m, flush=True)) as bootstrap:
        ensure_topics(bootstrap)
        asyncio.run(main(bootstrap))
    return 0
