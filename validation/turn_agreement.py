"""Agreement of turn-level measures with human codes, each beside a length-only baseline. Pure.

What ``eval-turns`` decides, per code: how well the measure (the word-level
features, the model's principle and pattern ratings) agrees with a person's
codes of the same counselor turns — Cohen's kappa for yes/no codes, ICC(2,1)
for 1–5 ratings — and how well the turn's *length alone* agrees with them, on the
same turns and the same statistic. A measure that only tracks length (long
turns "reflect", short turns are "passive") is exposed by the second number.

Intervals resample sessions (:func:`validation.stats.cluster_resamples`); the
measure and the baseline are computed on the same resamples, so their
difference has an interval of its own, and the verdict rests on it.
"""

from __future__ import annotations

__layer__ = "core"

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Sequence, get_args

import numpy as np

from streams.contracts import ModelIdentity, PatternKey, PrincipleKey

from .stats import (
    NAN,
    Interval,
    cluster_resamples,
    cohen_kappa,
    icc_pair,
    length_classifier,
    length_rater,
    percentile_interval,
)

if TYPE_CHECKING:
    from .records import DimensionVerdict, ValidationRecord

#: Word-level features (``CounselorFeedback.features``): yes/no codes, Cohen's kappa.
BINARY_CODES: tuple[str, ...] = ("open_question", "closed_question", "reflection", "directive", "self_disclosure")
#: The model's 1–5 ratings (``principles`` and ``patterns``): ICC(2,1).
RATED_CODES: tuple[str, ...] = (*get_args(PrincipleKey), *get_args(PatternKey))
#: Client-turn marker codes (yes/no, Cohen's kappa): what the ``rupture-markers`` detector speaks for
#: (validation.detectors); coded on client turns, measured by the rules (``eval-turns --detector``).
CLIENT_CODES: tuple[str, ...] = ("withdrawal", "confrontation")
ALL_CODES: tuple[str, ...] = (*BINARY_CODES, *CLIENT_CODES, *RATED_CODES)

Kind = Literal["binary", "rated"]
#: Conventional "moderate" agreement: kappa above .40 (Landis & Koch), ICC above .50 (Koo & Li).
THRESHOLDS: dict[Kind, float] = {"binary": 0.40, "rated": 0.50}
#: Fewest coded turns for a verdict (a kappa or ICC on fewer is mostly noise).
MIN_TURNS = 20


def kind_of(code: str) -> Kind:
    return "binary" if code in BINARY_CODES or code in CLIENT_CODES else "rated"


@dataclass(frozen=True)
class CodedTurn:
    """One code of one counselor turn: the human value(s), the measure's value, the turn's length."""

    session_id: str
    turn_id: int
    human: tuple[float, ...]  # one per coder, coders in a fixed order
    measure: float
    length: float


@dataclass(frozen=True)
class CodeAgreement:
    code: str
    kind: Kind
    statistic: str  # "kappa" | "ICC(2,1)"
    n: int
    sessions: int
    positives: int | None  # binary codes: turns the human coded yes
    agreement: float
    ci: Interval
    baseline: float
    baseline_ci: Interval
    difference_ci: Interval  # measure minus baseline, on the same resamples
    coders: float | None  # agreement between the first two coders, where two coded a turn
    coder_pairs: int
    verdict: str


def _reference(kind: Kind, human: Sequence[float]) -> float | None:
    """The human value of a turn: the mean rating; for yes/no the majority (a tie is no reference)."""
    if kind == "rated":
        return float(np.mean(human))
    yes = sum(1 for v in human if v)
    if 2 * yes == len(human):
        return None
    return 1.0 if 2 * yes > len(human) else 0.0


