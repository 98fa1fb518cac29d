"""``eval-turns``: turn-level measures against a site's human codes — the files in, the table out.

Reads a coded file (one JSON line per coded counselor turn, per coder) and the
feedback records of the same turns (the ``alliance.feedback`` contract, as a
JSON Lines file), pairs them by (session, turn), and hands the numbers to the
pure core :mod:`validation.turn_agreement`. Never prints or logs turn text: a
coded file may carry the turn (``text``) only so its length can be counted.
"""

from __future__ import annotations

__layer__ = "shell"

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from streams.codec import json_lines, validate
from streams.contracts import CounselorFeedback
from streams.errors import ContractError
from streams.signals import text_length
from training.turn_detector import LabelledTurn, labelled_turns
from validation.detectors import Detector
from validation.stats import finite_or_none
from validation.turn_agreement import (
    ALL_CODES,
    BINARY_CODES,
    THRESHOLDS,
    CodeAgreement,
    CodedTurn,
    TurnGateSettings,
    evaluate_code,
    kind_of,
    turn_record,
)

from .errors import LabelError


@dataclass(frozen=True)
class TurnCode:
    """One coder's codes of one counselor turn."""

    session_id: str
    turn_id: int
    coder: str
    length: int | None  # words (CJK characters) of the turn, when the file says
    codes: dict[str, float]
    speaker: str = "counselor"
    #: what the word rules say about the turn, per code (``scoring.turn_features.rule_codes``), when the
    #: file carries the turn's ``text``: the measure of ``eval-turns --detector``. The text itself is dropped.
    rules: dict[str, float] | None = None


def _code_value(code: str, v: object, where: str) -> float:
    if kind_of(code) == "binary":
        if isinstance(v, bool) or v in (0, 1):
            return float(bool(v))
        raise LabelError(f"{where}: codes.{code} must be true or false")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 1 <= v <= 5:
        raise LabelError(f"{where}: codes.{code} must be a rating from 1 to 5")
    return float(v)


#: what the word rules say about one turn's text, per code (``scoring.turn_features.rule_codes``, handed in
#: by the CLI: the store does not import the scorer)
RuleReader = Callable[[str, str], dict[str, bool]]


def parse_turn_code(data: object, where: str, rules_of: RuleReader | None = None) -> TurnCode:
    if not isinstance(data, dict):
        raise LabelError(f"{where}: expected a JSON object")
    sid, tid = data.get("session_id"), data.get("turn_id")
    if not isinstance(sid, str) or not sid.strip():
        raise LabelError(f"{where}: session_id is required (a non-empty string)")
    if isinstance(tid, bool) or not isinstance(tid, int) or tid < 0:
        raise LabelError(f"{where}: turn_id is required (a whole number >= 0)")
    coder = data.get("coder", data.get("coder_id", "coder"))
    if not isinstance(coder, str) or not coder.strip():
        raise LabelError(f"{where}: coder (or coder_id) must be a non-empty string")
    raw = data.get("codes")
    if not isinstance(raw, dict) or not raw:
        raise LabelError(f"{where}: codes is required (an object of code: value)")
    codes = {}
    for k, v in raw.items():
        if k not in ALL_CODES:
            raise LabelError(f"{where}: codes.{k} is not a turn-level code ({', '.join(ALL_CODES)})")
        codes[k] = _code_value(k, v, where)
    text, length = data.get("text"), data.get("length")
    if text is not None and not isinstance(text, str):
        raise LabelError(f"{where}: text must be a string")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise LabelError(f"{where}: length must be a whole number >= 0")
    speaker = data.get("speaker", "counselor")
    if speaker not in ("counselor", "client"):
        raise LabelError(f"{where}: speaker must be counselor or client")
    rules = None
    if text:
        length = text_length(text)
        if rules_of is not None:
            rules = {k: float(v) for k, v in rules_of(text, speaker).items()}
    return TurnCode(sid, tid, coder, length, codes, speaker, rules)


def is_session_line(data: object) -> bool:
    """A coded file's line holding a session's rupture code (``{"session_id", "coder", "rupture"}``), which the
    session-level evaluation reads (store/session_eval.py); the turn-level readers check it and pass it by."""
    return isinstance(data, dict) and "rupture" in data


