"""Window-level agreement of the process-signal flags with a reference derived from coded turns. Pure.

The process-signal flags (``streams/signals.py``) read rolling windows of reply
length, pace and word rules; no single turn carries them, so no turn code can
judge them. A *window* can: the session's turns in blocks of
:data:`WINDOW_TURNS` (the signals' own window: six turns of each speaker), and
per block a reference from the coders' turn codes (docs/validation.md#windows):

* ``withdrawal``, ``minimal_responses`` — at least :data:`SHARE` of the coded
  client turns of the block carry a withdrawal marker;
* ``over_directing`` — at least :data:`SHARE` of the coded counselor turns are
  advice (with or without permission);
* ``rushing`` — :data:`RUN` coded counselor turns in a row are questions (open or
  closed) and none of them a reflection. The rule's other half — the client
  said nothing of substance in between — has no code, so it is not checked.

A coder gives a block a reference only with at least :data:`MIN_CODED` coded
turns of that speaker in it. The flag's answer: was it up after any turn of the
block (what a counselor would have been shown). ``slow_replies`` and ``idle`` are
timing alone and have no codable counterpart (:data:`NO_COUNTERPART`): their
verdict is a fail that says so, and they stay supervisors-only unless a site
opens them by setting.
"""

from __future__ import annotations

__layer__ = "core"

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence, TypeVar

from .turn_agreement import CodeAgreement, CodedTurn, TurnGateSettings, evaluate_code

if TYPE_CHECKING:
    from .records import DimensionVerdict

#: turns per window: ``SignalSettings.window_turns`` (6) of each speaker
WINDOW_TURNS = 12
#: share of a block's coded turns of the speaker that makes the reference yes (the rules' own 0.5 rates)
SHARE = 0.5
#: questions in a row, none a reflection (``SignalSettings.question_streak``)
RUN = 4
#: coded turns of the speaker a coder needs in a block to give it a reference
MIN_CODED = 3

#: flag -> (the speaker whose codes judge it, what the reference reads)
REFERENCES: Mapping[str, tuple[str, str]] = {
    "withdrawal": ("client", f"share of client turns coded withdrawal marker >= {SHARE:g}"),
    "minimal_responses": ("client", f"share of client turns coded withdrawal marker >= {SHARE:g}"),
    "over_directing": ("counselor", f"share of counselor turns coded advice/directive >= {SHARE:g}"),
    "rushing": ("counselor", f"{RUN} counselor turns in a row coded a question, none a reflection"),
}
WINDOW_CODES: tuple[str, ...] = tuple(REFERENCES)
NO_COUNTERPART: Mapping[str, str] = {
    "slow_replies": "reply latency against this client's own pace: timing, which no turn code can mark",
    "idle": "minutes without a client reply: timing, which no turn code can mark",
}
#: Fewest windows (and sessions) behind a flag that may pass.
WINDOW_GATE = TurnGateSettings(min_turns=60, min_sessions=10)


@dataclass(frozen=True)
class WindowTurn:
    """One turn of a replayed session: its speaker and length, the flags up after it, each coder's codes.

    ``coders`` holds one entry per coder of the corpus (in a fixed order): that coder's ``eval-turns``
    codes of this turn (``withdrawal``, ``directive``, …, 1.0 / 0.0), or None where the coder did not code it.
    """

    turn_id: int
    speaker: str
    length: int
    flags: tuple[str, ...]
    coders: tuple[Mapping[str, float] | None, ...]


class _HasTurnId(Protocol):
    @property
    def turn_id(self) -> int: ...


_T = TypeVar("_T", bound=_HasTurnId)


def blocks(turns: Sequence[_T], size: int = WINDOW_TURNS) -> list[list[_T]]:
    """A session's turns (all it has stored) in blocks of ``size`` by turn order: the windows.

    The one definition of a window: the evaluation judges these blocks and the ``/code`` page's
    stretch sampler (validation/coding_sample.py) offers the same blocks to coders.
    """
    ordered = sorted(turns, key=lambda t: t.turn_id)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def _longest_question_run(codes: Sequence[Mapping[str, float]]) -> int:
    best = run = 0
    for c in codes:
        question = bool(c.get("open_question") or c.get("closed_question"))
        run = run + 1 if question and not c.get("reflection") else 0
        best = max(best, run)
    return best


