"""The ``--tls-cert`` / ``--tls-key`` pair shared by the parts that serve HTTP (gateway, ingest).

Why one place: both parts must refuse the same half-configured TLS (a cert without
its key) with the same one-line error, before they open a port.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from .errors import CliError


def add_tls_options(p: argparse.ArgumentParser, serves: str) -> None:
    p.add_argument("--tls-cert", default=None, metavar="PEM",
                   help=f"certificate chain (PEM) to serve {serves}; needs --tls-key")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="private key (PEM) of --tls-cert")


def check_tls_options(args: argparse.Namespace) -> None:
    """Both or neither, and both readable: a one-line CliError otherwise."""
    cert, key = args.tls_cert, args.tls_key
    if bool(cert) != bool(key):
        raise CliError("TLS needs both --tls-cert and --tls-key (or neither for plain http)")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path and not Path(path).is_file():
            raise CliError(f"{flag} {path}: no such file")
