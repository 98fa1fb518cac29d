"""``alliance-monitor survey link`` and ``survey publish-links``: client survey links.

Thin: parse, call gateway.survey / gateway.survey_publisher, print.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys

from ..argtypes import base_url, duration
from ..errors import CliError
from ..health import add_health_argument
from ..stopping import stop_on_signals
from .common import add_embedded_broker_argument, add_trusted_source_argument, run_kafka_part


def register(sub: argparse._SubParsersAction) -> None:
    from gateway.survey import DEFAULT_LINK_TTL_S, INSTRUMENTS, LANGS

    s = sub.add_parser("survey", help="client survey links: mint one, or publish one for every session that ends")
    ssub = s.add_subparsers(dest="survey_command", metavar="ACTION", parser_class=type(s))
    p = ssub.add_parser("link", help="print a signed, single-use survey link for one session "
                                     "(needs ALLIANCE_GATEWAY_SECRET)")
    p.add_argument("--session", required=True, metavar="ID", help="the session the client rates")
    p.add_argument("--lang", required=True, choices=LANGS, help="language of the survey page")
    p.add_argument("--instrument", choices=INSTRUMENTS, default="wai-sr",
                   help="wai-sr (12 items, default) or srs (the short 4-item session form)")
    p.add_argument("--ttl", type=duration, default=DEFAULT_LINK_TTL_S,
                   help="lifetime, e.g. 90m, 72h, 7d (default 72h, at most 7d)")
    p.add_argument("--base-url", type=base_url, default="http://127.0.0.1:8765",
                   help="the gateway as clients reach it (default http://127.0.0.1:8765)")
    p.set_defaults(func=cmd_link)

    p = ssub.add_parser("publish-links", help="publish a survey link to chat.survey_links for every session "
                                              "that ends, until Ctrl-C")
    p.add_argument("--base-url", type=base_url, help="the gateway as clients reach it (required)")
    p.add_argument("--instrument", choices=INSTRUMENTS, default="wai-sr", help="default wai-sr")
    p.add_argument("--ttl", type=duration, default=DEFAULT_LINK_TTL_S, help="link lifetime (default 72h)")
    p.add_argument("--group", default="alliance-survey-links", help="consumer group id")
    add_trusted_source_argument(p)
    add_health_argument(p)
    add_embedded_broker_argument(p)
    p.set_defaults(func=cmd_publish_links)
    s.set_defaults(func=lambda args: (s.print_help(), 2)[1])


def _key() -> bytes:
    from gateway.auth import keyring_from_env
    from gateway.survey import survey_key

    return survey_key(keyring_from_env())  # TokenError / LinkError are GatewayErrors: one line, exit 2


def cmd_link(args: argparse.Namespace) -> int:
    from gateway.survey import link_url, mint_link

    token, _ = mint_link(_key(), session_id=args.session, lang=args.lang, instrument=args.instrument,
                         ttl_s=args.ttl)  # a refused request is a LinkError (GatewayError): one line, exit 2
    print(link_url(args.base_url, token))
    return 0


def cmd_publish_links(args: argparse.Namespace) -> int:
    from gateway.survey import MAX_LINK_TTL_S
    from gateway.survey_publisher import LinkPublisher
    from streams.topics import CHAT_SESSIONS, SURVEY_LINKS

    if not args.base_url:
        raise CliError("survey publish-links needs --base-url or ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL "
                       "(the gateway as clients reach it)")
    if args.ttl > MAX_LINK_TTL_S:
        raise CliError(f"--ttl must be at most {MAX_LINK_TTL_S // 3600} hours")
    key = _key()
    from streams import environment

    # the same list as the parts' --trusted-source (ALLIANCE_TRUSTED_SOURCE, which `up` sets for every child)
    trusted = frozenset(args.trusted_source or [name.strip() for name in
                                                (environment.get("ALLIANCE_TRUSTED_SOURCE") or "").split(",")
                                                if name.strip()])

    async def main(bootstrap: str, health) -> None:
        stop = stop_on_signals(health)
        pub = LinkPublisher(bootstrap, key, args.base_url, instrument=args.instrument, ttl_s=args.ttl,
                            group_id=args.group, trusted_sources=trusted)
        print(f"survey links: {CHAT_SESSIONS.name} (ended) → {SURVEY_LINKS.name}, {args.base_url}/survey "
              "(Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        if health:
            health.set_ready()
        stats = await pub.run(stop)
        print(f"survey links stopped: {stats.published} published for {stats.ended} ended sessions "
              f"({stats.skipped_expired} too old, {stats.refused} refused: not the owner's)", file=sys.stderr)

    run_kafka_part("survey-links", args.health_port, main, embedded=args.embedded_broker)
    return 0
