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
                        "--db), against the word rules on the stored turns, the rupture episodes the rules open per "
                        "coded session and the process-signal flags per coded window; prints the coders' agreement "
                        "too; with --record writes the episode and window records the detector gate reads; with "
                        "--detector process-signals only the windows (code whole windows on /code?mode=stretch)")
    p.add_argument("--detector", metavar="NAME",
                   help="instead of --feedback: evaluate this detector on the coded turns' text — a rule detector "
                        "(counselor-words; rupture-markers, per turn and, where the file has session rupture codes, "
                        "per session; process-signals, per window of coded turns) or a trained one "
                        "(trained.NAME@REVISION as train-turns printed it, or its directory); with --record its "
                        "records open its notices to counselors (docs/validation.md#detectors)")
    p.add_argument("--model", default=None,
                   help="a trained detector that reads hidden states (train-turns --features hidden|both): the "
                        "local model directory it was trained on (default: ALLIANCE_MODEL, else the demo model); "
                        "another model is refused")
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
    if args.detector == "process-signals":
        return _units_from_file(args, episodes=False)
    if args.detector and args.detector not in DETECTORS:
        trained = _trained(args.detector, args.turn_codes, args.model)
    elif args.detector and args.detector not in ("counselor-words", "rupture-markers"):
        raise CliError(f"--detector {args.detector}: no evaluation here (these have one: counselor-words, "
                       "rupture-markers, process-signals, or a trained detector)")
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
    records = []
    if model is not None:  # --record
        record = turn_gate_record(res, model, labels_source=str(args.turn_codes), resamples=args.resamples,
                                  seed=args.seed)
        print("\n" + format_turn_gate(record), end="")
        records.append(record)
    data = turn_eval_json(res)
    if args.detector == "rupture-markers":  # and the episodes they open, where the file has session codes
        from store.session_eval import read_coded_sessions

        units = _units(read_coded_sessions(args.turn_codes), args, str(args.turn_codes), episodes=True, windows=False)
        records += units.records
        data.update(units.json)
    if engine is not None:
        _write_records(args, engine, records)
    if args.json:
        if records:
            data["validation"] = orjson.loads(records[0].to_json())
            data["validation_records"] = [orjson.loads(r.to_json()) for r in records]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0


class _Units:
    """What the session- and window-level evaluation printed, recorded (with --record) and puts in --json."""

    def __init__(self) -> None:
        self.records: list = []
        self.json: dict = {}


def _units(corpus, args, source: str, *, episodes: bool, windows: bool) -> _Units:
    """Rupture episodes per session and/or process-signal flags per window: printed, and their records made."""
    from store.session_eval import evaluate_corpus, format_units, unit_json, unit_record

    out = _Units()
    by_session, by_window = evaluate_corpus(corpus, resamples=args.resamples, seed=args.seed)
    for key, res in (("episodes", by_session if episodes else None), ("windows", by_window if windows else None)):
        if res is None:
            continue
        print("\n" + format_units(res), end="")
        out.json[key] = unit_json(res)
        if args.record:
            out.records.append(unit_record(res, labels_source=source, resamples=args.resamples, seed=args.seed))
            print("\n" + format_turn_gate_units(out.records[-1]), end="")
    if episodes and corpus.missing_turns:
        print(f"\n{corpus.missing_turns} session code(s) without the session's turns (purged, or not in the file): "
              "left out")
    return out


def format_turn_gate_units(record) -> str:
    """The gate's verdict per code of an episode or window record."""
    from store.session_eval import passes_line

    unit = record.settings.get("unit", "units")
    s = record.settings
    lines = [f"Detector gate for {record.key} ({unit}; {record.labels_n} coded {unit}"
             + (f" from {record.labels_source}" if record.labels_source else "") + "):",
             (f"  a code passes with at least {s.get('min_turns')} coded {unit}"
              + ("" if unit == "sessions" else f" from {s.get('min_sessions')} sessions")
              + f", the lower bound of its 95% interval at least {s.get('floor', 0):.2f}, and the interval of "
              "(rules − length) above 0")]
    for code, v in record.dimensions.items():
        lines.append(f"  {code:<22} {'PASS' if v.passed else 'fail'}  {v.reason.partition(': ')[2]}")
    lines.append("  " + passes_line(record))
    return "\n".join(lines) + "\n"


