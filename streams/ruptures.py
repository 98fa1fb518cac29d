"""Rupture episodes: opened, typed, repaired, closed. Pure: no I/O, time passed in.

Beside the alert policy, which says *that* goal or bond fell, this says *what
kind of rupture* the client's turns show and *whether it healed*:

* **Opening.** Client rupture markers (:mod:`streams.rupture_cues`) over the
  last ``window`` client turns: one criticism of the counselor, the approach or
  the progress opens a confrontation; ``confrontation_open`` rejections
  ("yes, but…") do too; ``withdrawal_open`` withdrawal markers (minimal,
  deflecting, hedged agreement, topic change, a reply far shorter than this
  client's own baseline) open a withdrawal — fewer (``withdrawal_open_flagged``)
  while a client process flag (withdrawal, minimal responses, slow replies,
  idle) is up. A plain short acknowledgement ("yeah", "嗯") counts only while
  the window holds no turn with content: between substantive turns it is an
  engaged client listening. The alert policy's *drop* alert opens an episode too (or joins
  the open one): that part is a model output and carries the gate's verdict.
* **Type.** From the client's markers since the opening (and the ones that
  opened it): withdrawal, confrontation, or mixed when the smaller family has
  at least ``mixed_share`` of them. A model-only episode with no markers yet is
  ``untyped`` — a fall in a score says nothing about its kind.
* **Repair** needs both halves, in order: a counselor turn that addresses the
  rupture (meta-communication, acknowledging, inviting disagreement, changing
  course) and *then* a client turn that re-engages (substantive, at least half
  the client's baseline length, no marker). A repair attempt alone is
  ``repair_attempted``; the client answering at length without being invited
  back is not a repair either.
* **Closing.** A repaired episode closes at once; at session end every episode
  still open closes as ``unrepaired``.

Every call returns a :class:`Decision`: the episodes to publish (a new version
each time an episode changes in a way a reader should see) and the new state,
a plain JSON-able dict with turn ids, lengths and cue names — never text.
"""

from __future__ import annotations

__layer__ = "core"

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

import orjson

from . import rupture_cues as cues
from .contracts import DIMENSIONS, AllianceAlert, Lang, ModelDrop, RuptureEpisode, RuptureMarker
from .signals import text_length

#: Process flags (streams.signals) that are about the client pulling away.
CLIENT_FLAGS = frozenset({"withdrawal", "minimal_responses", "slow_replies", "idle"})


#: The cue name of a marker a served detector answered (it says yes or no per code, not which cue).
TRAINED_CUE = "trained"


@dataclass(frozen=True)
class MarkerDetector:
    """A detector served in place of the marker rules for the codes it answers (``process --rupture-detector``).

    ``answer(text, previous)`` says yes/no per code for one client turn (``previous``: the turn before, '' if
    unknown); the rules answer the codes it was not trained for. ``key`` names it in the episodes it opens
    (``RuptureEpisode.marker_detectors``), so the gate judges them on its own record. The core only calls it:
    the shell loads the models behind it.
    """

    key: str
    codes: tuple[str, ...]
    answer: Callable[[str, str], Mapping[str, bool]]


def served_cues(rules: list[cues.Cue], answers: Mapping[str, bool], codes: tuple[str, ...]) -> list[cues.Cue]:
    """The rules' cues of the families the detector does not answer, then one cue per code it said yes to.

    A served yes counts like a rejection, not a criticism: it opens an episode with the others in the window
    (``confrontation_open`` / ``withdrawal_open``), never alone.
    """
    kept = [c for c in rules if c.family not in codes]
    return kept + [cues.Cue(code, TRAINED_CUE) for code in codes if answers.get(code)]


