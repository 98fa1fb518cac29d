"""``gateway`` (serve the pages and websockets), ``token issue`` and ``token revoke``: the gateway package's commands."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import asyncio
import logging
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from streams import environment

from ..argtypes import duration, network, non_negative_float, port, positive_float, positive_int
from ..errors import CliError
from ..health import add_health_argument, start_health
from ..stopping import stop_on_signals
from ..tls import add_tls_options, check_tls_options
from .common import add_embedded_broker_argument, add_trusted_source_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateway", help="serve live sessions to browsers (websockets) and the board/counselor pages")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8765, help="port (default 8765; 0 = any free port)")
    p.add_argument("--origin", action="append", default=[], metavar="URL",
                   help="extra allowed browser Origin, e.g. https://board.example.org (repeatable); "
                        "the gateway's own origin is always allowed")
    p.add_argument("--max-queue", type=positive_int, default=1000,
                   help="messages pending per connection before a slow client is cut off (default 1000)")
    p.add_argument("--max-resume", type=positive_int, default=5000,
                   help="most missed events a reconnect replays; further behind gets a fresh snapshot "
                        "(default 5000)")
    p.add_argument("--max-message-bytes", type=positive_int, default=64 * 1024,
                   help="largest message a client may send (default 65536)")
    p.add_argument("--history", type=positive_int, default=50_000,
                   help="events kept in memory for reconnects (default 50000)")
    p.add_argument("--reconnect-rate", type=non_negative_float, default=1.0, metavar="PER_SECOND",
                   help="connections one token may open per second, after a burst of --reconnect-burst; a token "
                        "reconnecting faster is closed with 4029 (default 1; 0 = no limit)")
    p.add_argument("--reconnect-burst", type=positive_int, default=20, metavar="N",
                   help="connections one token may open at once before --reconnect-rate applies (default 20)")
    p.add_argument("--unvalidated-to-counselors", action="store_true",
                   help="DEMO ONLY: also show alerts and scores of unvalidated models to counselors "
                        "(docs/validation.md)")
    p.add_argument("--open-detector", action="append", default=[], metavar="NAME[:CODE]",
                   help="open a rule detector (process-signals, rupture-markers), or one code of it, to counselors "
                        "before its validation record passes; repeatable; logged at start and shown on the board "
                        "(docs/validation.md#detectors)")
    p.add_argument("--hello-timeout", type=positive_float, default=3.0, metavar="SECONDS",
                   help="close a socket that sends no valid hello (token) within this long (default 3)")
    p.add_argument("--max-unauthenticated-per-address", type=positive_int, default=20, metavar="N",
                   help="sockets one remote address may hold before authenticating; more are closed "
                        "with 1013 (default 20)")
    p.add_argument("--max-unauthenticated", type=positive_int, default=500, metavar="N",
                   help="sockets waiting to authenticate in all; more are closed with 1013 (default 500)")
    p.add_argument("--trusted-proxy", action="append", default=[], metavar="CIDR", type=network,
                   help="a reverse proxy (address or network) whose X-Forwarded-For / Forwarded header names the "
                        "client; the per-client caps and --observer then use that address (repeatable; default: "
                        "none, every client is its TCP peer)")
    p.add_argument("--observer", action="append", default=[], metavar="CIDR", type=network,
                   help="clients (address or network) that may read /metrics and the detailed /healthz "
                        "(repeatable; default: loopback). A forwarded request counts by the client a trusted "
                        "proxy names, never by the proxy")
    add_tls_options(p, "https:// and wss://")
    add_trusted_source_argument(p)
    p.add_argument("--audit-bound", type=positive_float, default=15.0, metavar="SECONDS",
                   help="an audit record unpublished this long is an audit outage: /healthz answers 503 and no "
                        "session content is served until the trail is back (default 15)")
    p.add_argument("--serve-unaudited", action="store_true",
                   help="keep serving session content during an audit outage (views then go unaudited)")
    p.add_argument("--records-reload", type=positive_float, default=60.0, metavar="SECONDS",
                   help="re-read the validation records from the store this often (default 60)")
    p.add_argument("--no-store-timelines", action="store_true",
                   help="answer a session's timeline (the after-session page) only from memory, never from the "
                        "store (ALLIANCE_DB_URL); for a gateway without database access")
    add_health_argument(p)
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_gateway)

    t = sub.add_parser("token", help="access tokens for the gateway")
    tsub = t.add_subparsers(dest="token_command", metavar="ACTION")
    i = tsub.add_parser("issue", help="print a signed token (needs ALLIANCE_GATEWAY_SECRET or ALLIANCE_GATEWAY_KEYS)")
    i.add_argument("--role", required=True, choices=("counselor", "supervisor"))
    i.add_argument("--counselor-id", help="counselor tokens: whose sessions")
    i.add_argument("--group", action="append", default=[], help="supervisor tokens: a group in scope (repeatable)")
    i.add_argument("--all", dest="all_groups", action="store_true", help="supervisor tokens: every group")
    i.add_argument("--name", help="name shown on acknowledgements (default: counselor id / supervisor scope)")
    i.add_argument("--ttl", type=duration, default=8 * 3600.0,
                   help="lifetime, e.g. 3600, 90m, 8h (default 8h, at most 24h)")
    i.set_defaults(func=cmd_token_issue)
    r = tsub.add_parser("revoke", help="revoke a token (by the token or its id): the gateway refuses it and "
                                       "closes its connections")
    r.add_argument("token", metavar="TOKEN|ID", help="the token itself, or the id `token issue` printed")
    r.add_argument("--file", type=Path, help="revocation file (default: ALLIANCE_GATEWAY_REVOKED)")
    r.add_argument("--note", default="", help="why (kept as a comment in the file)")
    r.set_defaults(func=cmd_token_revoke)
    t.set_defaults(func=lambda args: _no_action())


def _no_action() -> int:
    raise CliError("token needs an action: alliance-monitor token issue --role ... | token revoke TOKEN|ID")


def cmd_token_issue(args: argparse.Namespace) -> int:
    from gateway.auth import issue_token, keyring_from_env, token_id

    secret = keyring_from_env()  # a TokenError is a GatewayError: one line, exit 2
    token = issue_token(secret, role=args.role, counselor_id=args.counselor_id, groups=args.group,
                        all_groups=args.all_groups, name=args.name, ttl_s=args.ttl)
    print(token)
    print(f"token id {token_id(token)} (key {secret.signing_kid}); revoke with `alliance-monitor token revoke ID`",
          file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Append the token's id (jti) to the revocation file the gateway re-reads every few seconds."""
    from gateway.auth import REVOKED_ENV, read_revoked, token_id
    from gateway.errors import TokenError

    revoked = environment.get(REVOKED_ENV)
    path = args.file or (Path(revoked) if revoked else None)
    if path is None:
        raise CliError(f"no revocation file: give --file or set {REVOKED_ENV} (the gateway reads the same file)")
    value = args.token.strip()
    if re.fullmatch(r"[0-9a-f]{32}", value):
        jti = value
    else:
        try:
            jti = token_id(value)
        except TokenError as err:
            raise CliError(f"not a token id nor a token: {err}") from None
    if jti in read_revoked(path):
        print(f"token {jti} was already revoked ({path})")
        return 0
    note = re.sub(r"[\r\n#]", " ", args.note).strip()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{jti}  # revoked {stamp}{' ' + note if note else ''}\n")
    print(f"revoked token {jti} ({path}); gateways reading this file refuse it within seconds")
    return 0


