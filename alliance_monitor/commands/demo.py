"""``demo``: the sample sessions through the whole pipeline (the run itself is :mod:`alliance_monitor.demo`)."""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from ..argtypes import non_negative_float, positive_float
from .up import add_up_arguments

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the sample sessions through the whole pipeline, alerts printed as they happen")
    add_up_arguments(p)
    p.add_argument("--speed", type=positive_float, default=30.0,
                   help="replay speed (default 30: the ~1 h of samples in ~2 min)")
    p.add_argument("--samples", default=str(SAMPLES), help="folder or files of sessions to replay")
    p.add_argument("--out", default=None, help="folder for the report (default: <state dir>/demo-report)")
    p.add_argument("--linger", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the pipeline and board running after the summary until Ctrl-C "
                        "(default: when run in a terminal)")
    p.add_argument("--wait-scores", type=non_negative_float, default=600.0,
                   help="seconds to wait after the replay for the last phase scores (default 600)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args)
