"""``alliance-monitor`` entry point: subcommands registered by each package.

Each package exposes ``<package>.cli.register(subparsers)``; every subcommand
sets ``func(args) -> int``. Expected failures raise :class:`CliError` (or one of
the known error types below) and are printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__

#: Modules that contribute subcommands, in help order. A module that cannot be
#: imported (an optional extra not installed) does not break the others.
COMMAND_MODULES = (
    "streams.cli",
    "scoring.cli",
    "gateway.cli",
    "store.cli",
    "alliance_monitor.up",
    "alliance_monitor.commands.corpus",
    "alliance_monitor.commands.train",
)


class CliError(Exception):
    """An expected failure: printed as ``alliance-monitor: <message>``, exit 2."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not a usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alliance-monitor",
                     description="Real-time monitor of the client-perceived therapeutic alliance in text counseling.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and (err.name == name or name.startswith(err.name + ".")):
                continue  # that package does not exist yet / is not installed
            raise
        module.register(sub)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [CliError, FileNotFoundError, PermissionError]
    for mod, attr in (("streams.broker", "BrokerError"), ("streams.codec", "ContractError")):
        try:
            errors.append(getattr(importlib.import_module(mod), attr))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, os.environ.get("ALLIANCE_LOG", "WARNING")),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("alliance-monitor: interrupted", file=sys.stderr)
        return 130
    except _known_errors() as err:
        print(f"alliance-monitor: {err}", file=sys.stderr)
        return getattr(err, "code", 2) if isinstance(getattr(err, "code", None), int) else 2


if __name__ == "__main__":
    sys.exit(main())