def _check_session_line(data: dict, where: str) -> None:
    from validation.codebook import check_rupture

    if not isinstance(data.get("session_id"), str) or not data["session_id"].strip():
        raise LabelError(f"{where}: session_id is required (a non-empty string)")
    try:
        check_rupture(data["rupture"])
    except ValueError as err:
        raise LabelError(f"{where}: {err}") from None


def read_turn_codes(path: str | Path, rules_of: RuleReader | None = None) -> list[TurnCode]:
    """Parse a coded file; the first problem raises LabelError naming file:line. Session-code lines are checked
    and left to the session-level evaluation."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"turn code file not found: {path}")
    out: list[TurnCode] = []
    seen: set[tuple[str, int, str]] = set()
    for line in json_lines(path):
        if line.error is not None:
            raise LabelError(f"{line.source}: {line.error}")
        if is_session_line(line.data):
            _check_session_line(line.data, line.source)
            continue
        code = parse_turn_code(line.data, line.source, rules_of)
        key = (code.session_id, code.turn_id, code.coder)
        if key in seen:
            raise LabelError(f"{line.source}: turn {code.turn_id} of {code.session_id} is coded twice by {code.coder}")
        seen.add(key)
        out.append(code)
    if not out:
        raise LabelError(f"{path}: no coded turns")
    return out


def read_labelled_turns(path: str | Path) -> list[LabelledTurn]:
    """The coded file's turns with their text and previous turn, for a trained detector (``train-turns``,
    ``eval-turns --detector trained.…``); lines are checked as ``eval-turns`` checks them."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"turn code file not found: {path}")
    texts: dict[tuple[str, int], tuple[str, str]] = {}
    codes: dict[tuple[str, int], list[dict[str, float]]] = {}
    for line in json_lines(path):
        if line.error is not None:
            raise LabelError(f"{line.source}: {line.error}")
        if is_session_line(line.data):
            _check_session_line(line.data, line.source)
            continue
        tc = parse_turn_code(line.data, line.source)
        text = line.data.get("text") if isinstance(line.data, dict) else None
        if isinstance(text, str) and text:
            texts[(tc.session_id, tc.turn_id)] = (tc.speaker, text)
        codes.setdefault((tc.session_id, tc.turn_id), []).append(tc.codes)
    turns = labelled_turns(texts, codes)
    if not turns:
        raise LabelError(f"{path}: no coded turn with its text (a `text` field): a detector learns from the text")
    return turns


