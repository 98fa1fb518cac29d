"""Rupture and repair cues in single chat turns (en + zh). Pure: text in, cue names out.

Why lexicons and not the model: rupture markers are mostly *speech acts* a
counselor can be told about by name — a minimal reply, an empty "I guess", a
change of subject, a "this isn't helping", an apology, an "I notice…" — and
they have to be recognised on every turn, between model predictions, at no
cost. The cue names follow the rupture-marker families of alliance research:
withdrawal (minimal or deflecting answers, empty agreement, topic changes) vs
confrontation (rejecting what the counselor offers, criticising the counselor,
the approach or the lack of progress), and the counselor's repair moves
(meta-communication, acknowledging, inviting disagreement, changing course).

What this cannot do: it reads surface forms. Irony, a polite "sure" that means
yes, or a criticism phrased in words not listed here are missed or misread.
Every cue is a hint that a human would still check, not a diagnosis.

Privacy: the text is looked at here once and never kept; callers keep only the
cue names and turn ids.
"""

from __future__ import annotations

__layer__ = "core"

import re
from dataclasses import dataclass

from .signals import is_minimal, normalise, text_length

WITHDRAWAL = "withdrawal"
CONFRONTATION = "confrontation"

#: A client turn at most this long (words, or CJK characters) is "short": only a
#: short reply can be an *empty* agreement or a deflection; a long one has content.
SHORT_LENGTH = 10

# --- withdrawal ----------------------------------------------------------------------

#: Plain short acknowledgements ("yeah", "okay", "mm", "嗯", "好的"): what an engaged client says while the
#: counselor reflects or explains. Alone they are not withdrawal (issue 23: the rules flagged good sessions
#: more than poor ones); they count only when the client has stopped saying anything else
#: (:mod:`streams.ruptures`: no substantive turn in the window).
ACKNOWLEDGEMENT = "acknowledgement"
_ACK = frozenset(normalise(x) for x in (
    "ok", "okay", "k", "kk", "sure", "yes", "yeah", "yep", "yup", "alright", "right", "mhm", "uh huh", "mm",
    "mmm", "mm hmm", "mm-hmm", "hmm", "hm", "ok thanks", "okay thanks", "sure thanks", "thanks", "i see", "true",
    "got it", "oh", "ah", "yes yes", "yeah yeah", "ok ok",
    "好", "好的", "嗯", "嗯嗯", "恩", "是", "是的", "对", "对的", "对啊", "嗯好", "嗯好的", "嗯呢", "哦", "噢", "哦哦",
    "明白", "明白了", "行", "可以", "好的好的", "嗯对", "是啊",
))
_REPEATED_ACK = re.compile(r"(嗯|恩|哦|好|ok|m+h*)+")
#: A *hedged* or grudging agreement on its own: compliance without commitment.
_AGREEMENT = frozenset(normalise(x) for x in (
    "fine", "i guess", "i suppose", "fine thanks", "好吧", "行吧", "可以吧", "好吧好吧",
))
#: A *hedged* agreement ("I mean, sure…", "I guess we can try", "好吧", "我试试吧"): compliance
#: without commitment. A plain "Yes. That's it exactly." is agreement, not a marker.
_HEDGED_AGREEMENT_EN = re.compile(r"^\s*(i mean,?\s*(sure|ok(ay)?|yeah|yes)|i guess|i suppose|sure,? i guess|"
                                  r"ok(ay)?,? i guess|fine,? whatever)\b", re.I)
_HEDGED_AGREEMENT_ZH = re.compile(r"^\s*(嗯+[…。，,.\s]*)?(好吧|行吧|可以吧|我试试吧|试试吧|那就这样吧?|嗯+[…。，,.\s]*好的)")
_DEFLECT_EN = re.compile(
    r"\b(i don'?t know|idk|dunno|it'?s fine|its fine|not really|whatever|doesn'?t matter|nothing much|"
    r"no idea|i guess|i suppose)\b", re.I)
