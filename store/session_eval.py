"""``eval-turns`` beyond single turns: rupture episodes per session and process-signal flags per window.

The shell around :mod:`validation.episode_agreement` and
:mod:`validation.window_agreement`: gathers each coded session's turns — from a
coded file (the turns it carries, with ``text`` and optionally ``sent_at``) or from
the store (every stored turn of the session) — replays them through the
processor's pure core (:mod:`streams.session_replay`), pairs the outcome with
the coders' session codes and turn codes, and writes the records the detector gate
reads: the rupture-marker rules' episode record and the process-signal flags'
window record. Turn text is read by the rules and dropped; it is never printed or logged.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Engine

from streams.codec import json_lines
from streams.session_replay import ReplayTurn, replay_session
from streams.signals import text_length
from validation.codebook import SESSION_TURN, check_rupture, eval_codes
from validation.detectors import PROCESS_SIGNALS, RUPTURE_MARKERS, episode_identity
from validation.episode_agreement import EPISODE_GATE, CodedSession, evaluate_episodes
from validation.records import ValidationRecord
from validation.turn_agreement import CodeAgreement, turn_record
from validation.window_agreement import (
    MIN_CODED,
    NO_COUNTERPART,
    REFERENCES,
    RUN,
    SHARE,
    WINDOW_GATE,
    WINDOW_TURNS,
    WindowTurn,
    evaluate_windows,
    no_counterpart_verdicts,
)

from .errors import LabelError
from .models import Turn
from .turn_eval import (
    TurnEvalResult,
    code_table_header,
    code_table_row,
    is_session_line,
    parse_turn_code,
    turn_eval_json,
)

#: turns of a coded file without ``sent_at`` are replayed this far apart (timing flags then say nothing;
#: none of them is judged here anyway: they have no codable counterpart)
FILE_TURN_SPACING_S = 30.0
_FILE_T0 = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass
class CodedCorpus:
    """Coded sessions ready to replay: turns, each coder's turn codes and session codes, coders in order."""

    coders: list[str] = field(default_factory=list)
    turns: dict[str, list[ReplayTurn]] = field(default_factory=dict)
    turn_codes: dict[tuple[str, int], dict[str, dict[str, float]]] = field(default_factory=dict)  # key -> coder -> codes
    session_codes: dict[str, dict[str, Mapping[str, object] | None]] = field(default_factory=dict)  # sid -> coder -> code
    lang: dict[str, str] = field(default_factory=dict)
    missing_turns: int = 0  # sessions with a session code but no turns to replay (e.g. purged by retention)


@dataclass
class UnitResult:
    unit: str  # "sessions" | "windows"
    detector: str
    units: int
    sessions: int
    coders: list[str]
    codes: list[CodeAgreement]
    skipped_turns: int = 0


def _session_line(data: dict, where: str) -> tuple[str, str, Mapping[str, object] | None]:
    sid, coder = data.get("session_id"), data.get("coder", data.get("coder_id", "coder"))
    if not isinstance(sid, str) or not sid.strip():
        raise LabelError(f"{where}: session_id is required (a non-empty string)")
    if not isinstance(coder, str) or not coder.strip():
        raise LabelError(f"{where}: coder (or coder_id) must be a non-empty string")
    try:
        return sid, coder, check_rupture(data["rupture"])
    except ValueError as err:
        raise LabelError(f"{where}: {err}") from None


def _sent_at(data: dict, turn_id: int, where: str) -> datetime:
    raw = data.get("sent_at")
    if raw is None:
        return _FILE_T0 + timedelta(seconds=FILE_TURN_SPACING_S * turn_id)
    try:
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise LabelError(f"{where}: sent_at must be an ISO 8601 time") from None
    if at.tzinfo is None:
        raise LabelError(f"{where}: sent_at needs a time zone (e.g. 2026-05-04T09:00:00Z)")
    return at