def read_feedback(path: str | Path) -> dict[tuple[str, int], CounselorFeedback]:
    """Feedback records by (session, turn); the newest record of a turn wins. A bad line: LabelError."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"feedback file not found: {path}")
    out: dict[tuple[str, int], CounselorFeedback] = {}
    for line in json_lines(path):
        if line.error is not None:
            raise LabelError(f"{line.source}: {line.error}")
        try:
            rec = validate(CounselorFeedback, line.data)
        except ContractError as err:
            raise LabelError(f"{line.source}: not a CounselorFeedback record ({err.problems[0]})") from None
        key = (rec.session_id, rec.turn_id)
        if key not in out or rec.created_at >= out[key].created_at:
            out[key] = rec
    if not out:
        raise LabelError(f"{path}: no feedback records")
    return out


def _measure(rec: CounselorFeedback, code: str) -> float | None:
    if code in BINARY_CODES:
        v = rec.features.get(code)
        return None if v is None else float(v)
    rating = rec.rating(code)
    return None if rating is None else float(rating)


def _length(turn_codes: list[TurnCode], rec: CounselorFeedback) -> tuple[float, str]:
    for c in turn_codes:
        if c.length is not None:
            return float(c.length), "codes"
    return float(text_length(rec.quote)), "quote"


@dataclass
class TurnEvalResult:
    coded_turns: int
    matched: int
    coders: list[str]
    length_from_quote: int  # matched turns whose length came from the (possibly cut) feedback quote
    model: str
    codes: list[CodeAgreement] = field(default_factory=list)


def pair_turns(codes: list[TurnCode], feedback: dict[tuple[str, int], CounselorFeedback]
               ) -> tuple[dict[str, list[CodedTurn]], int, int, list[str]]:
    """Per code, the coded turns that have a feedback record with that measure."""
    coders = sorted({c.coder for c in codes})
    by_turn: dict[tuple[str, int], list[TurnCode]] = {}
    for c in codes:
        by_turn.setdefault((c.session_id, c.turn_id), []).append(c)
    per_code: dict[str, list[CodedTurn]] = {}
    matched = from_quote = 0
    for key, tcs in sorted(by_turn.items()):
        rec = feedback.get(key)
        if rec is None:
            continue
        matched += 1
        tcs = sorted(tcs, key=lambda c: coders.index(c.coder))
        length, source = _length(tcs, rec)
        from_quote += source == "quote"
        for code in ALL_CODES:
            human = tuple(c.codes[code] for c in tcs if code in c.codes)
            value = _measure(rec, code)
            if human and value is not None:
                per_code.setdefault(code, []).append(CodedTurn(key[0], key[1], human, value, length))
    return per_code, matched, from_quote, coders


def evaluate_turns(codes: list[TurnCode], feedback: dict[tuple[str, int], CounselorFeedback], *,
                   resamples: int = 2000, seed: int = 0) -> TurnEvalResult:
    per_code, matched, from_quote, coders = pair_turns(codes, feedback)
    models = sorted({str(rec.model.name) for rec in feedback.values()})
    res = TurnEvalResult(len({(c.session_id, c.turn_id) for c in codes}), matched, coders, from_quote,
                         ", ".join(models))
    res.codes = [evaluate_code(code, per_code[code], resamples=resamples, seed=seed)
                 for code in ALL_CODES if code in per_code]
    return res


#: the rule detectors that read single turns (process-signals flags windows of turns)
PER_TURN = ("counselor-words", "rupture-markers")


def evaluate_detector(codes: list[TurnCode], detector: str | Detector, *, resamples: int = 2000,
                      seed: int = 0) -> TurnEvalResult:
    """A rule detector (``counselor-words``, ``rupture-markers``) or a trained one (``train-turns``) against the
    coders, per code it speaks for: the detector read each coded turn's ``text`` (kept only as its answers, in
    ``TurnCode.rules``), beside turn length alone."""
    from validation.detectors import DETECTORS

    found = detector if isinstance(detector, Detector) else DETECTORS.get(detector)
    if found is None or (found.kind == "rules" and found.name not in PER_TURN):
        raise LabelError(f"no per-turn evaluation for detector {detector!r} (these have one: counselor-words, "
                         "rupture-markers; process-signals flags windows of turns, not single turns)")
    with_text = [c for c in codes if c.rules is not None]
    if not with_text:
        raise LabelError(f"--detector {found.key} needs the turn's text in the coded file (a `text` field): "
                         "the rules read it")
    coders = sorted({c.coder for c in codes})
    by_turn: dict[tuple[str, int], list[TurnCode]] = {}
    for c in with_text:
        by_turn.setdefault((c.session_id, c.turn_id), []).append(c)
    per_code: dict[str, list[CodedTurn]] = {}
    for key, tcs in sorted(by_turn.items()):
        tcs = sorted(tcs, key=lambda c: coders.index(c.coder))
        for code in found.codes:
            human = tuple(c.codes[code] for c in tcs if code in c.codes)
            rules = tcs[0].rules or {}
            if human and code in rules:
                per_code.setdefault(code, []).append(CodedTurn(key[0], key[1], human, rules[code],
                                                               float(tcs[0].length or 0)))
    res = TurnEvalResult(len({(c.session_id, c.turn_id) for c in codes}), len(by_turn), coders, 0,
                         f"{found.key} ({found.kind})")
    res.codes = [evaluate_code(code, per_code[code], resamples=resamples, seed=seed)
                 for code in found.codes if code in per_code]
    return res


def code_table_header() -> str:
    """The column line of every per-code agreement table (turns, episodes, windows)."""
    return (f"  {'code':<22} {'stat':<8} {'n':>3} {'yes':>4} {'agreement':>9} {'95% CI':<15} {'length':>6} "
            f"{'95% CI':<15} {'Δ 95% CI':<15} {'coders':>6}  verdict")


def code_table_row(c: CodeAgreement) -> str:
    """One code's line under :func:`code_table_header`."""
    return (f"  {c.code:<22} {c.statistic:<8} {c.n:>3} {'' if c.positives is None else c.positives:>4} "
            f"{_f(c.agreement):>9} {_ci(c.ci.low, c.ci.high):<15} {_f(c.baseline):>6} "
            f"{_ci(c.baseline_ci.low, c.baseline_ci.high):<15} "
            f"{_ci(c.difference_ci.low, c.difference_ci.high):<15} {_f(c.coders):>6}  {c.verdict}")