@dataclass(frozen=True)
class RuptureSettings:
    window: int = 4  # recent client turns looked at when deciding to open
    withdrawal_open: int = 3  # withdrawal markers in the window that open an episode
    withdrawal_open_flagged: int = 2  # ... while a client process flag is up
    confrontation_open: int = 2  # rejections in the window (one criticism is enough)
    mixed_share: float = 0.25  # smaller family's share of the markers for "mixed"
    baseline_turns: int = 3  # first substantive client replies = this client's baseline length
    short_reply_ratio: float = 0.25  # a reply this much shorter than the baseline is a withdrawal marker
    reengage_ratio: float = 0.5  # a re-engaging reply is at least half the baseline length ...
    reengage_min: int = 12  # ... and at least this many words / CJK characters
    open_on_model_drop: bool = True
    #: a detector served in place of the marker rules for its codes; None: the rules alone
    markers: MarkerDetector | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.withdrawal_open_flagged <= self.withdrawal_open <= self.window:
            raise ValueError("need 1 <= withdrawal_open_flagged <= withdrawal_open <= window")
        if not 1 <= self.confrontation_open <= self.window:
            raise ValueError("need 1 <= confrontation_open <= window")
        if not 0 < self.mixed_share <= 0.5:
            raise ValueError("mixed_share must be in (0, 0.5]")


def _own(state: dict[str, Any] | None) -> dict[str, Any]:
    """A private copy of the caller's state (a JSON round trip: several times faster than deepcopy)."""
    return orjson.loads(orjson.dumps(state)) if state else new_state()


def new_state() -> dict[str, Any]:
    return {"count": 0, "baseline": [], "recent": [], "open": None, "ended": False, "last_turn_id": -1}


@dataclass(frozen=True)
class Decision:
    episodes: list[RuptureEpisode]
    state: dict[str, Any]


@dataclass(frozen=True)
class SessionInfo:
    """What the core needs to know about the session for an episode record."""

    session_id: str
    counselor_id: str
    lang: Lang = "en"


@dataclass
class _Ctx:
    st: dict[str, Any]
    info: SessionInfo
    at: datetime
    out: list[RuptureEpisode] = field(default_factory=list)


# --- turns --------------------------------------------------------------------------


def on_turn(
    state: dict[str, Any] | None,
    info: SessionInfo,
    *,
    turn_id: int,
    speaker: str,
    text: str,
    at: datetime,
    phase: str,
    flags: tuple[str, ...] | list[str] = (),
    settings: RuptureSettings = RuptureSettings(),
    previous: str = "",
) -> Decision:
    """Fold one chat turn in. ``flags``: the process flags up after this turn; ``previous``: the turn before's
    text, read only by a served marker detector (``settings.markers``) as its context."""
    ctx = _Ctx(_own(state), info, at)
    st = ctx.st
    if st["ended"]:
        return Decision([], st)
    st["last_turn_id"] = max(st["last_turn_id"], turn_id)
    if speaker == "counselor":
        _counselor_turn(ctx, turn_id, text)
    else:
        _client_turn(ctx, turn_id, text, phase, list(flags), settings, previous)
    return Decision(ctx.out, st)


def _baseline(st: dict[str, Any]) -> float | None:
    return statistics.median(st["baseline"]) if st["baseline"] else None


