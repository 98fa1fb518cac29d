"""``alliance-monitor token revoke TOKEN|ID``: add a token id (jti) to the revocation file.

The gateway re-reads ``ALLIANCE_GATEWAY_REVOKED`` every few seconds, refuses the
token from then on and closes connections that use it. Thin: finds the id, appends
one line, prints what it did. Registered under the existing ``token`` command.
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import datetime, timezone
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    token = sub.choices.get("token")
    if token is None:  # the gateway package is not installed
        return
    actions = [a for a in token._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        return
    r = actions[0].add_parser("revoke", help="revoke a token (by the token or its id): the gateway refuses it and "
                                             "closes its connections")
    r.add_argument("token", metavar="TOKEN|ID", help="the token itself, or the id `token issue` printed")
    r.add_argument("--file", type=Path, help="revocation file (default: ALLIANCE_GATEWAY_REVOKED)")
    r.add_argument("--note", default="", help="why (kept as a comment in the file)")
    r.set_defaults(func=cmd_revoke)


def cmd_revoke(args) -> int:
    from alliance_monitor.cli import CliError
    from gateway.auth import REVOKED_ENV, TokenError, read_revoked, token_id

    path = args.file or (Path(os.environ[REVOKED_ENV]) if os.environ.get(REVOKED_ENV) else None)
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
