"""``models pull-demo`` (install the demo model) and ``models status`` (validation records per model, and the
rule and trained detectors with their records)."""

from __future__ import annotations

__layer__ = "cli"

import argparse

from .common import add_db_argument, store_engine


def _cmd_pull_demo(args) -> int:
    from scoring.models import pull_demo

    ref = pull_demo(force=args.force, progress=not args.no_progress)
    print(f"demo model ready: {ref.name} ({ref.revision}) at {ref.path}")
    print("note: a 135M-parameter toy; its alliance scores carry little signal. "
          "Use --model / ALLIANCE_MODEL for a real model.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="scoring models (pull-demo, status)")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=sub._parser_class)
    p = msub.add_parser("pull-demo", help="install and convert the demo model (SmolLM2-135M-Instruct, a toy)")
    p.add_argument("--force", action="store_true", help="convert again even if present")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_pull_demo)
    register_models_status(msub)
    models.set_defaults(func=lambda a: (models.print_help(), 2)[1])


def register_models_status(models_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``status`` to the ``models`` group."""
    p = models_subparsers.add_parser("status", help="validation records: pass/fail per dimension, date, label set; detectors: codes passed/failed")
    p.add_argument("--all", action="store_true", help="every record, not only the newest per model identity")
    add_db_argument(p)
    p.set_defaults(func=cmd_models_status)
    return p


def cmd_models_status(args) -> int:
    from store.gate_eval import format_status
    from store.repository import StoreRepository
    from validation.detectors import record_rows
    from validation.formatting import detector_rows_text
    from validation.records import RecordBook

    repo = StoreRepository(store_engine(args))
    records = repo.validation_records()
    print(format_status(records, history=getattr(args, "all", False)))
    print("\n" + detector_rows_text(record_rows(RecordBook(records))))
    try:  # lineage of trained artefacts (train --method head|lora), from their metadata
        from training.lineage import status_section
    except ImportError:
        return 0
    section = status_section()
    if section:
        print("\n" + section)
    return 0