def reference(flag: str, block: Sequence[WindowTurn], coder: int) -> float | None:
    """One coder's reference for ``flag`` in ``block`` (1.0 / 0.0), or None with too few coded turns."""
    speaker, _ = REFERENCES[flag]
    codes = [c for t in block if t.speaker == speaker and coder < len(t.coders) and (c := t.coders[coder]) is not None]
    if len(codes) < MIN_CODED:
        return None
    if flag == "rushing":
        return float(_longest_question_run(codes) >= RUN)
    code = "withdrawal" if speaker == "client" else "directive"
    return float(sum(1 for c in codes if c.get(code)) / len(codes) >= SHARE)


@dataclass(frozen=True)
class WindowProgress:
    """How many windows (and from how many sessions) some coder gave a reference, per judging speaker."""

    speaker: str
    flags: tuple[str, ...]
    windows: int
    sessions: int
    need_windows: int = WINDOW_GATE.min_turns
    need_sessions: int = WINDOW_GATE.min_sessions


def window_progress(sessions: Mapping[str, Sequence[WindowTurn]]) -> list[WindowProgress]:
    """Per judging speaker (client: withdrawal, minimal_responses; counselor: over_directing, rushing), the
    windows some coder gave a reference and their sessions — what ``eval-turns`` will count, beside what a
    record needs (:data:`WINDOW_GATE`). Flags are not read: only the codes."""
    out = []
    for speaker in ("client", "counselor"):
        flags = tuple(f for f, (s, _) in REFERENCES.items() if s == speaker)
        windows, with_windows = 0, set()
        for sid, turns in sessions.items():
            n_coders = max((len(t.coders) for t in turns), default=0)
            for block in blocks(turns):
                if any(reference(flags[0], block, k) is not None for k in range(n_coders)):
                    windows += 1
                    with_windows.add(sid)
        out.append(WindowProgress(speaker, flags, windows, len(with_windows)))
    return out


def window_units(sessions: Mapping[str, Sequence[WindowTurn]]) -> dict[str, list[CodedTurn]]:
    """Per flag, one unit per block that some coder gave a reference: the flag's answer, the coders', the length
    (mean words of the block's turns of the judging speaker: the length-only baseline reads it)."""
    out: dict[str, list[CodedTurn]] = {f: [] for f in WINDOW_CODES}
    for sid, turns in sorted(sessions.items()):
        n_coders = max((len(t.coders) for t in turns), default=0)
        for i, block in enumerate(blocks(turns)):
            for flag, (speaker, _) in REFERENCES.items():
                human = tuple(r for k in range(n_coders) if (r := reference(flag, block, k)) is not None)
                if not human:
                    continue
                lengths = [t.length for t in block if t.speaker == speaker]
                raised = float(any(flag in t.flags for t in block))
                out[flag].append(CodedTurn(sid, i, human, raised, float(statistics.mean(lengths)) if lengths else 0.0))
    return out


def evaluate_windows(sessions: Mapping[str, Sequence[WindowTurn]], *, resamples: int = 2000, seed: int = 0
                     ) -> list[CodeAgreement]:
    """Kappa per flag over windows, its interval over sessions, the length-only baseline, the coders' agreement."""
    units = window_units(sessions)
    return [evaluate_code(flag, units[flag], resamples=resamples, seed=seed, kind="binary")
            for flag in WINDOW_CODES if units[flag]]


def no_counterpart_verdicts() -> dict[str, DimensionVerdict]:
    """The timing flags' verdicts: fail, because nothing coded can judge them (docs/validation.md#windows)."""
    from .records import DimensionVerdict

    return {flag: DimensionVerdict(dimension=flag, n=0, passed=False, statistic="kappa",
                                   reason=f"fails: no codable counterpart ({why}); supervisors only unless opened by "
                                          f"setting (--open-detector process-signals:{flag})")
            for flag, why in NO_COUNTERPART.items()}