def _client_turn(ctx: _Ctx, turn_id: int, text: str, phase: str, flags: list[str], s: RuptureSettings,
                 previous: str) -> None:
    st = ctx.st
    found = cues.client_cues(text)
    served = s.markers.codes if s.markers is not None else ()
    if s.markers is not None:  # client turns only: the detector's models cost milliseconds (bench/rupture_core.py)
        found = served_cues(found, s.markers.answer(text, previous), served)
    length = text_length(text)
    base = _baseline(st)
    if (not found and cues.WITHDRAWAL not in served and base is not None and len(st["baseline"]) >= s.baseline_turns
            and length <= cues.SHORT_LENGTH and length <= s.short_reply_ratio * base):
        found = [cues.Cue(cues.WITHDRAWAL, "short_reply")]
    if not found and len(st["baseline"]) < s.baseline_turns:
        st["baseline"].append(length)
    # a served detector's marker carries its key (5th): the episode it opens or joins names it
    marks = [[turn_id, c.family, c.name, c.strong] + ([s.markers.key] if s.markers and c.name == TRAINED_CUE else [])
             for c in found]
    st["recent"] = (st["recent"] + [[turn_id, marks]])[-s.window:]

    ep = st["open"]
    if ep is not None:
        if marks:
            ep["markers"] += [m[:3] for m in marks]
            _name_detectors(ep, marks)
            _retype(ctx, ep, s)
        elif ep["repair_moves"] and _reengages(length, base, s):
            ep["reengaged_turn_id"] = turn_id
            _close(ctx, ep, "repaired")
        return
    opening = _opening(st["recent"], flags, s)
    if opening:
        _open(ctx, phase, turn_id, [m[:3] for m in opening], flags, s, detectors=_name_detectors({}, opening))


def _name_detectors(ep: dict[str, Any], marks: list[list[Any]]) -> dict[str, str]:
    """Note which served detector answered each family of ``marks`` (the first to answer it: the one that opened
    or typed the episode); a family with no entry is the rules'. Returns the episode's mapping."""
    named = ep.setdefault("detectors", {})
    for m in marks:
        if len(m) > 4:
            named.setdefault(m[1], m[4])
    return dict(named)


def _reengages(length: int, base: float | None, s: RuptureSettings) -> bool:
    need = max(s.reengage_min, s.reengage_ratio * base) if base else s.reengage_min
    return length >= need


def _opening(recent: list[Any], flags: list[str], s: RuptureSettings) -> list[list[Any]] | None:
    """The markers that open an episode now (the latest client turn must carry one), or None.

    Short acknowledgements are read against this client's own rhythm: while the window
    also holds a turn with content and no marker (the client is still engaging), a plain
    "yeah" / "嗯" is listening, not withdrawal, and does not count.
    """
    engaged = any(not turn_marks for _, turn_marks in recent)
    if engaged:
        recent = [[tid, [m for m in turn_marks if m[2] != cues.ACKNOWLEDGEMENT]] for tid, turn_marks in recent]
    if not recent or not recent[-1][1]:
        return None
    marks = [m for _, turn_marks in recent for m in turn_marks]
    conf = [m for m in marks if m[1] == cues.CONFRONTATION]
    withdrawal_turns = {m[0] for m in marks if m[1] == cues.WITHDRAWAL}
    if any(m[3] for m in recent[-1][1]):
        return [m for m in recent[-1][1] if m[1] == cues.CONFRONTATION]
    if len({m[0] for m in conf}) >= s.confrontation_open:
        return conf
    need = s.withdrawal_open_flagged if CLIENT_FLAGS & set(flags) else s.withdrawal_open
    if len(withdrawal_turns) >= need:
        return [m for m in marks if m[1] == cues.WITHDRAWAL]
    return None


def _counselor_turn(ctx: _Ctx, turn_id: int, text: str) -> None:
    ep = ctx.st["open"]
    if ep is None:
        return
    moves = cues.repair_moves(text)
    if not moves:
        return
    ep["repair_moves"] += [[turn_id, "repair", m] for m in moves]
    if ep["status"] == "open":
        ep["status"] = "repair_attempted"
        _emit(ctx, ep)


# --- model drops and the end ------------------------------------------------------------


