"""Transcript files for ``alliance-monitor score-file`` (pure parsing, no model).

Two formats:

* **Plain text** (any extension but ``.jsonl``): one turn per line, starting with a
  speaker label — ``Counselor:`` / ``Client:`` (also ``Therapist:``, ``Counsellor:``,
  and in Chinese ``咨询师：`` / ``来访者：``, either colon). A line without a label
  continues the previous turn. Blank lines and lines starting with ``#`` are skipped.
  The language is Chinese when most letters are CJK (``--lang`` overrides).
* **Replay JSON Lines** (``.jsonl``): the format of ``alliance-monitor replay``
  (see streams/replay_format.py). Its turns are grouped by session; ``--session`` picks one
  (default: the first in the file).
"""

from __future__ import annotations

__layer__ = "shell"

import re
from dataclasses import dataclass
from pathlib import Path

from streams.contracts import Lang, Speaker

from .errors import TranscriptError
from .prompts import Line

_LABELS: dict[str, Speaker] = {
    "counselor": "counselor", "counsellor": "counselor", "therapist": "counselor", "咨询师": "counselor",
    "client": "client", "来访者": "client",
}
_LINE = re.compile(r"^\s*(counselor|counsellor|therapist|client|咨询师|来访者)\s*[:：]\s*(.*)$", re.IGNORECASE)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Transcript:
    session_id: str
    lang: Lang
    turns: tuple[Line, ...]
    counselor_id: str | None = None


def guess_lang(texts: list[str]) -> Lang:
    joined = "".join(texts)
    letters = sum(ch.isalpha() for ch in joined)
    return "zh" if letters and len(_CJK.findall(joined)) * 2 >= letters else "en"


def parse_text(text: str, *, source: str = "<text>", lang: Lang | None = None) -> Transcript:
    speakers: list[Speaker] = []
    texts: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m:
            speakers.append(_LABELS[m.group(1).lower()])
            texts.append(m.group(2).strip())
        elif texts:
            texts[-1] = f"{texts[-1]} {line}".strip()
        else:
            raise TranscriptError(f"{source}:{lineno}: expected a line starting with 'Counselor:' or 'Client:'")
    lines = tuple(Line(s, t) for s, t in zip(speakers, texts, strict=True) if t)
    if not lines:
        raise TranscriptError(f"{source}: no turns found (lines must start with 'Counselor:' or 'Client:')")
    return Transcript(Path(source).stem or "transcript", lang or guess_lang([t.text for t in lines]), lines)


def parse_jsonl(path: Path, *, session: str | None = None, lang: Lang | None = None) -> Transcript:
    from streams.contracts import ChatTurn
    from streams.replay_format import read_file

    events, bad = read_file(path)
    if bad and not events:
        raise TranscriptError(str(bad[0]))
    turns = [e.event for e in sorted(events, key=lambda e: (e.at, e.order)) if isinstance(e.event, ChatTurn)]
    sessions = list(dict.fromkeys(t.session_id for t in turns))
    if not sessions:
        raise TranscriptError(f"{path}: no chat turns in this replay file")
    chosen = session or sessions[0]
    if chosen not in sessions:
        raise TranscriptError(f"{path}: no session {chosen!r}; sessions: {', '.join(sessions[:5])}")
    mine = sorted((t for t in turns if t.session_id == chosen), key=lambda t: t.turn_id)
    return Transcript(chosen, lang or mine[0].lang, tuple(Line(t.speaker, t.text) for t in mine),
                      mine[0].counselor_id)


def load(path: str | Path, *, session: str | None = None, lang: Lang | None = None) -> Transcript:
    path = Path(path)
    if not path.exists():
        raise TranscriptError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        return parse_jsonl(path, session=session, lang=lang)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path}: not UTF-8 text") from None
    return parse_text(text, source=str(path), lang=lang)
