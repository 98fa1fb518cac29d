"""Human turn codes in the store (``turn_codes``), and the stored turns the ``/code`` page samples from.

The shell around :mod:`validation.codebook` and :mod:`validation.coding_sample`:
reads the stored turns (``turns``, kept only with ``ALLIANCE_STORE_TURNS=1`` and
purged by retention), marks each with whether a word rule fired on it
(``scoring/turn_features.py`` for counselor turns, ``streams/rupture_cues.py``
for client turns; the command line hands that test in), and writes and reads the coders' code sets. Turn text leaves
this module only redacted (``privacy/``), like every quote; it is never logged.
"""

from __future__ import annotations

__layer__ = "shell"

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from privacy.redact import redact
from streams.signals import text_length
from training.turn_detector import LabelledTurn, labelled_turns
from validation.codebook import (
    EVAL_CODES,
    EVAL_CODES_OF,
    SESSION_TURN,
    CoderAgreement,
    check_code_set,
    check_rupture,
    coder_agreement,
    eval_codes,
)
from validation.coding_sample import CandidateTurn, SampledTurn, context_ids, sample_turns
from validation.turn_agreement import CodedTurn, evaluate_code

from .models import ChatSession, Turn, TurnCodeRow
from .turn_eval import TurnEvalResult


@dataclass(frozen=True)
class StoredTurnCode:
    session_id: str
    turn_id: int
    coder_id: str
    speaker: str
    codes: tuple[str, ...]  # the code names; empty for the session's own row
    rupture: dict | None  # the session's rupture code (turn_id == SESSION_TURN)
    coded_at: datetime


#: Did a word rule fire on a turn (speaker, text)? Handed in by the command line, which composes the
#: rules of ``scoring/turn_features.py`` and ``streams/rupture_cues.py`` (alliance_monitor/coding.py).
RuleFired = Callable[[str, str], bool]


def candidate_turns(engine: Engine, rule_fired: RuleFired, groups: frozenset[str] | None = None
                    ) -> list[CandidateTurn]:
    """Every stored turn, marked; with ``groups``, only turns of sessions in those groups (a supervisor's scope)."""
    t, s = Turn.__table__, ChatSession.__table__
    q = select(t.c.session_id, t.c.turn_id, t.c.speaker, t.c.text, t.c.sent_at)
    if groups is not None:
        q = q.join(s, s.c.session_id == t.c.session_id).where(s.c.group_id.in_(sorted(groups)))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [CandidateTurn(r.session_id, r.turn_id, r.speaker, r.sent_at, rule_fired(r.speaker, r.text)) for r in rows]


def coding_sample(engine: Engine, rule_fired: RuleFired, *, now: datetime, retention_days: float, size: int,
                  double_share: float, seed: int = 0, groups: frozenset[str] | None = None) -> list[SampledTurn]:
    return sample_turns(candidate_turns(engine, rule_fired, groups), now=now, retention_days=retention_days, size=size,
                        double_share=double_share, seed=seed)


def turn_with_context(engine: Engine, session_id: str, turn_id: int, context: int) -> list[dict]:
    """The turn and the ``context`` turns before it, oldest first, each redacted: ``{turn_id, speaker, text}``."""
    t = Turn.__table__
    with engine.connect() as conn:
        ids = conn.execute(select(t.c.turn_id).where(t.c.session_id == session_id)).scalars().all()
        wanted = [*context_ids(turn_id, ids, context), turn_id]
        rows = conn.execute(select(t.c.turn_id, t.c.speaker, t.c.text)
                            .where(t.c.session_id == session_id, t.c.turn_id.in_(wanted))
                            .order_by(t.c.turn_id)).all()
    return [{"turn_id": r.turn_id, "speaker": r.speaker, "text": redact(r.text).text} for r in rows]


def write_turn_code(engine: Engine, *, session_id: str, turn_id: int, coder_id: str, speaker: str,
                    codes: object, coded_at: datetime) -> StoredTurnCode:
    """Record (or replace) ``coder_id``'s codes of one turn; a code outside the codebook is a ValueError.

    ``turn_id`` = ``SESSION_TURN`` records the session's rupture code (``codes`` is then
    ``{"rupture": null | {"type", "repaired"}}``).
    """
    if turn_id == SESSION_TURN:
        if not isinstance(codes, dict) or set(codes) != {"rupture"}:
            raise ValueError("a session's codes must be {rupture: null | {type, repaired}}")
        doc: object = {"rupture": check_rupture(codes["rupture"])}
        speaker = "session"
    else:
        doc = list(check_code_set(speaker, codes))
    c = TurnCodeRow.__table__
    with engine.begin() as conn:
        conn.execute(delete(c).where(c.c.session_id == session_id, c.c.turn_id == turn_id, c.c.coder_id == coder_id))
        conn.execute(insert(c).values(session_id=session_id, turn_id=turn_id, coder_id=coder_id, speaker=speaker,
                                      codes=doc, coded_at=coded_at))
    return _stored(session_id, turn_id, coder_id, speaker, doc, coded_at)


def _stored(session_id: str, turn_id: int, coder_id: str, speaker: str, doc: object, coded_at: datetime
            ) -> StoredTurnCode:
    if isinstance(doc, dict):
        return StoredTurnCode(session_id, turn_id, coder_id, speaker, (), doc.get("rupture"), coded_at)
    names = tuple(str(c) for c in doc) if isinstance(doc, (list, tuple)) else ()
    return StoredTurnCode(session_id, turn_id, coder_id, speaker, names, None, coded_at)