_DEFLECT_ZH = re.compile(r"(不知道|说不清|没什么(?![用意帮])|还行|随便|算了|无所谓|都行|没有吧|没有了吧|也许|可能吧|不清楚)")
_TOPIC_CHANGE_EN = re.compile(r"(^|[.!?]\s+)(anyway|by the way|btw|on another note|speaking of|changing the subject)\b",
                              re.I)
_TOPIC_CHANGE_ZH = re.compile(r"(^|[。！？…，,\s])(对了|说到|换个话题|不说这个了|另外说一下|话说)")

# --- confrontation -------------------------------------------------------------------

#: Rejecting what the counselor offered ("yes, but…", "I've tried that", "that won't work").
_REJECT_EN = re.compile(
    r"(^\s*((yeah|yes|ok(ay)?|sure|i mean|i guess)[\s,.]*)?but\b|\bthat'?s not (it|the point|what i)|"
    r"\bi don'?t (think so|agree|think that'?s)|\bi'?ve (already )?tried (it|that)|\bi already tried|"
    r"\bit'?s not that simple|\bits not that simple|\bthat won'?t work|\bdoesn'?t work for me|"
    r"\bthat'?s not true|\bno,? that'?s)", re.I)
_REJECT_ZH = re.compile(
    r"(^\s*((嗯+|好吧|好|对)[…。，,.\s]*)?(可是|但是)|不太可能|哪有(时间|空|那么)|不是这样|不对|不全是|并不是|"
    r"我不同意|没那么简单|不是那么简单|试过了|我还是不太确定|还是不太确定)")
#: Criticism of the counselor, the approach or the lack of progress: one is enough to open an episode.
_CRITICISM_EN = re.compile(
    r"(\b(this|that|it)(\s+is|'?s)?\s*(isn'?t|is not|not)\s+helping|\bnot (very )?helpful|"
    r"\byou'?re not (listening|hearing)|\byou (are not|aren'?t|don'?t) (listen|listening|understand|get it)|"
    r"\bwaste of (my )?time|\bpointless|\bi didn'?t come here (to|for)|\bi (already )?told you|"
    r"\bthis isn'?t working|\bwe'?re going in circles|\bnot getting anywhere|\bnothing has changed|"
    r"\byou keep (telling|saying|asking))", re.I)
_CRITICISM_ZH = re.compile(
    r"(没有帮助|没什么帮助|没帮助|(这样|这些|你说的|这个方法)(根本)?没用|你(根本)?没(有|在)?(在)?听|你不懂|你不明白|"
    r"你没明白|你根本|我(已经)?说过了|我不是来|浪费时间|(现在|好像|感觉)(好像)?还是一样|原地打转|"
    r"不是我想要的|没有进展|你总是)")

# --- repair (counselor) --------------------------------------------------------------

