"""``calibrate``: fit a per-dimension map from raw scores to the client scale and store it with the record."""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from ..argtypes import int_at_least
from ..errors import CliError
from .common import add_db_argument, lookup_message, store_engine


def register(sub: argparse._SubParsersAction) -> None:
    from validation.calibration import DEFAULT_METHOD, METHODS

    p = sub.add_parser("calibrate", help="fit a per-dimension monotone map from raw scores to the client scale")
    p.add_argument("--labels", required=True, type=Path, metavar="FILE", help="JSONL labels (see docs/store.md)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="linear (default: a + b*raw, b >= 0; robust on small label sets) or isotonic")
    p.add_argument("--model", help="model identity name[@revision][:prompt][/readout] (default: most predictions)")
    p.add_argument("--folds", type=int_at_least(2), default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    p.add_argument("--no-record", action="store_true", help="print only; do not store the calibration")
    add_db_argument(p)
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args) -> int:
    from store.eval import read_labels
    from store.gate_eval import calibrate
    from store.repository import StoreRepository, pick_model

    labels = read_labels(args.labels)
    repo = StoreRepository(store_engine(args))
    try:
        key = pick_model(repo.model_identities(), args.model)
    except LookupError as err:
        raise CliError(lookup_message(err)) from None
    print(calibrate(repo, key, labels, method=args.method, folds=args.folds, seed=args.seed,
                    labels_source=str(args.labels), store=not args.no_record))
    return 0