def read_turn_codes(engine: Engine, *, coder_id: str | None = None) -> list[StoredTurnCode]:
    """Every stored code set (of one coder, if given), by session, turn, coder."""
    c = TurnCodeRow.__table__
    q = select(c).order_by(c.c.session_id, c.c.turn_id, c.c.coder_id)
    if coder_id is not None:
        q = q.where(c.c.coder_id == coder_id)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [_stored(r.session_id, r.turn_id, r.coder_id, r.speaker, r.codes, r.coded_at) for r in rows]


def turn_texts(engine: Engine, keys: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
    """(speaker, text) of stored turns by (session, turn), for the word rules ``eval-turns --from-store`` scores."""
    t = Turn.__table__
    sessions = {s for s, _ in keys}
    out: dict[tuple[str, int], tuple[str, str]] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(t.c.session_id, t.c.turn_id, t.c.speaker, t.c.text)
                              .where(t.c.session_id.in_(sessions))):
            if (r.session_id, r.turn_id) in keys:
                out[(r.session_id, r.turn_id)] = (r.speaker, r.text)
    return out


def labelled_from_store(engine: Engine) -> list[LabelledTurn]:
    """The /code page's codes with the stored turn text and previous turn, for ``train-turns --from-store``
    (turns whose text retention purged are left out)."""
    rows = [r for r in read_turn_codes(engine) if r.turn_id != SESSION_TURN]
    codes: dict[tuple[str, int], list[dict[str, float]]] = {}
    for r in rows:
        codes.setdefault((r.session_id, r.turn_id), []).append(eval_codes(r.codes, r.speaker))
    keys = set(codes) | {(s, t - 1) for s, t in codes}
    return labelled_turns(turn_texts(engine, keys), codes)


# --- ``eval-turns --from-store``: the stored codes against the word rules, and the coders' own agreement -----

#: The word rules' yes/no codes of one turn (text, speaker) — ``scoring.turn_features.rule_codes`` — handed in
#: by the command line like :data:`RuleFired`.
RuleCodes = Callable[[str, str], dict[str, bool]]


@dataclass
class StoredEvaluation:
    result: TurnEvalResult  # kappa per eval-turns code: word rules vs the coders (the ``eval-turns`` table)
    agreement: list[CoderAgreement]  # the first two coders per codebook code, on the turns both coded
    coded_turns: int
    double_coded: int
    sessions: int


def evaluate_stored_codes(engine: Engine, rule_codes: RuleCodes, *, resamples: int = 2000,
                          seed: int = 0) -> StoredEvaluation:
    """The stored turn codes, as ``eval-turns`` codes, against the word rules on the stored text."""
    rows = [r for r in read_turn_codes(engine) if r.turn_id != SESSION_TURN]
    coders = sorted({r.coder_id for r in rows})
    by_turn: dict[tuple[str, int], list[StoredTurnCode]] = {}
    for r in rows:
        by_turn.setdefault((r.session_id, r.turn_id), []).append(r)
    pairs = [(sets[0].speaker, sets[0].codes, sets[1].codes)
             for sets in (sorted(v, key=lambda r: coders.index(r.coder_id)) for v in by_turn.values())
             if len(sets) >= 2]
    texts = turn_texts(engine, set(by_turn))
    per_code: dict[str, list[CodedTurn]] = {}
    matched = 0
    for (sid, tid), sets in sorted(by_turn.items()):
        speaker_text = texts.get((sid, tid))
        if speaker_text is None:  # purged by retention
            continue
        matched += 1
        speaker, text = speaker_text
        measure = rule_codes(text, speaker)
        ordered = sorted(sets, key=lambda r: coders.index(r.coder_id))
        human = [eval_codes(r.codes, speaker) for r in ordered]
        for code in EVAL_CODES_OF.get(speaker, ()):
            per_code.setdefault(code, []).append(CodedTurn(sid, tid, tuple(h[code] for h in human),
                                                           float(measure[code]), float(text_length(text))))
    res = TurnEvalResult(len(by_turn), matched, coders, 0, "word rules (scoring/turn_features.py)")
    res.codes = [evaluate_code(code, per_code[code], resamples=resamples, seed=seed)
                 for code in EVAL_CODES if code in per_code]
    return StoredEvaluation(res, coder_agreement(pairs), len(by_turn), len(pairs), len({s for s, _ in by_turn}))


def format_coder_agreement(ev: StoredEvaluation) -> str:
    """The coders' own agreement per codebook code: the ceiling a detector is judged against."""
    lines = [(f"Coders' agreement — {ev.double_coded} of {ev.coded_turns} coded turns coded by two coders "
              f"({', '.join(ev.result.coders)}); kappa per code (— where undefined: a code neither or both always chose)"),
             f"  {'code':<26} {'turns':>5} {'agree':>6} {'kappa':>6}"]
    for a in ev.agreement:
        pct = "—" if math.isnan(a.percent) else f"{a.percent:.0%}"
        kappa = "—" if math.isnan(a.kappa) else f"{a.kappa:.2f}"
        lines.append(f"  {a.code:<26} {a.n:>5} {pct:>6} {kappa:>6}")
    return "\n".join(lines) + "\n"
