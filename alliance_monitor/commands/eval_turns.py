"""``eval-turns``: turn-level measures (features, principle and pattern ratings) vs a site's human codes."""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from ..argtypes import int_at_least
from .common import add_db_argument, db_failure, store_engine, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-turns", help="turn-level measures vs human codes: kappa / ICC per code, "
                                          "beside a length-only baseline, with 95%% intervals")
    p.add_argument("--turn-codes", type=Path, metavar="FILE",
                   help="JSONL: one coded counselor turn per line (docs/counselor-feedback.md)")
    p.add_argument("--feedback", type=Path, metavar="FILE",
                   help="JSONL of CounselorFeedback records for the coded turns (alliance.feedback)")
    p.add_argument("--from-store", action="store_true",
                   help="instead of the files: the codes recorded on the /code page (turn_codes in the store, "
                        "--db), against the word rules on the stored turns; prints the coders' agreement too")
    p.add_argument("--detector", metavar="NAME",
                   help="instead of --feedback: evaluate this detector on the coded turns' text — a rule detector "
                        "(counselor-words, rupture-markers) or a trained one (trained.NAME@REVISION as train-turns "
                        "printed it, or its directory); with --record its turn-level record opens its notices to "
                        "counselors (docs/validation.md#detectors)")
    p.add_argument("--resamples", type=int_at_least(100), default=2000, metavar="B",
                   help="bootstrap resamples of sessions for the 95%% intervals (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the folds (default 0)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    p.add_argument("--record", action="store_true",
                   help="write the turn-level validation record of the feedback's model identity to the store: "
                        "the feedback gate (docs/counselor-feedback.md#the-feedback-gate)")
    add_db_argument(p)
    p.set_defaults(func=cmd_eval_turns)


def _record_store(args):
    """The store engine for ``--record``; any failure to reach it is one line naming the database."""
    from store.errors import StoreError

    from ..errors import CliError

    try:
        return store_engine(args)
    except (CliError, StoreError):
        raise
    except Exception as err:  # noqa: BLE001 - unknown dialect, unreachable server...
        raise db_failure(err, store_url(args)) from None


def cmd_eval_turns(args) -> int:
    import orjson

    from store.turn_eval import (
        evaluate_turns,
        feedback_identity,
        format_turn_eval,
        format_turn_gate,
        read_feedback,
        read_turn_codes,
        turn_eval_json,
        turn_gate_record,
    )

    from ..errors import CliError

    if args.from_store:
        return _from_store(args)
    if args.turn_codes is None:
        raise CliError("eval-turns needs --turn-codes FILE (with --feedback FILE or --detector NAME), or --from-store")
    if (args.feedback is None) == (args.detector is None):
        raise CliError("give --feedback FILE (the model's feedback records) or --detector NAME (a rule detector), "
                       "not both and not neither")
    from scoring.turn_features import rule_codes
    from validation.detectors import DETECTORS

    trained = None
    if args.detector and args.detector not in DETECTORS:
        trained = _trained(args.detector, args.turn_codes)
    elif args.detector and args.detector not in ("counselor-words", "rupture-markers"):
        raise CliError(f"--detector {args.detector}: no per-turn evaluation (these have one: counselor-words, "
                       "rupture-markers, or a trained detector; process-signals flags windows of turns)")
    # a bad line is a LabelError (StoreError): one line, exit 2; with --detector the rules read each turn's text
    codes = read_turn_codes(args.turn_codes, rule_codes if args.detector and trained is None else None)
    if args.detector:
        from store.turn_eval import evaluate_detector

        detector = DETECTORS[args.detector] if trained is None else trained[0]
        if trained is not None:  # the trained detector's answers stand where the rules' would
            import dataclasses

            codes = [dataclasses.replace(c, rules=trained[1].get((c.session_id, c.turn_id))) for c in codes]
        model = detector.identity if args.record else None
        engine = _record_store(args) if args.record else None
        res = evaluate_detector(codes, detector, resamples=args.resamples, seed=args.seed)
    else:
        feedback = read_feedback(args.feedback)
        model = feedback_identity(feedback, args.feedback) if args.record else None  # refused before any work
        engine = _record_store(args) if args.record else None  # a bad URL or no schema: one line, before the work
        res = evaluate_turns(codes, feedback, resamples=args.resamples, seed=args.seed)
    if res.matched == 0:
        raise CliError(f"none of the {res.coded_turns} coded turns has a feedback record in {args.feedback} "
                       "(records are matched by session_id and turn_id)")
    print(format_turn_eval(res), end="")
    record = None
    if model is not None and engine is not None:  # both with --record
        record = turn_gate_record(res, model, labels_source=str(args.turn_codes), resamples=args.resamples,
                                  seed=args.seed)
        print("\n" + format_turn_gate(record), end="")
        from store.repository import StoreRepository

        try:
            StoreRepository(engine).add_validation_record(record)
        except Exception as err:  # noqa: BLE001 - one line naming the database
            raise db_failure(err, store_url(args)) from None
        finally:
            engine.dispose()
        print(f"\nturn-level validation record written for {record.key} "
              f"({record.created_at.isoformat(timespec='seconds')}): "
              f"{len(record.passed_dimensions())} of {len(record.dimensions)} codes pass")
    if args.json:
        data = turn_eval_json(res)
        if record is not None:
            data["validation"] = orjson.loads(record.to_json())
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0


