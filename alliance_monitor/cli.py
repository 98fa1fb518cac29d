"""``alliance-monitor`` entry point: the one CLI layer of the project.

Each module in ``alliance_monitor/commands/`` exposes ``register(subparsers)``;
every subcommand sets ``func(args) -> int``. Expected failures raise
:class:`CliError` or a package's base error (``StreamsError``, ``ScoringError``,
``GatewayError``, ``StoreError``, ``GateError``, ``IngestError``; see :mod:`alliance_monitor.errors`)
and are printed as one line with exit 2, never a traceback.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import importlib
import logging
import re
import sys
from typing import NoReturn

from . import __version__
from .errors import CliError, known_errors

__all__ = ["COMMAND_MODULES", "CliError", "build_parser", "main"]

#: Modules of alliance_monitor/commands/ that contribute subcommands, in help order.
#: A module that cannot be imported (an optional extra not installed) does not break the others.
COMMAND_MODULES = (
    "broker",      # broker, topics, replay, tail
    "process",     # process
    "score",       # score, score-file
    "models",      # models pull-demo, models status
    "gateway",     # gateway, token issue|revoke
    "db",          # db upgrade|downgrade|current|purge
    "sink",        # sink
    "ingest",      # ingest (HTTP endpoint for chat platforms)
    "report",      # report
    "eval",        # eval
    "eval_turns",  # eval-turns
    "calibrate",   # calibrate
    "up",          # up
    "status",      # status (figures of this machine's parts)
    "demo",        # demo
    "survey",      # survey link, survey publish-links
    "score_corpus",  # score-corpus
    "dlq",         # dlq redrive
    "ruptures",    # ruptures FILE...
    "audit",       # audit (who viewed which session)
    "settings",    # settings (the reference table of environment variables)
    "corpus",      # corpus synth
    "train",       # train
    "train_turns",  # train-turns
)

#: argparse says "argument --port: must be ..."; the user reads "--port must be ...".
_TYPE_MESSAGE = re.compile(r"^argument ([^:]+): (?=must )")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not a usage dump
        message = _TYPE_MESSAGE.sub(r"\1 ", message)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alliance-monitor",
                     description="Real-time monitor of the client-perceived therapeutic alliance in text counseling.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        qualified = f"{__package__}.commands.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as err:
            if err.name and (err.name == qualified or qualified.startswith(err.name + ".")):
                continue  # that module does not exist / its package is not installed
            raise
        module.register(sub)
    from .settings import PART_COMMANDS, part_parser, prepare_parser

    for name in PART_COMMANDS:
        if (part := part_parser(dict(sub.choices), name)) is not None:
            prepare_parser(name, part)
    return parser


def subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers of ``parser`` by name."""
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


#: the parts that run as services (a container's whole output goes to a log collector): with
#: ALLIANCE_LOG_FORMAT=json every line they write is a JSON record
SERVICE_PARTS = ("process", "score", "sink", "gateway", "ingest", "survey publish-links")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .settings import apply_environment, load_deploy_settings, part_of, part_parser

    try:
        deploy = load_deploy_settings()
        part = part_of(args)
        part_options = part_parser(subcommand_parsers(parser), part) if part else None
        if part and part_options is not None:
            apply_environment(part, part_options, args)
    except CliError as err:
        print(f"alliance-monitor: {err}", file=sys.stderr)
        return err.code
    from .logs import configure_logging

    configure_logging(logging.DEBUG if args.verbose else getattr(logging, deploy.log), deploy.log_format,
                      args.command or "cli", redact_pii=deploy.log_redact, json_stdio=part in SERVICE_PARTS)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("alliance-monitor: interrupted", file=sys.stderr)
        return 130
    except known_errors() as err:
        print(f"alliance-monitor: {err}", file=sys.stderr)
        return err.code if isinstance(err, CliError) else 2


if __name__ == "__main__":
    # run the imported module's main, so `python -m alliance_monitor.cli` and command modules
    # share one CliError class (otherwise __main__.CliError is not the one they raise)
    from alliance_monitor.cli import main as _main

    sys.exit(_main())