def on_model_drop(
    state: dict[str, Any] | None,
    info: SessionInfo,
    alert: AllianceAlert,
    *,
    at: datetime,
    settings: RuptureSettings = RuptureSettings(),
) -> Decision:
    """The alert policy's drop alert: joins the open episode, or opens a model episode.

    The late phase is scored after the session has ended, so its drop arrives
    late: it joins the episode the end closed as unrepaired, or becomes a new
    episode that is closed (unrepaired) at once — nobody can repair it any more.
    """
    ctx = _Ctx(_own(state), info, at)
    st = ctx.st
    if alert.kind != "drop" or alert.dimension not in DIMENSIONS:
        return Decision([], st)
    drop = ModelDrop(alert_id=alert.alert_id, dimension=alert.dimension, phase=alert.phase,
                     previous=alert.previous, current=alert.current, model=alert.model,
                     validated=alert.validated).model_dump(mode="json")
    ep = st["open"] if not st["ended"] else st.get("ended_episode")
    if ep is not None:
        if ep["model_drop"] is None or (drop["validated"] and not ep["model_drop"]["validated"]):
            ep["model_drop"] = drop
            if "model" not in ep["sources"]:
                ep["sources"].append("model")
            _emit(ctx, ep)
        return Decision(ctx.out, st)
    if not settings.open_on_model_drop:
        return Decision([], st)
    ep = _open(ctx, alert.phase, st["last_turn_id"], [], [], settings, model_drop=drop)
    if st["ended"]:
        ctx.out.clear()  # one record: opened and closed together
        ep["version"] = 0
        _close(ctx, ep, "unrepaired")
        st["ended_episode"] = ep
    return Decision(ctx.out, st)


def on_session_end(state: dict[str, Any] | None, info: SessionInfo, *, at: datetime) -> Decision:
    """The session closed: an episode still open is closed as unrepaired. Idempotent."""
    ctx = _Ctx(_own(state), info, at)
    st = ctx.st
    if st["ended"]:
        return Decision([], st)
    st["ended"] = True
    if st["open"] is not None:
        st["ended_episode"] = st["open"]
        _close(ctx, st["open"], "unrepaired")
    return Decision(ctx.out, st)


# --- episode bookkeeping -------------------------------------------------------------


def _open(ctx: _Ctx, phase: str, turn_id: int, markers: list[list[Any]], flags: list[str], s: RuptureSettings,
          model_drop: dict[str, Any] | None = None, detectors: dict[str, str] | None = None) -> dict[str, Any]:
    st = ctx.st
    st["count"] += 1
    ep = {
        "episode_id": f"{ctx.info.session_id}:rupture:{st['count']}", "version": 0, "kind": "untyped",
        "status": "open", "sources": ["model" if model_drop else "markers"], "phase": phase, "opened_at": ctx.at.isoformat(),
        "opened_turn_id": turn_id, "markers": markers, "flags": sorted(set(flags) & CLIENT_FLAGS),
        "repair_moves": [], "reengaged_turn_id": None, "closed_at": None, "model_drop": model_drop,
        "detectors": detectors or {},
    }
    st["open"] = ep
    st["recent"] = []  # the markers that opened it belong to it; the next episode starts afresh
    _retype(ctx, ep, s, force=True)
    return ep


def kind_of(markers: list[list[Any]], mixed_share: float) -> str:
    """withdrawal / confrontation / mixed from the marker families (untyped when none)."""
    w = sum(1 for m in markers if m[1] == cues.WITHDRAWAL)
    c = sum(1 for m in markers if m[1] == cues.CONFRONTATION)
    if not w and not c:
        return "untyped"
    if w and c and min(w, c) / (w + c) >= mixed_share:
        return "mixed"
    return cues.WITHDRAWAL if w >= c else cues.CONFRONTATION


def _retype(ctx: _Ctx, ep: dict[str, Any], s: RuptureSettings, force: bool = False) -> None:
    kind = kind_of(ep["markers"], s.mixed_share)
    if force or kind != ep["kind"]:
        ep["kind"] = kind
        _emit(ctx, ep)


def _close(ctx: _Ctx, ep: dict[str, Any], status: str) -> None:
    ep["status"] = status
    ep["closed_at"] = ctx.at.isoformat()
    ctx.st["open"] = None
    _emit(ctx, ep, closed=True)


def _emit(ctx: _Ctx, ep: dict[str, Any], closed: bool = False) -> None:
    ep["version"] += 1
    ctx.out.append(_episode(ctx, ep, closed))