def _trained(spec: str, turn_codes: Path):
    """A trained detector (``train-turns``) and its yes/no answers per coded turn (with its previous turn as context).

    Turns of the sessions it was trained on get no answer (and so are not evaluated): a detector is never
    judged on the sessions it learnt from."""
    from store.turn_eval import read_labelled_turns
    from training.errors import TrainingError
    from training.turn_detector import predict
    from training.turn_detector_files import load, resolve

    from ..errors import CliError

    try:
        detector, models, trained_on = load(resolve(spec))
        turns = read_labelled_turns(turn_codes)
    except TrainingError as err:
        raise CliError(str(err)) from None
    left_out = {t.session_id for t in turns if t.session_id in trained_on}
    turns = [t for t in turns if t.session_id not in trained_on]
    if not turns:
        raise CliError(f"every coded session in {turn_codes} was used to train {detector.key}: evaluate it on "
                       "sessions it was not trained on")
    if left_out:
        print(f"{len(left_out)} coded session(s) left out: {detector.key} was trained on them")
    answers = {(t.session_id, t.turn_id): {k: float(v) for k, v in predict(models, t.text, t.previous,
                                                                            t.speaker).items()}
               for t in turns}
    return detector, answers


def _from_store(args) -> int:
    """``--from-store``: kappa per code of the word rules against the stored codes, and the coders' agreement."""
    from scoring.turn_features import rule_codes
    from store.turn_codes import evaluate_stored_codes, format_coder_agreement
    from store.turn_eval import format_turn_eval

    from ..errors import CliError

    if args.turn_codes is not None or args.feedback is not None or args.detector is not None or args.record:
        raise CliError("--from-store takes no --turn-codes, --feedback, --detector or --record (it reads the store)")
    engine = _record_store(args)
    try:
        ev = evaluate_stored_codes(engine, rule_codes, resamples=args.resamples, seed=args.seed)
    except Exception as err:  # noqa: BLE001 - one line naming the database
        raise db_failure(err, store_url(args)) from None
    finally:
        engine.dispose()
    if ev.coded_turns == 0:
        raise CliError(f"no turn codes in {store_url(args)}: code turns on the gateway's /code page first")
    print(format_turn_eval(ev.result), end="")
    print("\n" + format_coder_agreement(ev), end="")
    if args.json:
        import orjson

        from store.turn_eval import turn_eval_json
        from validation.stats import finite_or_none

        data = turn_eval_json(ev.result)
        data["coders_agreement"] = [{"code": a.code, "turns": a.n, "percent": finite_or_none(a.percent),
                                     "kappa": finite_or_none(a.kappa)} for a in ev.agreement]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0
