"""``settings``: print the reference table of every environment variable (docs/settings.md)."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys
from pathlib import Path

from ..errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="print the table of environment variables (docs/settings.md)")
    p.add_argument("--check", metavar="FILE", type=Path,
                   help="exit 1 when FILE differs from the generated table (for CI)")
    p.set_defaults(func=cmd_settings)


def cmd_settings(args: argparse.Namespace) -> int:
    from ..cli import build_parser, subcommand_parsers
    from ..settings import reference_markdown

    text = reference_markdown(subcommand_parsers(build_parser()))
    if args.check is None:
        sys.stdout.write(text)
        return 0
    try:
        current = args.check.read_text()
    except OSError as err:
        raise CliError(f"--check {args.check}: {err.strerror or err}") from None
    if current != text:
        print(f"{args.check} is out of step: regenerate it with `alliance-monitor settings > {args.check}`",
              file=sys.stderr)
        return 1
    print(f"{args.check} is up to date")
    return 0