def store_archive(db_url: str | None):
    """The gateway's ``archive_loader``: a forgotten session's journal from the store, as the hub takes it.

    One engine for the gateway's life, made on first use (a gateway that is never
    asked for an old session never connects). Raises when the store cannot be read:
    the gateway then tells the viewer so instead of showing an empty page.
    """
    from gateway.history import ArchivedSession, archived_event
    from store.db import make_engine
    from store.repository import StoreRepository

    holder: dict = {}

    def load(session_id: str) -> ArchivedSession | None:
        if "repo" not in holder:
            holder["repo"] = StoreRepository(make_engine(db_url))
        journal = holder["repo"].journal(session_id)
        if journal is None:
            return None
        events = [archived_event(e.seq, e.kind, e.stream, e.record_offset, session_id, e.data)
                  for e in journal.entries if isinstance(e.data, dict)]
        return ArchivedSession(session_id, journal.counselor_id, journal.group, events)

    return load


def coding_desk():
    """The ``/code`` page's store: the turns the sink kept (ALLIANCE_STORE_TURNS=1), within their retention."""
    from store.settings import StoreSettings

    from ..coding import StoreCodingDesk

    settings = StoreSettings.from_env()
    return StoreCodingDesk(settings.db_url, retention_days=settings.turns_retention_days)


