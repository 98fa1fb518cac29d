"""``alliance-monitor train-turns``: train a turn-level detector on a site's codes (docs/validation.md#detectors).

Thin: read the coded turns (the ``eval-turns`` coded file, or the /code page's store), split
sessions whole, fit per code (``training.turn_detector``), save the artefact with its identity
and lineage, and print held-out kappa beside the word rules. The result is a new detector
identity that stays unvalidated until ``eval-turns --detector IDENTITY --record`` passes for it.
``--features hidden|both`` reads the scoring model's hidden states of each turn in its context
(``training.turn_hidden``; the model from ``--model`` / ALLIANCE_MODEL / the demo model), tying the
detector to that model.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from ..argtypes import fraction
from ..errors import CliError
from .common import add_db_argument

#: ``--features`` values (training.turn_detector.FEATURE_KINDS; kept here so the parser needs no sklearn import)
FEATURE_KINDS = ("lexical", "hidden", "both")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-turns", help="train a turn-level detector (word + character n-grams and/or the "
                                           "scoring model's hidden states, logistic regression per code) on a "
                                           "site's coded turns")
    p.add_argument("--turn-codes", type=Path, metavar="FILE",
                   help="JSONL of coded turns with their text (the eval-turns format)")
    p.add_argument("--from-store", action="store_true",
                   help="instead: the codes recorded on the /code page with the stored turn text (--db)")
    p.add_argument("--detector", default="counselor-words", choices=("counselor-words", "rupture-markers"),
                   help="the rule detector the trained one stands in for (its codes; default counselor-words)")
    p.add_argument("--code", action="append", default=[], metavar="CODE",
                   help="train only this code (repeatable; default: every code of the detector the turns carry)")
    p.add_argument("--features", default="lexical", choices=FEATURE_KINDS,
                   help="what the detector reads: lexical (n-grams of the turn and its previous turn; default), "
                        "hidden (the scoring model's middle-layer states of the turn after its previous turn: one "
                        "forward pass per turn, and the detector is tied to that model), both (the two blocks)")
    p.add_argument("--model", default=None,
                   help="with --features hidden|both: local Hugging Face model directory whose states are read "
                        "(default: ALLIANCE_MODEL, else the demo model); the one the scorer runs")
    p.add_argument("--held-out-share", type=fraction(one_allowed=False), default=0.3,
                   help="share of sessions held out, never trained on (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the session split (default 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="artefact directory (default: turn-detectors/ under the trained-models directory)")
    add_db_argument(p)
    p.set_defaults(func=cmd_train_turns)


def cmd_train_turns(args) -> int:
    from scoring.errors import ModelError
    from scoring.turn_features import rule_codes
    from store.turn_codes import labelled_from_store
    from store.turn_eval import read_labelled_turns
    from streams.signals import text_length
    from training.errors import TrainingError
    from training.turn_detector import (
        choose_codes,
        data_hash,
        fit,
        parent_detector,
        predict,
        speaker_of,
        split_sessions,
    )
    from training.turn_detector_files import save
    from training.turn_hidden import identity_of
    from validation.turn_agreement import CodedTurn, evaluate_code

    if args.from_store == (args.turn_codes is not None):
        raise CliError("give --turn-codes FILE or --from-store (with --db), not both and not neither")
    try:
        parent = parent_detector(args.detector)
        if args.from_store:
            from .common import store_engine

            engine = store_engine(args)
            try:
                turns = labelled_from_store(engine)
            finally:
                engine.dispose()
            source = "store turn_codes"
        else:
            turns = read_labelled_turns(args.turn_codes)
            source = f"turn codes {args.turn_codes.name}"
        codes = choose_codes(parent, args.code, turns)
        train_ids, held_ids = split_sessions([t.session_id for t in turns], args.held_out_share, args.seed)
        train = [t for t in turns if t.session_id in train_ids]
        held = [t for t in turns if t.session_id in held_ids]
        pooler = hidden = None
        read = [t for t in turns if t.speaker in {speaker_of(c) for c in codes}]  # the turns the codes are said of
        if args.features != "lexical":
            pooler, hidden = _hidden_states(args.model, read)
        states = None if hidden is None else dict(zip([(t.session_id, t.turn_id) for t in read], hidden, strict=True))
        model = None if pooler is None else identity_of(pooler)
        models = fit(codes, train, args.features, hidden=states, model=model)
        detector, path = save(models, parent.name, codes, out=args.out, data_source=source,
                              data_fingerprint=data_hash(turns), train_sessions=train_ids, n_held_out=len(held_ids),
                              params={"held_out_share": args.held_out_share, "seed": args.seed})
    except ModelError as err:
        raise CliError(str(err)) from None
    except TrainingError as err:
        raise CliError(str(err)) from None
    if model is not None:
        print(f"features: {args.features} (hidden states of {model.key}, {model.salt})")
    print(f"coded turns: {len(turns)} in {len(train_ids) + len(held_ids)} sessions ({source}); trained on "
          f"{len(train_ids)} sessions, held out {len(held_ids)} (never trained on)")
    print("held-out kappa with the coders (95% interval over sessions): trained detector vs the word rules")
    for code in codes:
        rows = [t for t in held if t.speaker == speaker_of(code) and code in t.codes]
        if not rows:
            print(f"  {code:<16} no held-out turns")
            continue

        def coded(measure: list[float], rows=rows, code=code) -> list[CodedTurn]:
            return [CodedTurn(t.session_id, t.turn_id, (t.codes[code],), m, float(text_length(t.text)))
                    for t, m in zip(rows, measure, strict=True)]

        mine = evaluate_code(code, coded([float(predict(models, t.text, t.previous, t.speaker,
                                                        None if states is None else states[(t.session_id, t.turn_id)])[code])
                                          for t in rows]), resamples=300, seed=args.seed)
        rules = evaluate_code(code, coded([float(rule_codes(t.text, t.speaker).get(code, False)) for t in rows]),
                              resamples=300, seed=args.seed)
        print(f"  {code:<16} n={mine.n:<4} trained {mine.agreement:5.2f} [{mine.ci.low:5.2f}, {mine.ci.high:5.2f}]"
              f"  rules {rules.agreement:5.2f} [{rules.ci.low:5.2f}, {rules.ci.high:5.2f}]")
    print(f"\nartefact: {path}")
    print(f"{detector.key} is a new detector identity: unvalidated until "
          f"`alliance-monitor eval-turns --detector {detector.key} --record` passes for it.")
    return 0


def _hidden_states(model_spec: str | None, turns):
    """The pooled extractor on the scoring model and every coded turn's states (progress and rate on stderr)."""
    import sys

    from scoring.models import resolve
    from training.turn_hidden import pooler_for, turn_states

    pooler = pooler_for(resolve(model_spec))
    got = turn_states(pooler, [(t.text, t.previous, t.speaker) for t in turns], progress=True)
    print(f"hidden-state extraction: {len(turns)} turn(s) in {got.seconds:.1f} s ({got.rate:.1f} turns/s)",
          file=sys.stderr, flush=True)
    return pooler, got.hidden
