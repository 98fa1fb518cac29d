"""``report``: phase-wise trajectories and counselor profiles from the store."""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from ..argtypes import positive_float
from ..errors import CliError
from .common import add_db_argument, lookup_message, store_engine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="phase-wise trajectories and counselor profiles (PNG + CSV + text)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the plots and tables")
    p.add_argument("--delta", type=positive_float, default=0.25,
                   help="smallest change early→late that counts, besides one full scale level (default 0.25)")
    p.add_argument("--model", help="model identity name[@revision][:prompt][/readout] (default: most predictions)")
    p.add_argument("--feedback", type=Path, metavar="FILE",
                   help="JSONL of turn-level feedback records (alliance.feedback) for the principle profiles per "
                        "counselor and week (default: the feedback the store keeps)")
    add_db_argument(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from store.report import build_report

    feedback = None
    if args.feedback is not None:
        from store.turn_eval import read_feedback

        feedback = list(read_feedback(args.feedback).values())  # a bad line: LabelError, one line
    engine = store_engine(args)
    try:
        res = build_report(engine, args.out, delta=args.delta, model=args.model, feedback=feedback)
    except LookupError as err:
        raise CliError(lookup_message(err)) from None
    print(res.text)
    print(f"wrote {len(res.files)} files to {args.out}")
    return 0
