"""Session-level agreement of the rupture-marker rules with the coders' rupture codes. Pure.

The codebook's per-session code is a rupture episode: none, or its type
(withdrawal / confrontation) and whether it was repaired. The rules' answer for a
session is what the processor's core opened on its turns
(:func:`streams.session_replay.replay_session`). Per session code, yes/no:

* ``withdrawal`` / ``confrontation`` — the session had an episode of that type (a
  ``mixed`` episode counts for both; the coder's code has one type);
* ``repaired`` — of the sessions where the rules opened an episode *and* the coder
  coded one, was it repaired (the rules: any of its episodes closed as repaired).

Each is Cohen's kappa with a 95 % interval over sessions, beside the same kappa for
the session's length alone (words of all its turns) and the coders' own agreement
where two coded the session (:func:`validation.turn_agreement.evaluate_code`, with
sessions as units). The verdicts go into a record of the rupture-marker rules'
*episode* identity (:func:`validation.detectors.episode_identity`), which the gate
reads beside the turn-level marker record.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Mapping, Sequence

from .codebook import RUPTURE_TYPES
from .turn_agreement import CodeAgreement, CodedTurn, TurnGateSettings, evaluate_code

EPISODE_CODES: tuple[str, ...] = (*RUPTURE_TYPES, "repaired")
#: Fewest coded sessions behind a session code that may pass (a kappa over sessions needs sessions).
EPISODE_GATE = TurnGateSettings(min_turns=30, min_sessions=30)


@dataclass(frozen=True)
class CodedSession:
    """One session: each coder's rupture code (None: no rupture), the rules' episodes (kind, status), its length."""

    session_id: str
    coders: tuple[Mapping[str, object] | None, ...]
    episodes: tuple[tuple[str, str], ...]
    length: float


def rules_reading(episodes: Sequence[tuple[str, str]]) -> dict[str, float | None]:
    """The rules' session codes from their episodes: each type yes/no; repaired None when no episode opened."""
    kinds = {k for k, _ in episodes}
    out: dict[str, float | None] = {t: float(t in kinds or "mixed" in kinds) for t in RUPTURE_TYPES}
    out["repaired"] = float(any(s == "repaired" for _, s in episodes)) if episodes else None
    return out


def coder_reading(code: Mapping[str, object] | None) -> dict[str, float | None]:
    """A coder's session codes: each type yes/no; repaired None when the coder coded no rupture."""
    out: dict[str, float | None] = {t: float(code is not None and code.get("type") == t) for t in RUPTURE_TYPES}
    out["repaired"] = None if code is None else float(bool(code.get("repaired")))
    return out


def episode_units(sessions: Sequence[CodedSession]) -> dict[str, list[CodedTurn]]:
    """Per session code, one unit per session that has both a human and a rules answer."""
    out: dict[str, list[CodedTurn]] = {c: [] for c in EPISODE_CODES}
    for s in sessions:
        rules = rules_reading(s.episodes)
        coders = [coder_reading(c) for c in s.coders]
        for code in EPISODE_CODES:
            human = tuple(v for c in coders if (v := c[code]) is not None)
            measure = rules[code]
            if human and measure is not None:
                out[code].append(CodedTurn(s.session_id, 0, human, measure, s.length))
    return out


def evaluate_episodes(sessions: Sequence[CodedSession], *, resamples: int = 2000, seed: int = 0
                      ) -> list[CodeAgreement]:
    """Kappa per session code, its interval over sessions, the length-only baseline, the coders' agreement."""
    units = episode_units(sessions)
    return [evaluate_code(code, units[code], resamples=resamples, seed=seed, kind="binary")
            for code in EPISODE_CODES if units[code]]