def read_coded_sessions(path: str | Path) -> CodedCorpus:
    """A coded file's sessions: the turns that carry ``text``, every coder's codes, the session codes."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"turn code file not found: {path}")
    corpus = CodedCorpus()
    coders: set[str] = set()
    for line in json_lines(path):
        if line.error is not None:
            raise LabelError(f"{line.source}: {line.error}")
        data = line.data
        if is_session_line(data):
            sid, coder, code = _session_line(data, line.source)
            if coder in corpus.session_codes.get(sid, {}):
                raise LabelError(f"{line.source}: session {sid} has two rupture codes from {coder}")
            corpus.session_codes.setdefault(sid, {})[coder] = code
            coders.add(coder)
            continue
        tc = parse_turn_code(data, line.source)
        coders.add(tc.coder)
        corpus.turn_codes.setdefault((tc.session_id, tc.turn_id), {})[tc.coder] = tc.codes
        text = data.get("text") if isinstance(data, dict) else None
        if isinstance(text, str) and text.strip():
            known = {t.turn_id for t in corpus.turns.get(tc.session_id, [])}
            if tc.turn_id not in known:
                corpus.turns.setdefault(tc.session_id, []).append(
                    ReplayTurn(tc.turn_id, tc.speaker, text, _sent_at(data, tc.turn_id, line.source)))
    corpus.coders = sorted(coders)
    corpus.missing_turns = sum(1 for sid in corpus.session_codes if sid not in corpus.turns)
    return corpus


def stored_coded_sessions(engine: Engine) -> CodedCorpus:
    """The /code page's codes (``turn_codes``) and every stored turn of each coded session (``turns``)."""
    from .turn_codes import read_turn_codes

    corpus = CodedCorpus()
    rows = read_turn_codes(engine)
    corpus.coders = sorted({r.coder_id for r in rows})
    for r in rows:
        if r.turn_id == SESSION_TURN:
            corpus.session_codes.setdefault(r.session_id, {})[r.coder_id] = r.rupture
        else:
            corpus.turn_codes.setdefault((r.session_id, r.turn_id), {})[r.coder_id] = eval_codes(r.codes, r.speaker)
    sessions = {r.session_id for r in rows}
    if sessions:
        t = Turn.__table__
        with engine.connect() as conn:
            for row in conn.execute(select(t.c.session_id, t.c.turn_id, t.c.speaker, t.c.text, t.c.sent_at, t.c.lang)
                                    .where(t.c.session_id.in_(sorted(sessions)))):
                at = row.sent_at if row.sent_at.tzinfo is not None else row.sent_at.replace(tzinfo=timezone.utc)
                corpus.turns.setdefault(row.session_id, []).append(ReplayTurn(row.turn_id, row.speaker, row.text, at))
                corpus.lang[row.session_id] = row.lang or "en"
    corpus.missing_turns = sum(1 for sid in corpus.session_codes if sid not in corpus.turns)
    return corpus


def evaluate_corpus(corpus: CodedCorpus, *, resamples: int = 2000, seed: int = 0
                    ) -> tuple[UnitResult | None, UnitResult | None]:
    """Replay every coded session once; the episode result (None without session codes) and the window result
    (None without turn codes on replayed turns)."""
    coded_sessions: list[CodedSession] = []
    windows: dict[str, list[WindowTurn]] = {}
    skipped = 0
    coded_turn_sessions = {sid for sid, _ in corpus.turn_codes}
    for sid, turns in sorted(corpus.turns.items()):
        if sid not in corpus.session_codes and sid not in coded_turn_sessions:
            continue
        replayed = replay_session(sid, turns, lang=corpus.lang.get(sid, "en"))
        skipped += replayed.skipped
        if sid in corpus.session_codes:
            codes = corpus.session_codes[sid]
            coded_sessions.append(CodedSession(
                sid, tuple(codes[c] for c in corpus.coders if c in codes),
                tuple((e.kind, e.status) for e in replayed.episodes if "markers" in e.sources),
                float(sum(text_length(t.text) for t in turns))))
        if sid in coded_turn_sessions:
            windows[sid] = [WindowTurn(t.turn_id, t.speaker, text_length(t.text), replayed.flags.get(t.turn_id, ()),
                                       tuple(corpus.turn_codes.get((sid, t.turn_id), {}).get(c) for c in corpus.coders))
                            for t in turns]
    episodes = None
    if coded_sessions:
        episodes = UnitResult("sessions", f"{RUPTURE_MARKERS.key} (episodes)", len(coded_sessions),
                              len(coded_sessions), corpus.coders,
                              evaluate_episodes(coded_sessions, resamples=resamples, seed=seed), skipped)
    flags = None
    by_flag = evaluate_windows(windows, resamples=resamples, seed=seed) if windows else []
    if by_flag:
        flags = UnitResult("windows", f"{PROCESS_SIGNALS.key} (windows of {WINDOW_TURNS} turns)",
                           max(a.n for a in by_flag), len(windows), corpus.coders, by_flag, skipped)
    return episodes, flags