def _episode(ctx: _Ctx, ep: dict[str, Any], closed: bool = False) -> RuptureEpisode:
    drop = ep["model_drop"]
    markers = [RuptureMarker(turn_id=t, speaker="client", family=f, cue=c) for t, f, c in ep["markers"]]
    moves = [RuptureMarker(turn_id=t, speaker="counselor", family="repair", cue=c) for t, _, c in ep["repair_moves"]]
    return RuptureEpisode(
        episode_id=ep["episode_id"], session_id=ctx.info.session_id, counselor_id=ctx.info.counselor_id,
        version=ep["version"], kind=ep["kind"], status=ep["status"], closed=closed or ep["closed_at"] is not None,
        sources=ep["sources"], phase=ep["phase"], lang=ctx.info.lang, opened_at=ep["opened_at"],
        opened_turn_id=ep["opened_turn_id"], markers=markers, flags=ep["flags"], repair_moves=moves,
        reengaged_turn_id=ep["reengaged_turn_id"], closed_at=ep["closed_at"],
        model_drop=ModelDrop.model_validate(drop) if drop else None,
        marker_detectors=dict(ep.get("detectors") or {}),  # absent in a state from before served detectors
        # the drop part only; the processor adds the markers detector's verdict (validation.detectors.gate_episode)
        validated=bool(drop and drop["validated"]),
        suggestion=suggestion(ep["kind"], ep["status"], ctx.info.lang,
                              ep["markers"][0][0] if ep["markers"] else None),
        at=ctx.at,
    )


# --- the counselor's next move ---------------------------------------------------------

_SUGGESTIONS = {
    "en": {
        "withdrawal": ("Name the shift and invite them back in: \"I notice your replies have got shorter since "
                       "turn {turn}. Did something I said not fit? It's fine to tell me.\""),
        "confrontation": ("Acknowledge your part before anything else, without defending: \"You're right to say "
                          "so. I went ahead with my idea before I understood yours. What would be more useful?\""),
        "mixed": ("Slow down and ask about the two of you, not the topic: \"I pushed ahead and you've gone quieter. "
                  "Can we pause? What isn't working for you in how we're doing this?\""),
        "untyped": ("Check in about the conversation itself: \"How is this going for you so far? If something I "
                    "said didn't fit, tell me.\""),
        "repair_attempted": ("You named it; now leave room. Ask one open question about what they want from the "
                             "rest of the session, and follow their answer rather than your plan."),
    },
    "zh": {
        "withdrawal": "说出你注意到的变化，邀请对方回来：“我注意到从第{turn}轮开始你的回复变短了。是不是我刚才说的哪里不太合适？可以直接告诉我。”",
        "confrontation": "先承认自己的部分，不要辩解：“你说得对，我在理解你之前就急着给方法了。你觉得怎样会更有帮助？”",
        "mixed": "放慢节奏，谈谈我们之间而不是话题：“我好像一直在往前推，你也变得安静了。我们先停一下好吗？现在这样聊，哪里让你觉得不对？”",
        "untyped": "问问对谈话本身的感受：“到目前为止你觉得我们聊得怎么样？如果我说的哪句话不合适，可以直接告诉我。”",
        "repair_attempted": "你已经说出来了，现在留出空间：问一个开放式问题，了解对方希望剩下的时间怎么用，然后跟着对方的回答走，而不是按你的计划。",
    },
}


def suggestion(kind: str, status: str, lang: str, first_turn: int | None) -> str:
    """One concrete next move for this episode (empty once it is closed)."""
    if status in ("repaired", "unrepaired"):
        return ""
    table = _SUGGESTIONS.get(lang, _SUGGESTIONS["en"])
    key = "repair_attempted" if status == "repair_attempted" else kind
    text = table[key]
    if "{turn}" in text:
        text = text.format(turn=first_turn) if first_turn is not None else table["untyped"]
    return text