def _stat(kind: Kind, a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    if len(a) < 2:
        return NAN
    return cohen_kappa([int(v) for v in a], [int(v) for v in b]) if kind == "binary" else icc_pair(a, b)


def verdict(kind: Kind, n: int, agreement: float, difference: Interval, *, constant: bool = False) -> str:
    """The short reading: codes constant, undefined, too few, not above length, below threshold, agrees."""
    if constant:
        return "codes constant"  # e.g. nobody coded a self-disclosure: nothing to agree on
    if math.isnan(agreement):
        return "undefined"
    if n < MIN_TURNS:
        return "too few"
    if math.isnan(difference.low) or difference.low <= 0.0:
        return "not above length"
    if agreement < THRESHOLDS[kind]:
        return "below threshold"
    return "agrees"


def evaluate_code(code: str, turns: Sequence[CodedTurn], *, resamples: int = 2000, seed: int = 0,
                  confidence: float = 0.95, folds: int = 5, kind: Kind | None = None) -> CodeAgreement:
    """Agreement of one code with its measure, the length baseline, intervals and the verdict.

    The units need not be turns: a session's rupture code or a window's flag is a yes/no unit too
    (``validation.episode_agreement``, ``validation.window_agreement``; ``kind`` then says so)."""
    kind = kind or kind_of(code)
    rows = [(t, ref) for t in turns if (ref := _reference(kind, t.human)) is not None]
    n = len(rows)
    human = np.array([ref for _, ref in rows], dtype=float)
    measure = np.array([t.measure for t, _ in rows], dtype=float)
    lengths = np.array([t.length for t, _ in rows], dtype=float)
    sessions = [t.session_id for t, _ in rows]
    statistic = "kappa" if kind == "binary" else "ICC(2,1)"
    positives = int(human.sum()) if kind == "binary" else None
    pairs = [t.human[:2] for t in turns if len(t.human) >= 2]  # ties too: they are the disagreements
    coders = _stat(kind, [p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) >= 2 else None
    empty = Interval(NAN, NAN, confidence, 0)
    if n < max(folds, 3):
        nan_verdict = verdict(kind, n, NAN, empty)
        return CodeAgreement(code, kind, statistic, n, len(set(sessions)), positives, NAN, empty, NAN, empty, empty,
                             coders, len(pairs), nan_verdict)
    if kind == "binary":
        baseline_pred = length_classifier(lengths, human.astype(int), folds=folds, seed=seed).astype(float)
    else:
        baseline_pred = length_rater(lengths, human, folds=folds, seed=seed)
    agreement = _stat(kind, measure, human)
    baseline = _stat(kind, baseline_pred, human)
    reps_m, reps_b, reps_d = [], [], []
    for idx in cluster_resamples(sessions, resamples, seed):
        m, b = _stat(kind, measure[idx], human[idx]), _stat(kind, baseline_pred[idx], human[idx])
        reps_m.append(m)
        reps_b.append(b)
        reps_d.append(m - b)
    diff = percentile_interval(reps_d, confidence)
    constant = bool(np.all(human == human[0]))
    return CodeAgreement(code, kind, statistic, n, len(set(sessions)), positives, agreement,
                         percentile_interval(reps_m, confidence), baseline, percentile_interval(reps_b, confidence),
                         diff, coders, len(pairs), verdict(kind, n, agreement, diff, constant=constant))


# --- the feedback gate's verdict per code, and the turn-level validation record ----------------------

#: Lowest acceptable *lower bound* of a code's agreement interval, kappa and ICC alike: with 95%
#: confidence the measure agrees at least moderately with the human codes (kappa .40, Landis &
#: Koch; ICC .40 sits at the bottom of the .45–.81 range published for validated turn-level LLM
#: measures), not merely on average.
GATE_FLOOR = 0.40
#: Fewest coded turns and coded sessions behind a code that may pass. Intervals resample sessions, so
#: a handful of sessions cannot give a trustworthy one however many turns they hold.
GATE_MIN_TURNS = 100
GATE_MIN_SESSIONS = 10


@dataclass(frozen=True)
class TurnGateSettings:
    floor: float = GATE_FLOOR
    min_turns: int = GATE_MIN_TURNS
    min_sessions: int = GATE_MIN_SESSIONS

    def __post_init__(self) -> None:
        if not 0.0 < self.floor <= 1.0:
            raise ValueError(f"floor must be in (0, 1], got {self.floor}")
        if self.min_turns < MIN_TURNS:
            raise ValueError(f"min_turns must be at least {MIN_TURNS}, got {self.min_turns}")
        if self.min_sessions < 2:
            raise ValueError(f"min_sessions must be at least 2, got {self.min_sessions}")


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _pair(i: Interval) -> tuple[float, float] | None:
    return None if math.isnan(i.low) or math.isnan(i.high) else (float(i.low), float(i.high))


def gate_verdict(a: CodeAgreement, settings: TurnGateSettings | None = None, unit: str = "turns") -> DimensionVerdict:
    """Pass/fail of one code for the feedback gate (a ``validation.records.DimensionVerdict``).

    A code passes when all hold: at least ``min_turns`` coded turns from at least
    ``min_sessions`` sessions; the human codes vary; the lower bound of the
    agreement's interval is at least ``floor``; and the interval of the
    difference measure − length-only baseline (same resamples) lies above 0.
    """
    from .records import DimensionVerdict

    s = settings or TurnGateSettings()
    failures: list[str] = []
    if a.verdict == "codes constant":
        failures.append("the human codes are constant (nothing to agree on)")
    if a.n < s.min_turns:
        failures.append(f"only {a.n} coded {unit} (minimum {s.min_turns})")
    if unit != "sessions" and a.sessions < s.min_sessions:  # a session unit: the count above says it
        failures.append(f"only {a.sessions} coded sessions (minimum {s.min_sessions})")
    conf = f"{a.ci.confidence:.0%}"
    if math.isnan(a.ci.low) or a.ci.low < s.floor:
        low = "undefined" if math.isnan(a.ci.low) else f"{a.ci.low:.3f}"
        failures.append(f"the {conf} interval of {a.statistic} starts at {low}, below the floor {s.floor:.2f}")
    if math.isnan(a.difference_ci.low) or a.difference_ci.low <= 0.0:
        low = "undefined" if math.isnan(a.difference_ci.low) else f"{a.difference_ci.low:.3f}"
        failures.append(f"does not beat the length-only baseline ({a.statistic} {_fmt(a.baseline)}; the {conf} "
                        f"interval of the difference starts at {low}, not above 0)")
    passed = not failures
    tail = f"{a.statistic} {_fmt(a.agreement)}, n={a.n} {unit}" + ("" if unit == "sessions" else
                                                                     f" in {a.sessions} sessions")
    reason = (f"passes: {tail}, interval from {a.ci.low:.3f} (floor {s.floor:.2f}), above the length baseline "
              f"{_fmt(a.baseline)}" if passed else "fails: " + "; ".join(failures) + f" ({tail})")
    return DimensionVerdict(
        dimension=a.code, n=a.n, r=_num(a.agreement), r_ci=_pair(a.ci), confidence=a.ci.confidence,
        baseline_r=_num(a.baseline), counselor_r=None, passed=passed, reason=reason, statistic=a.statistic,
        sessions=a.sessions, baseline_ci=_pair(a.baseline_ci), difference_ci=_pair(a.difference_ci), floor=s.floor)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.3f}"


def turn_record(model: ModelIdentity, agreements: Sequence[CodeAgreement], settings: TurnGateSettings | None = None,
                *, labels_n: int, labels_source: str | None = None, created_at: datetime | None = None,
                extra: dict[str, Any] | None = None, unit: str = "turns") -> ValidationRecord:
    """The turn-level ``ValidationRecord`` (``level="turn"``) of ``model`` from its per-code agreements."""
    from dataclasses import asdict
    from datetime import timezone

    from .records import ValidationRecord

    s = settings or TurnGateSettings()
    return ValidationRecord(
        model=model, created_at=created_at or datetime.now(timezone.utc), level="turn", labels_n=labels_n,
        labels_source=labels_source, settings={**asdict(s), **(extra or {})},
        dimensions={a.code: gate_verdict(a, s, unit) for a in agreements})
