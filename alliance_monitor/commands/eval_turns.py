"""``eval-turns``: turn-level measures (features, principle and pattern ratings) vs a site's human codes."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..argtypes import int_at_least


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-turns", help="turn-level measures vs human codes: kappa / ICC per code, "
                                          "beside a length-only baseline, with 95%% intervals")
    p.add_argument("--turn-codes", required=True, type=Path, metavar="FILE",
                   help="JSONL: one coded counselor turn per line (docs/counselor-feedback.md)")
    p.add_argument("--feedback", required=True, type=Path, metavar="FILE",
                   help="JSONL of CounselorFeedback records for the coded turns (alliance.feedback)")
    p.add_argument("--resamples", type=int_at_least(100), default=2000, metavar="B",
                   help="bootstrap resamples of sessions for the 95%% intervals (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the folds (default 0)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    p.set_defaults(func=cmd_eval_turns)


def cmd_eval_turns(args) -> int:
    import orjson

    from store.turn_eval import evaluate_turns, format_turn_eval, read_feedback, read_turn_codes, turn_eval_json

    from ..errors import CliError

    codes = read_turn_codes(args.turn_codes)  # a bad line is a LabelError (StoreError): one line, exit 2
    feedback = read_feedback(args.feedback)
    res = evaluate_turns(codes, feedback, resamples=args.resamples, seed=args.seed)
    if res.matched == 0:
        raise CliError(f"none of the {res.coded_turns} coded turns has a feedback record in {args.feedback} "
                       "(records are matched by session_id and turn_id)")
    print(format_turn_eval(res), end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(turn_eval_json(res), option=orjson.OPT_INDENT_2))
    return 0