REPAIR_MOVES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "meta_communication": (
        re.compile(r"(\bi (notice|noticed|'ve noticed|am noticing)\b|\bhow (are you|do you) feel(ing)? about "
                   r"(our|this|the) (conversation|session|chat)|\bhow (is|has) (this|the session|our "
                   r"(conversation|chat)|today) (been|going)|\bwhat'?s (happening|going on) between us|"
                   r"\bcheck (in )?(that )?we'?re on the same page|\bcheck in about (today|how))", re.I),
        re.compile(r"(我注意到|我发现你(的)?(回复|回答|话)|我们的(谈话|对话)|我们之间|今天(聊得|谈得)怎么样)"),
    ),
    "acknowledging": (
        re.compile(r"(\byou'?re right\b|\bi'?m sorry\b|\bi apologi[sz]e|\bi got (it|that) wrong|\bmy mistake|"
                   r"\bthank you for (being honest|telling me|saying (so|that|something))|\bi jumped|"
                   r"\bthat'?s on me|\bfair point)", re.I),
        re.compile(r"(对不起|抱歉|你说得对|你说的对|是我(的问题|没有|太)|谢谢你(直接|坦诚|愿意)告诉我|我刚才(太|没有))"),
    ),
    "inviting_disagreement": (
        re.compile(r"(\btell me if\b|\blet me know if (this|that|i|something)|\bfeel free to disagree|"
                   r"\bif (something|anything) i said|\bdid (something|anything) i said|\bpush back|"
                   r"\bcorrect me|\bit'?s fine to tell me|\bokay to disagree)", re.I),
        re.compile(r"(可以直接告诉我|如果.{0,12}(不太舒服|不对|不合适|不认同)|哪句话|你可以不同意|说得不对)"),
    ),
    "changing_course": (
        re.compile(r"(\b(can we|let'?s|let us) (slow down|step back|go back)|\bi'?d rather understand|"
                   r"\bwhat would make (the rest of )?(today|this|our time) (useful|helpful)|"
                   r"\bwhat would be most helpful|\bset (that|this) aside|\blet'?s drop (that|the))", re.I),
        re.compile(r"(我们可以慢一点|慢一点|换个方式|先放一放|先不说这个|回到你(刚才)?说的|你更想聊)"),
    ),
}


@dataclass(frozen=True)
class Cue:
    """One marker in one turn: its family (withdrawal / confrontation / repair) and name."""

    family: str
    name: str
    strong: bool = False  # a confrontation cue that opens an episode on its own


def is_acknowledgement(text: str) -> bool:
    """A plain short acknowledgement ("yeah", "okay", "mm", "嗯", "好的"), relative to nothing yet: the
    episode rules decide against this client's own rhythm whether it means anything."""
    norm = normalise(text)
    compact = norm.replace(" ", "")
    return bool(norm) and (norm in _ACK or compact in _ACK or bool(_REPEATED_ACK.fullmatch(compact)))


def client_cues(text: str) -> list[Cue]:
    """Rupture markers in one client turn (empty when the turn shows none)."""
    cues: list[Cue] = []
    short = text_length(text) <= SHORT_LENGTH
    if _CRITICISM_EN.search(text) or _CRITICISM_ZH.search(text):
        cues.append(Cue(CONFRONTATION, "criticism", strong=True))
    if _REJECT_EN.search(text) or _REJECT_ZH.search(text):
        cues.append(Cue(CONFRONTATION, "disagreement"))
    norm = normalise(text)
    if cues:
        return cues  # "ok, but…" is a disagreement, not an empty agreement
    if is_acknowledgement(text):
        cues.append(Cue(WITHDRAWAL, ACKNOWLEDGEMENT))
    elif norm in _AGREEMENT or norm.replace(" ", "") in _AGREEMENT:
        cues.append(Cue(WITHDRAWAL, "empty_agreement"))
    elif is_minimal(text):
        cues.append(Cue(WITHDRAWAL, "minimal"))
    elif short and (_HEDGED_AGREEMENT_EN.match(text) or _HEDGED_AGREEMENT_ZH.match(text)):
        cues.append(Cue(WITHDRAWAL, "empty_agreement"))
    elif short and (_DEFLECT_EN.search(text) or _DEFLECT_ZH.search(text)):
        cues.append(Cue(WITHDRAWAL, "deflecting"))
    if _TOPIC_CHANGE_EN.search(text) or _TOPIC_CHANGE_ZH.search(text):
        cues.append(Cue(WITHDRAWAL, "topic_change"))
    return cues


def repair_moves(text: str) -> list[str]:
    """The repair moves a counselor turn makes, by name (empty: none)."""
    return [name for name, (en, zh) in REPAIR_MOVES.items() if en.search(text) or zh.search(text)]


def is_substantive(text: str, min_length: int) -> bool:
    """A client turn with content and no rupture marker: the client is engaging."""
    return text_length(text) >= min_length and not client_cues(text)
