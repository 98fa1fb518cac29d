"""Seeded synthetic *engaged* sessions: good counseling whose clients also answer "yeah", "mm", "嗯", "好的".

Why: the rupture-marker rules once read every short acknowledgement as withdrawal,
so they opened episodes in good sessions more often than in poor ones (issue 23).
These sessions are built to be good by construction — the counselor reflects and
asks open questions, the client answers with content, and between those answers
acknowledges briefly, the way engaged clients do in text — so any rupture episode
or client process flag they raise is a false alarm. ``tests/streams/test_engaged_sessions.py``
holds the rules to at most 10 % of them. Pure: a seed in, replay events out; no
clinical data (every line is written here).
"""

from __future__ import annotations

__layer__ = "core"

import random
from datetime import datetime, timedelta, timezone

from streams.contracts import ChatTurn, Lang, SessionEvent
from streams.replay_format import ReplayEvent
from streams.topics import CHAT_SESSIONS, CHAT_TURNS

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)

#: The acknowledgements an engaged client sends between substantive replies.
ACKS: dict[Lang, tuple[str, ...]] = {
    "en": ("yeah", "okay", "mm", "mhm", "yes", "right", "ok", "yeah yeah", "mm-hmm", "sure"),
    "zh": ("嗯", "好的", "嗯嗯", "对", "是的", "好", "嗯对", "明白", "哦哦", "对的"),
}

_TOPICS: dict[Lang, tuple[str, ...]] = {
    "en": ("my sleep", "the new job", "my mother", "the move to a new city", "my exams", "my relationship",
           "the money worries", "my friend group", "my brother", "the long commute"),
    "zh": ("睡眠", "新工作", "我妈妈", "搬到新城市", "考试", "感情", "钱的压力", "朋友圈", "我弟弟", "通勤"),
}
_CLIENT_EN = (
    "When I think about {t} I notice my chest gets tight, and it has been like that most evenings this month.",
    "What makes {t} hard is that I keep going over the same conversations in my head late at night.",
    "I talked with my partner about {t} on Sunday and it felt good to say it out loud for once.",
    "Last week I tried going for a walk after dinner, and on those days {t} felt a little lighter.",
    "I think the part about {t} that bothers me most is feeling like I should have it sorted by now.",
    "Honestly {t} takes up more space than I expected, especially on Mondays when everything starts again.",
    "With {t} I swing between wanting to fix everything at once and wanting to hide under the covers.",
    "It helped to hear that, because with {t} I usually assume everyone else is coping much better than me.",
    "I would like to feel calmer about {t} and have one or two things I can actually do during the week.",
    "My sister says I carry {t} around like a backpack, and I think she is right about that.",
)
_CLIENT_ZH = (
    "一想到{t}，我就觉得胸口发紧，这个月几乎每天晚上都是这样，躺下以后脑子停不下来。",
    "{t}让我难受的地方在于，我总是在脑子里一遍遍重放白天的那些对话，越想越清醒。",
    "周末我跟家里人聊了聊{t}的事，说出来以后感觉轻松了一些，这是很少有的。",
    "上周我晚饭后出去散步了几次，那几天{t}带来的压力好像小了一点，睡得也早一些。",
    "关于{t}，最让我在意的是总觉得自己早就应该处理好了，现在还这样就很着急。",
    "说实话，{t}占了我很多心思，尤其是周一，一切又重新开始的时候特别明显。",
    "面对{t}，我一会儿想一下子全部解决，一会儿又只想躲起来什么都不管。",
    "听你这么说我挺受触动的，因为在{t}这件事上我总以为别人都比我应付得好。",
    "我希望对{t}能更平静一点，这周能有一两件真正做得到的小事，一步一步来。",
    "我姐姐说我背着{t}就像背着一个大书包，我觉得她说得挺准的。",
)
_REFLECT_EN = (
    "It sounds like {t} has been weighing on you most in the evenings.",
    "So when {t} comes up, your body reacts before you have even decided what to think.",
    "It sounds like saying it out loud made a real difference.",
    "You expect yourself to have {t} figured out already, and that adds pressure on top.",
)
_QUESTION_EN = (
    "What is that like for you, when it starts?",
    "How did you manage on the days it felt lighter?",
    "What would you like to be different by the end of today?",
    "What do you notice first when {t} comes to mind?",
    "How would you know things were a little better next week?",
)
_CONTINUE_EN = (
    "And you mentioned the walks earlier, which seemed to matter.",
    "Many people describe something similar when a lot changes at once.",
    "That took some courage to put into words.",
)
_REFLECT_ZH = (
    "听起来{t}在晚上对你的影响最大。",
    "所以一提到{t}，你的身体先有反应，还没来得及想清楚。",
    "听起来说出来对你很有帮助。",
    "你觉得自己早该处理好{t}，这本身又多了一层压力，感觉很沉重。",
)
_QUESTION_ZH = (
    "那种时候对你来说是什么样的感受呢？",
    "感觉轻松一些的那几天，你是怎么做到的？",
    "今天聊完以后，你希望有什么不一样？",
    "想到{t}的时候，你最先注意到的是什么？",
    "下周如果好一点点，你会怎么发现呢？",
)
_CONTINUE_ZH = (
    "你刚才提到散步，好像对你挺重要的。",
    "很多人在生活一下子变化很多的时候，也会有类似的感觉。",
    "能把这些说出来，本身就很不容易。",
)