def _f(x: float | None, digits: int = 2) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _ci(low: float, high: float) -> str:
    return "[—]" if math.isnan(low) else f"[{low:.2f}, {high:.2f}]"


def format_turn_eval(res: TurnEvalResult) -> str:
    what = ("carry text the rules read" if res.model.endswith("(rules)") else "have a feedback record")
    lines = [(f"Turn-level measures vs human codes — {res.matched} of {res.coded_turns} coded turns {what} "
              f"({'detector' if res.model.endswith('(rules)') else 'model'} {res.model}); coders: {', '.join(res.coders)}"),
             ("  agreement: kappa for yes/no codes (features), ICC(2,1) for 1–5 ratings (model); 95% intervals "
              "resample sessions;"),
             "  length: the same statistic for turn length alone (cross-validated); Δ: measure − length",
             (f"  verdict 'agrees': at least {THRESHOLDS['binary']:.2f} (kappa) / {THRESHOLDS['rated']:.2f} (ICC) "
              "and Δ's interval above 0"), ""]
    lines.append(code_table_header())
    lines += [code_table_row(c) for c in res.codes]
    if res.length_from_quote:
        lines.append(f"\n  length of {res.length_from_quote} turn(s) taken from the feedback quote (cut at 80 "
                     "characters): add `text` or `length` to the coded file for a true baseline")
    return "\n".join(lines) + "\n"


def turn_eval_json(res: TurnEvalResult) -> dict:
    def interval(i) -> dict:
        return {"low": finite_or_none(i.low), "high": finite_or_none(i.high), "resamples": i.resamples}

    return {
        "coded_turns": res.coded_turns, "matched": res.matched, "coders": res.coders, "model": res.model,
        "length_from_quote": res.length_from_quote,
        "codes": [{"code": c.code, "kind": c.kind, "statistic": c.statistic, "n": c.n, "sessions": c.sessions,
                   "positives": c.positives, "agreement": finite_or_none(c.agreement), "ci": interval(c.ci),
                   "length_baseline": finite_or_none(c.baseline), "length_ci": interval(c.baseline_ci),
                   "difference_ci": interval(c.difference_ci),
                   "coders": None if c.coders is None else finite_or_none(c.coders), "coder_pairs": c.coder_pairs,
                   "verdict": c.verdict} for c in res.codes],
    }


# --- the turn-level validation record (``eval-turns --record``) ---------------------------------------


def feedback_identity(feedback: dict[tuple[str, int], CounselorFeedback], source: object = "the feedback file"):
    """The one model identity of the feedback records; several is a LabelError (one record per identity)."""
    from validation.records import model_key

    ids = {model_key(rec.model): rec.model for rec in feedback.values()}
    if len(ids) != 1:
        raise LabelError(f"{source} holds feedback of {len(ids)} model identities ({', '.join(sorted(ids))}); "
                         "a validation record is for one: split the file by model")
    return next(iter(ids.values()))


def format_turn_gate(record) -> str:
    """The feedback gate's verdict per code, and what it means for the cards."""
    s = record.settings
    lines = [f"Feedback gate for {record.key} (turn level; {record.labels_n} coded turns"
             + (f" from {record.labels_source}" if record.labels_source else "") + "):",
             (f"  a code passes with at least {s.get('min_turns')} coded turns from {s.get('min_sessions')} sessions, "
              f"the lower bound of its 95% interval at least {s.get('floor', 0):.2f}, and the interval of "
              "(measure − length) above 0")]
    for code, v in record.dimensions.items():
        lines.append(f"  {code:<22} {'PASS' if v.passed else 'fail'}  {v.reason.partition(': ')[2]}")
    passed = record.passed_dimensions()
    lines.append(f"  a feedback card reaches counselors only when every code it shows passes; passing: "
                 f"{', '.join(passed)}" if passed else
                 "  no code passed: this model's feedback cards go to supervisors only, marked unvalidated")
    return "\n".join(lines) + "\n"


def turn_gate_record(res: TurnEvalResult, model, *, labels_source: str | None, resamples: int, seed: int,
                     settings: TurnGateSettings | None = None, created_at=None):
    """The ``level="turn"`` ValidationRecord of ``model`` from an ``eval-turns`` result."""
    return turn_record(model, res.codes, settings, labels_n=res.matched, labels_source=labels_source,
                       created_at=created_at, extra={"resamples": resamples, "seed": seed,
                                                     "coders": list(res.coders)})
