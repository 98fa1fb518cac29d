"""Which stored turns a site codes on ``/code``, and which of them each coder sees next. Pure.

Why stratified: the word rules (scoring/turn_features.py, streams/rupture_cues.py)
fire on a minority of turns. A uniform sample would be mostly turns where no rule
fired, and a kappa over it says little about the turns the rules flag — or miss.
So half the sample is drawn from turns where a rule fired and half from turns where
none did (as far as each stratum reaches).

Why some turns twice: the coders' own agreement on the same turns is the ceiling any
detector is judged against (a detector cannot agree with one coder better than
a second coder does). A share of the sample (:data:`DOUBLE_SHARE`) is offered to
two coders; every other turn to the first coder who asks for it.

Everything is a function of the turns, the time and a seed: the shell reads the
store, hands the turns in, and gets the same sample back for the same inputs, so
nothing about the sample needs storing beyond the codes themselves.
"""

from __future__ import annotations

__layer__ = "core"

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping, Sequence

#: Share of sampled turns offered to two coders (their agreement is computed on these).
DOUBLE_SHARE = 0.2
#: Earlier turns of the same session shown above a sampled turn.
CONTEXT_TURNS = 4
#: Turns a site codes per sample (half where a rule fired, half where none did).
SAMPLE_SIZE = 200


@dataclass(frozen=True)
class CandidateTurn:
    """A stored turn that may be sampled; ``fired``: a word rule fired on it (computed by the shell)."""

    session_id: str
    turn_id: int
    speaker: str
    sent_at: datetime
    fired: bool


@dataclass(frozen=True)
class SampledTurn:
    session_id: str
    turn_id: int
    speaker: str
    fired: bool
    double: bool  # offered to two coders


def _rank(seed: int, session_id: str, turn_id: int, salt: str = "") -> str:
    return hashlib.sha256(f"{seed}\x00{salt}\x00{session_id}\x00{turn_id}".encode()).hexdigest()


def sample_turns(turns: Sequence[CandidateTurn], *, now: datetime, retention_days: float, size: int,
                 double_share: float = DOUBLE_SHARE, seed: int = 0) -> list[SampledTurn]:
    """Up to ``size`` turns sent within ``retention_days`` before ``now``: half where a rule fired, half not.

    A stratum short of its half leaves its place to the other. Each turn's place
    comes from a hash of (seed, session, turn), so a new turn stored later does not
    reshuffle what was sampled before it. Returned in session, turn order.
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    if not 0.0 <= double_share <= 1.0:
        raise ValueError("double_share must be in [0, 1]")
    cutoff = now - timedelta(days=retention_days)
    recent = [t for t in turns if cutoff <= t.sent_at <= now and t.speaker in ("counselor", "client")]
    fired = sorted((t for t in recent if t.fired), key=lambda t: _rank(seed, t.session_id, t.turn_id))
    quiet = sorted((t for t in recent if not t.fired), key=lambda t: _rank(seed, t.session_id, t.turn_id))
    half = size // 2
    take_fired = min(len(fired), max(half, size - len(quiet)))
    take_quiet = min(len(quiet), size - take_fired)
    chosen = fired[:take_fired] + quiet[:take_quiet]
    ordered = sorted(chosen, key=lambda t: _rank(seed, t.session_id, t.turn_id, "double"))
    n_double = round(double_share * len(chosen))
    doubles = {(t.session_id, t.turn_id) for t in ordered[:n_double]}
    return [SampledTurn(t.session_id, t.turn_id, t.speaker, t.fired, (t.session_id, t.turn_id) in doubles)
            for t in sorted(chosen, key=lambda t: (t.session_id, t.turn_id))]


def queue_for(coder: str, sample: Sequence[SampledTurn],
              coded_by: Mapping[tuple[str, int], frozenset[str]]) -> list[SampledTurn]:
    """The turns ``coder`` sees: those they coded (to revisit), then those still open to them.

    A turn is open to a coder who has not coded it while fewer coders than it
    needs (two for a double turn, one otherwise) have.
    """
    out = []
    for t in sample:
        coders = coded_by.get((t.session_id, t.turn_id), frozenset())
        if coder in coders or len(coders) < (2 if t.double else 1):
            out.append(t)
    return out


def context_ids(turn_id: int, session_turn_ids: Sequence[int], context: int = CONTEXT_TURNS) -> list[int]:
    """Ids of the ``context`` turns before ``turn_id`` in its session, oldest first."""
    earlier = sorted(i for i in session_turn_ids if i < turn_id)
    return earlier[-context:] if context > 0 else []