def _write_records(args, engine, records) -> None:
    from store.repository import StoreRepository

    try:
        repo = StoreRepository(engine)
        for record in records:
            repo.add_validation_record(record)
    except Exception as err:  # noqa: BLE001 - one line naming the database
        raise db_failure(err, store_url(args)) from None
    finally:
        engine.dispose()
    for record in records:
        level = {"sessions": "session-level (episodes)", "windows": "window-level"}.get(
            record.settings.get("unit"), "turn-level")
        print(f"\n{level} validation record written for {record.key} "
              f"({record.created_at.isoformat(timespec='seconds')}): "
              f"{len(record.passed_dimensions())} of {len(record.dimensions)} codes pass")


def _units_from_file(args, *, episodes: bool) -> int:
    """``--detector process-signals`` on a coded file: the flags per window against the coded turns."""
    import orjson

    from store.session_eval import read_coded_sessions

    from ..errors import CliError

    corpus = read_coded_sessions(args.turn_codes)  # a bad line: one line, exit 2
    engine = _record_store(args) if args.record else None
    if not corpus.turns:
        if engine is not None:
            engine.dispose()
        raise CliError(f"--detector process-signals needs the turns' text in {args.turn_codes} (a `text` field): "
                       "the flags are replayed from the turns")
    units = _units(corpus, args, str(args.turn_codes), episodes=episodes, windows=True)
    if not units.json:
        if engine is not None:
            engine.dispose()
        raise CliError(f"no window of {args.turn_codes} has enough coded turns for a reference (at least 3 coded "
                       "turns of the speaker in a window of 12)")
    if engine is not None:
        _write_records(args, engine, units.records)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(units.json, option=orjson.OPT_INDENT_2))
    return 0


def _trained(spec: str, turn_codes: Path, model: str | None = None):
    """A trained detector (``train-turns``) and its yes/no answers per coded turn (with its previous turn as context).

    Turns of the sessions it was trained on get no answer (and so are not evaluated): a detector is never
    judged on the sessions it learnt from."""
    from store.turn_eval import read_labelled_turns
    from training.errors import TrainingError
    from training.turn_detector import hidden_model, predict, speaker_of
    from training.turn_detector_files import load, resolve

    from ..errors import CliError

    try:
        detector, models, trained_on = load(resolve(spec))
        turns = read_labelled_turns(turn_codes)
        wanted = hidden_model(models)
        pooler = None
        if wanted is not None:  # checked before any turn is read by the model
            from scoring.errors import ModelError
            from scoring.models import resolve as resolve_model
            from training.turn_hidden import checked_pooler

            try:
                ref = resolve_model(model)
            except ModelError as err:
                raise CliError(str(err)) from None
            pooler = checked_pooler(wanted, ref)
    except TrainingError as err:
        raise CliError(str(err)) from None
    left_out = {t.session_id for t in turns if t.session_id in trained_on}
    turns = [t for t in turns if t.session_id not in trained_on]
    if not turns:
        raise CliError(f"every coded session in {turn_codes} was used to train {detector.key}: evaluate it on "
                       "sessions it was not trained on")
    if left_out:
        print(f"{len(left_out)} coded session(s) left out: {detector.key} was trained on them")
    states: list = [None] * len(turns)
    if pooler is not None:  # only the turns of the speakers its codes are said of (the others are "no")
        import sys

        from training.turn_hidden import turn_states

        read = [i for i, t in enumerate(turns) if t.speaker in {speaker_of(c) for c in models}]
        got = turn_states(pooler, [(turns[i].text, turns[i].previous, turns[i].speaker) for i in read],
                          progress=True)
        print(f"hidden-state extraction: {len(read)} turn(s) in {got.seconds:.1f} s ({got.rate:.1f} turns/s)",
              file=sys.stderr, flush=True)
        for i, h in zip(read, got.hidden, strict=True):
            states[i] = h
    answers = {(t.session_id, t.turn_id): {k: float(v) for k, v in predict(models, t.text, t.previous,
                                                                            t.speaker, h).items()}
               for t, h in zip(turns, states, strict=True)}
    return detector, answers