def format_units(res: UnitResult) -> str:
    """The same table as the turn-level one, over sessions or windows."""
    if res.unit == "sessions":
        head = (f"Rupture episodes per session vs the coders' rupture codes — {res.units} coded sessions "
                f"(detector {res.detector}); coders: {', '.join(res.coders)}")
        what = ("  withdrawal / confrontation: the session had an episode of that type (mixed counts for both); "
                "repaired: of the sessions where both saw one")
        length = "  length: the same kappa for the session's length alone (words of all its turns); Δ: rules − length"
    else:
        head = (f"Process-signal flags per window vs a reference from the coded turns — {res.sessions} sessions "
                f"(detector {res.detector}); coders: {', '.join(res.coders)}")
        what = ("  reference per window: " + "; ".join(f"{f}: {REFERENCES[f][1]}" for f in ("withdrawal",
                "over_directing", "rushing")) + f" (minimal_responses as withdrawal; at least {MIN_CODED} coded "
                "turns of that speaker)")
        length = ("  length: the same kappa for the window's mean turn length alone; Δ: flags − length; "
                  + ", ".join(NO_COUNTERPART) + ": no codable counterpart (not judged)")
    lines = [head, what, "  kappa with 95% intervals that resample sessions;", length, "", code_table_header()]
    lines += [code_table_row(c) for c in res.codes]
    if res.skipped_turns:
        lines.append(f"\n  {res.skipped_turns} turn(s) the processor core refused (a repeated turn id, a turn far "
                     "past its session) were left out of the replay")
    return "\n".join(lines) + "\n"


def unit_record(res: UnitResult, *, labels_source: str | None, resamples: int, seed: int,
                created_at: datetime | None = None) -> ValidationRecord:
    """The record the detector gate reads: the rupture rules' episode record, or the process-signal window record."""
    extra: dict[str, Any] = {"unit": res.unit, "resamples": resamples, "seed": seed, "coders": list(res.coders)}
    if res.unit == "sessions":
        return turn_record(episode_identity(RUPTURE_MARKERS), res.codes, EPISODE_GATE, labels_n=res.units,
                           labels_source=labels_source, created_at=created_at, extra=extra, unit="sessions")
    extra.update({"window_turns": WINDOW_TURNS, "share": SHARE, "run": RUN, "min_coded": MIN_CODED,
                  "references": {f: why for f, (_, why) in REFERENCES.items()}})
    record = turn_record(PROCESS_SIGNALS.identity, res.codes, WINDOW_GATE, labels_n=res.units,
                         labels_source=labels_source, created_at=created_at, extra=extra, unit="windows")
    return record.model_copy(update={"dimensions": {**record.dimensions, **no_counterpart_verdicts()}})


def unit_json(res: UnitResult) -> dict:
    data = turn_eval_json(TurnEvalResult(res.units, res.units, res.coders, 0, res.detector, res.codes))
    return {"unit": res.unit, "detector": res.detector, "units": res.units, "sessions": res.sessions,
            "coders": res.coders, "codes": data["codes"]}


def passes_line(record: ValidationRecord) -> str:
    passed = record.passed_dimensions()
    what = "rupture notices of a type" if record.settings.get("unit") == "sessions" else "process notices of a flag"
    return (f"{record.key}: {len(passed)} of {len(record.dimensions)} codes pass"
            + (f" ({', '.join(passed)}): {what} that passes reach counselors" if passed else
               f": {what} stay with supervisors, marked unvalidated"))