def _lines(lang: Lang) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if lang == "zh":
        return _CLIENT_ZH, _REFLECT_ZH, _QUESTION_ZH, _CONTINUE_ZH
    return _CLIENT_EN, _REFLECT_EN, _QUESTION_EN, _CONTINUE_EN


def engaged_session(index: int, lang: Lang, rng: random.Random, *, ack_share: float = 0.45,
                    minutes: float = 50.0) -> list[ReplayEvent]:
    """One good session: counselor reflections and open questions, substantive client answers, and a
    short acknowledgement from the client after about ``ack_share`` of the counselor's reflections
    (sometimes two in a row)."""
    client, reflect, question, cont = _lines(lang)
    topic = rng.choice(_TOPICS[lang])
    sid, cid = f"engaged-{lang}-{index:03d}", f"c-engaged-{index % 7}"
    start = T0 + timedelta(days=index)
    at = start
    turns: list[tuple[str, str, datetime]] = []

    def say(speaker: str, text: str, lo: float, hi: float) -> None:
        nonlocal at
        at += timedelta(seconds=rng.uniform(lo, hi))
        turns.append((speaker, text.format(t=topic), at))

    say("counselor", rng.choice(question), 20, 40)
    end = start + timedelta(minutes=minutes - 2)
    while at < end:
        say("client", rng.choice(client), 40, 110)
        say("counselor", rng.choice(reflect), 25, 60)
        if rng.random() < ack_share:
            say("client", rng.choice(ACKS[lang]), 4, 15)
            say("counselor", rng.choice(cont), 15, 40)
            if rng.random() < 0.2:  # now and then a second one
                say("client", rng.choice(ACKS[lang]), 4, 15)
        say("counselor", rng.choice(question), 10, 30)
    events: list[ReplayEvent] = [ReplayEvent(CHAT_SESSIONS.name, SessionEvent(
        session_id=sid, kind="started", at=start, counselor_id=cid, planned_minutes=minutes, lang=lang),
        start, f"synthetic:{sid}", 0)]
    for i, (speaker, text, sent) in enumerate(turns):
        turn = ChatTurn(session_id=sid, turn_id=i, speaker="client" if speaker == "client" else "counselor",
                        text=text, sent_at=sent, counselor_id=cid, lang=lang)
        events.append(ReplayEvent(CHAT_TURNS.name, turn, sent, f"synthetic:{sid}", i + 1))
    finish = start + timedelta(minutes=minutes)
    events.append(ReplayEvent(CHAT_SESSIONS.name, SessionEvent(
        session_id=sid, kind="ended", at=finish, counselor_id=cid, planned_minutes=minutes, lang=lang),
        finish, f"synthetic:{sid}", len(turns) + 1))
    return events


def engaged_sessions(n: int = 40, seed: int = 23, ack_share: float = 0.45) -> list[list[ReplayEvent]]:
    """``n`` engaged sessions, half English and half Chinese, each its own list of events in time order."""
    rng = random.Random(seed)
    langs: tuple[Lang, Lang] = ("en", "zh")
    return [engaged_session(i, langs[i % 2], rng, ack_share=ack_share) for i in range(n)]