def _from_store(args) -> int:
    """``--from-store``: kappa per code of the word rules against the stored codes, and the coders' agreement."""
    from scoring.turn_features import rule_codes
    from store.turn_codes import evaluate_stored_codes, format_coder_agreement
    from store.turn_eval import format_turn_eval

    from ..errors import CliError

    if args.turn_codes is not None or args.feedback is not None:
        raise CliError("--from-store takes no --turn-codes or --feedback (it reads the store)")
    if args.detector == "process-signals":
        return _windows_from_store(args)
    if args.detector is not None:
        raise CliError(f"--from-store --detector {args.detector}: only process-signals (its windows); without "
                       "--detector it judges the word rules, the rupture episodes and the windows together")
    from store.session_eval import stored_coded_sessions

    engine = _record_store(args)
    try:
        ev = evaluate_stored_codes(engine, rule_codes, resamples=args.resamples, seed=args.seed)
        corpus = stored_coded_sessions(engine)
    except Exception as err:  # noqa: BLE001 - one line naming the database
        engine.dispose()
        raise db_failure(err, store_url(args)) from None
    if ev.coded_turns == 0 and not corpus.session_codes:
        engine.dispose()
        raise CliError(f"no turn codes in {store_url(args)}: code turns on the gateway's /code page first")
    if ev.coded_turns:
        print(format_turn_eval(ev.result), end="")
    # the rupture rules' episodes per coded session, the process-signal flags per coded window (replayed)
    units = _units(corpus, args, "store turn_codes", episodes=True, windows=True)
    if ev.coded_turns:
        print("\n" + format_coder_agreement(ev), end="")
    if args.record and units.records:
        _write_records(args, engine, units.records)
    else:
        engine.dispose()
        if args.record:
            print("\nno record written: no coded session or window to judge a detector on")
    if args.json:
        import orjson

        from store.turn_eval import turn_eval_json
        from validation.stats import finite_or_none

        data = turn_eval_json(ev.result)
        data["coders_agreement"] = [{"code": a.code, "turns": a.n, "percent": finite_or_none(a.percent),
                                     "kappa": finite_or_none(a.kappa)} for a in ev.agreement]
        data.update(units.json)
        if units.records:
            data["validation_records"] = [orjson.loads(r.to_json()) for r in units.records]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0


def _windows_from_store(args) -> int:
    """``--from-store --detector process-signals``: the flags per coded window of the stored codes, alone."""
    import orjson

    from store.session_eval import stored_coded_sessions

    from ..errors import CliError

    engine = _record_store(args)
    try:
        corpus = stored_coded_sessions(engine)
    except Exception as err:  # noqa: BLE001 - one line naming the database
        engine.dispose()
        raise db_failure(err, store_url(args)) from None
    units = _units(corpus, args, "store turn_codes", episodes=False, windows=True)
    if not units.json:
        engine.dispose()
        raise CliError(f"no window in {store_url(args)} has enough coded turns for a reference (at least 3 coded "
                       "turns of the speaker in a window of 12): code whole windows on the gateway's "
                       "/code?mode=stretch page first")
    if args.record:
        _write_records(args, engine, units.records)
    else:
        engine.dispose()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(units.json, option=orjson.OPT_INDENT_2))
    return 0
