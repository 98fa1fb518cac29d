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

Why stretches too: the process-signal flags are judged per *window* — a block of
:data:`~validation.window_agreement.WINDOW_TURNS` turns of a session, with a reference only where a coder
coded at least :data:`~validation.window_agreement.MIN_CODED` turns of the judging
speaker in it (docs/validation.md#windows). Single sampled turns almost never land
three to a block, so the page can also offer whole blocks ("stretches", coded turn by
turn): the very blocks :func:`validation.window_agreement.blocks` cuts, half from
blocks where a process-signal flag the windows judge was up after some turn (from a
replay of the session through the processor's core, done by the shell) and half from
blocks where none was; a share of them to two coders, like turns.

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

from .window_agreement import MIN_CODED, WINDOW_CODES, blocks

#: Share of sampled turns offered to two coders (their agreement is computed on these).
DOUBLE_SHARE = 0.2
#: Earlier turns of the same session shown above a sampled turn.
CONTEXT_TURNS = 4
#: Turns a site codes per sample (half where a rule fired, half where none did).
SAMPLE_SIZE = 200
#: Stretches (windows) a site codes per stretch sample: a window record needs 60 windows from 10 sessions
#: (``window_agreement.WINDOW_GATE``); the rest is room for blocks that end up short of coded turns.
STRETCH_SAMPLE_SIZE = 80


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


# --- stretches: whole windows, coded turn by turn ------------------------------------------------------


@dataclass(frozen=True)
class SessionTurn:
    """A stored turn of a session, as the stretch sampler needs it (no text)."""

    turn_id: int
    speaker: str
    sent_at: datetime


@dataclass(frozen=True)
class CandidateStretch:
    """One window of a stored session; ``flagged``: a flag the windows judge was up after one of its turns."""

    session_id: str
    index: int  # the block's place in its session (0 = the first 12 turns)
    turn_ids: tuple[int, ...]
    speakers: tuple[str, ...]
    first_at: datetime
    last_at: datetime
    flagged: bool


@dataclass(frozen=True)
class SampledStretch:
    session_id: str
    index: int
    turn_ids: tuple[int, ...]
    speakers: tuple[str, ...]
    flagged: bool
    double: bool  # offered to two coders


def session_stretches(session_id: str, turns: Sequence[SessionTurn],
                      flags: Mapping[int, Sequence[str]]) -> list[CandidateStretch]:
    """The session's windows (``window_agreement.blocks`` over all its stored turns) that can get a reference.

    ``flags``: the process flags up after each turn (``streams.session_replay``). A block with fewer
    than ``MIN_CODED`` turns of either speaker (a session's short last block) can give no reference,
    so it is no candidate.
    """
    out = []
    for i, block in enumerate(blocks(turns)):
        speakers = tuple(t.speaker for t in block)
        if max(speakers.count("client"), speakers.count("counselor")) < MIN_CODED:
            continue
        flagged = any(f in WINDOW_CODES for t in block for f in flags.get(t.turn_id, ()))
        out.append(CandidateStretch(session_id, i, tuple(t.turn_id for t in block), speakers,
                                    min(t.sent_at for t in block), max(t.sent_at for t in block), flagged))
    return out


def sample_stretches(stretches: Sequence[CandidateStretch], *, now: datetime, retention_days: float, size: int,
                     double_share: float = DOUBLE_SHARE, seed: int = 0) -> list[SampledStretch]:
    """Up to ``size`` windows whose every turn was sent within ``retention_days`` before ``now``: half where a
    judged flag was up, half not (a short stratum leaves its place to the other), a share to two coders.

    As for turns, each window's place comes from a hash of (seed, session, window index): the same store
    gives the same stretches to every coder. Returned in session, window order.
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    if not 0.0 <= double_share <= 1.0:
        raise ValueError("double_share must be in [0, 1]")
    cutoff = now - timedelta(days=retention_days)
    recent = [s for s in stretches if cutoff <= s.first_at and s.last_at <= now]

    def rank(s: CandidateStretch, salt: str = "window") -> str:
        return _rank(seed, s.session_id, s.index, salt)

    flagged = sorted((s for s in recent if s.flagged), key=rank)
    quiet = sorted((s for s in recent if not s.flagged), key=rank)
    take_flagged = min(len(flagged), max(size // 2, size - len(quiet)))
    chosen = flagged[:take_flagged] + quiet[:min(len(quiet), size - take_flagged)]
    n_double = round(double_share * len(chosen))
    doubles = {(s.session_id, s.index) for s in sorted(chosen, key=lambda s: rank(s, "window-double"))[:n_double]}
    return [SampledStretch(s.session_id, s.index, s.turn_ids, s.speakers, s.flagged,
                           (s.session_id, s.index) in doubles)
            for s in sorted(chosen, key=lambda s: (s.session_id, s.index))]


def stretch_queue_for(coder: str, sample: Sequence[SampledStretch],
                      coded_by: Mapping[tuple[str, int], frozenset[str]]) -> list[SampledStretch]:
    """The stretches ``coder`` sees: those they started (to finish or revisit), then those still open to them.

    ``coded_by``: per (session, turn), who coded it. A stretch's coders are those who coded any of its
    turns; it is open while fewer coders than it needs (two for a double stretch) have started it.
    """
    out = []
    for s in sample:
        coders = {c for t in s.turn_ids for c in coded_by.get((s.session_id, t), frozenset())}
        if coder in coders or len(coders) < (2 if s.double else 1):
            out.append(s)
    return out