def cmd_gateway(args: argparse.Namespace) -> int:
    from gateway.auth import REVOKED_ENV, keyring_from_env
    from gateway.policy import Policy
    from gateway.server import GatewayConfig, run_gateway
    from store.records import load_record_book
    from streams.broker import ensure_topics, kafka_bootstrap

    secret = keyring_from_env()  # a TokenError is a GatewayError: one line, exit 2
    check_tls_options(args)
    bad = [o for o in args.origin if not o.startswith(("http://", "https://")) or o.endswith("/")]
    if bad:
        raise CliError(f"--origin must look like https://host[:port] (no path, no trailing slash), not {bad[0]!r}")
    if args.unvalidated_to_counselors:
        from validation.gate import GATE_OFF_WARNING

        logging.getLogger("gateway").warning(GATE_OFF_WARNING)
        print(f"WARNING: {GATE_OFF_WARNING}", file=sys.stderr, flush=True)
    from validation.detectors import OPENED_WARNING, parse_opened

    try:
        opened = parse_opened(args.open_detector)
    except ValueError as err:
        raise CliError(f"--open-detector: {err}") from None
    for what in sorted(opened):
        logging.getLogger("gateway").warning(OPENED_WARNING.format(what=what))
        print(f"WARNING: {OPENED_WARNING.format(what=what)}", file=sys.stderr, flush=True)
    policy = Policy(max_queue=args.max_queue, max_resume=args.max_resume,
                    unvalidated_to_counselors=args.unvalidated_to_counselors, opened_detectors=opened,
                    reconnect_rate=args.reconnect_rate, reconnect_burst=args.reconnect_burst,
                    record_book=load_record_book(environment.get("ALLIANCE_DB_URL")))

    async def main(bootstrap: str) -> None:
        stop = stop_on_signals(health)
        config = GatewayConfig(secret=secret, host=args.host, port=args.port, bootstrap=bootstrap,
                               origins=tuple(args.origin), max_message_bytes=args.max_message_bytes,
                               policy=policy, history_events=args.history,
                               revoked_file=environment.get(REVOKED_ENV) or None,
                               record_loader=lambda: load_record_book(environment.get("ALLIANCE_DB_URL")),
                               record_reload_s=args.records_reload, hello_timeout_s=args.hello_timeout,
                               max_unauthenticated_per_address=args.max_unauthenticated_per_address,
                               max_unauthenticated=args.max_unauthenticated,
                               trusted_proxies=tuple(args.trusted_proxy), observers=tuple(args.observer),
                               audit_bound_s=args.audit_bound, serve_unaudited=args.serve_unaudited,
                               tls_cert=args.tls_cert, tls_key=args.tls_key,
                               trusted_sources=tuple(args.trusted_source),
                               archive_loader=None if args.no_store_timelines
                               else store_archive(environment.get("ALLIANCE_DB_URL")),
                               coding=None if args.no_store_timelines else coding_desk())
        try:
            await run_gateway(config, stop, on_ready=health.set_ready if health else None)
        except OSError as err:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None

    health = start_health("gateway", args.health_port)
    try:
        with kafka_bootstrap(announce=lambda m: print(m, flush=True), embedded=args.embedded_broker) as bootstrap:
            ensure_topics(bootstrap)
            if health:
                health.watch_kafka(bootstrap)
            asyncio.run(main(bootstrap))
    finally:
        if health:
            health.close()
    return 0
