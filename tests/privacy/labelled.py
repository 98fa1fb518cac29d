"""A small labelled sample of counselling-chat lines with PII (en + zh), written for measuring
detection: each line with the exact strings a reader would want removed, by kind.

Written by hand, not by the detector's author's patterns alone: it includes forms the
redactor is known to miss (lowercase street names, names not introduced, spelled-out
numbers), so recall is not flattering. All persons, numbers and addresses are invented;
ID numbers carry valid check digits (the redactor's checks) unless marked as wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

#: The labelled set of issue 21 (en + zh): one JSON object a line, ``{"lang", "text",
#: "pii": [[kind, exact substring], ...]}``; a line with no ``pii`` is a negative that must
#: stay intact. Written before the detectors were changed for it.
LABELLED_SET = Path(__file__).with_name("data") / "pii_labelled.jsonl"
#: 68 more lines in the same form, written after the detectors were tuned on LABELLED_SET and
#: measured once, unchanged since.
HELD_OUT_SET = Path(__file__).with_name("data") / "pii_heldout.jsonl"


def load_labelled(path: Path = LABELLED_SET) -> list[tuple[str, str, dict[str, list[str]]]]:
    """The set as (lang, text, {kind: [substrings]}); a label that is not in its text is an error."""
    out: list[tuple[str, str, dict[str, list[str]]]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        gold: dict[str, list[str]] = {}
        for kind, sub in rec["pii"]:
            if sub not in rec["text"]:
                raise ValueError(f"{path.name}:{n}: label {sub!r} is not in its text")
            gold.setdefault(kind, []).append(sub)
        out.append((rec["lang"], rec["text"], gold))
    return out

#: (lang, text, {kind: [exact PII substrings]})
SAMPLE: list[tuple[str, str, dict[str, list[str]]]] = [
    # ---- English
    ("en", "Hi, my name is Sarah Miller and I've been struggling since the divorce.", {"name": ["Sarah Miller"]}),
    ("en", "I'm Jake, I found this site through a friend.", {"name": ["Jake"]}),
    ("en", "You can call me Tom if that's easier.", {"name": ["Tom"]}),
    ("en", "My husband Daniel doesn't know I'm talking to anyone.", {"name": ["Daniel"]}),
    ("en", "Dr. Patel said the medication would take a few weeks.", {"name": ["Patel"]}),
    ("en", "Emily keeps texting me at night and I can't sleep.", {"name": ["Emily"]}),
    ("en", "I told kevin about it but he laughed.", {"name": ["kevin"]}),
    ("en", "My phone is 415-555-0132 if the chat drops.", {"phone": ["415-555-0132"]}),
    ("en", "Text me at (212) 555-0187 after six.", {"phone": ["(212) 555-0187"]}),
    ("en", "My cell is +1 646 555 0123.", {"phone": ["+1 646 555 0123"]}),
    ("en", "I'm in London now, my number is +44 20 7946 0958.", {"phone": ["+44 20 7946 0958"]}),
    ("en", "Call 4155550199 and ask for me.", {"phone": ["4155550199"]}),
    ("en", "email me at sarah.miller82@gmail.com please", {"email": ["sarah.miller82@gmail.com"]}),
    ("en", "My work address is j.doe+therapy@company.co.uk.", {"email": ["j.doe+therapy@company.co.uk"]}),
    ("en", "I live at 42 Maple Street, Springfield, IL 62704.", {"address": ["42 Maple Street, Springfield, IL 62704"]}),
    ("en", "We moved to 1600 Pennsylvania Avenue last year, funny right?", {"address": ["1600 Pennsylvania Avenue"]}),
    ("en", "The shelter is at 17 Oak Rd, Apt 3B.", {"address": ["17 Oak Rd, Apt 3B"]}),
    ("en", "my flat is at 9 church lane near the station", {"address": ["9 church lane"]}),
    ("en", "My SSN is 123-45-6789, they asked for it at intake.", {"id": ["123-45-6789"]}),
    ("en", "He used my card 4111 1111 1111 1111 without asking.", {"id": ["4111 1111 1111 1111"]}),
    ("en", "The card ending 5555555555554444 was declined.", {"id": ["5555555555554444"]}),
    ("en", "I'm Anna, my number is 917-555-0144 and I live at 8 Elm Street.",
     {"name": ["Anna"], "phone": ["917-555-0144"], "address": ["8 Elm Street"]}),
    ("en", "My sister Rachel and I haven't spoken in 3 years.", {"name": ["Rachel"]}),
    ("en", "Mrs Thompson from school called my mom.", {"name": ["Thompson"]}),
    ("en", "I'm tired of everything and I'm Sorry for being late.", {}),
    ("en", "I sleep about 5 hours, from 1:30 to 6:30, since 2019.", {}),
    ("en", "It happened on 2024-05-17 around 10:45 pm.", {}),
    ("en", "I walked 3 miles down the road to clear my head.", {}),
    ("en", "I'm American but I grew up in Shanghai.", {}),
    ("en", "We had 12 sessions last year and 4 this year, about 1500 dollars.", {}),
    ("en", "My order number is 1234567890123 and the wrong card 4111 1111 1111 1112.", {}),
    ("en", "The score went from 3.5 to 4.25 out of 5.", {}),
    ("en", "On a scale of 1 to 10 I'd say 7, maybe 8.", {}),
    ("en", "I'm Catholic and my family is very traditional.", {}),
    # ---- Chinese
    ("zh", "你好，我叫张伟，最近压力很大。", {"name": ["张伟"]}),
    ("zh", "我的名字是李娜，是朋友推荐我来的。", {"name": ["李娜"]}),
    ("zh", "王芳老师说我应该多休息。", {"name": ["王芳"]}),
    ("zh", "我和李明吵架了，他一直不回我消息。", {"name": ["李明"]}),
    ("zh", "我妈妈叫刘秀英，她总是管着我。", {"name": ["刘秀英"]}),
    ("zh", "小红最近不理我了。", {"name": ["小红"]}),
    ("zh", "我男朋友陈浩然总是加班。", {"name": ["陈浩然"]}),
    ("zh", "同事赵子龙在背后说我坏话。", {"name": ["赵子龙"]}),
    ("zh", "欧阳娜娜是我高中同学。", {"name": ["欧阳娜娜"]}),
    ("zh", "我的手机号是13812345678，有事可以打给我。", {"phone": ["13812345678"]}),
    ("zh", "电话：139-1234-5678，晚上打。", {"phone": ["139-1234-5678"]}),
    ("zh", "家里座机是010-62345678。", {"phone": ["010-62345678"]}),
    ("zh", "我的号码是+86 186 1234 5678。", {"phone": ["+86 186 1234 5678"]}),
    ("zh", "你可以加我微信，或者发邮件到zhangwei88@qq.com。", {"email": ["zhangwei88@qq.com"]}),
    ("zh", "邮箱是li.na@163.com", {"email": ["li.na@163.com"]}),
    ("zh", "我住在北京市朝阳区建国路88号3单元502室。", {"address": ["北京市朝阳区建国路88号3单元502室"]}),
    ("zh", "我们搬到了上海市浦东新区世纪大道100号。", {"address": ["上海市浦东新区世纪大道100号"]}),
    ("zh", "她住在阳光小区5栋2单元301。", {"address": ["阳光小区5栋2单元301"]}),
    ("zh", "我家在中山路一百二十号附近。", {"address": ["中山路一百二十号"]}),
    ("zh", "我身份证号是11010519491231002X。", {"id": ["11010519491231002X"]}),
    ("zh", "他的身份证 440308199901015678 被人冒用了。", {}),  # wrong check digit: not an ID
    ("zh", "银行卡6222 0212 3456 7890 128被盗刷了。", {"id": ["6222 0212 3456 7890 128"]}),
    ("zh", "我叫王磊，电话13698765432，住在南京市鼓楼区中山北路30号。",
     {"name": ["王磊"], "phone": ["13698765432"], "address": ["南京市鼓楼区中山北路30号"]}),
    ("zh", "今天周三，我们三点见，一共聊了3次。", {}),
    ("zh", "我很高兴见到你，心情好多了。", {}),
    ("zh", "2019年到2023年我一直在加班，每天工作12个小时。", {}),
    ("zh", "我明白你的意思，但是我做不到。", {}),
    ("zh", "我觉得自己像个失败者，什么都做不好。", {}),
    ("zh", "考试考了85分，排名第120名。", {}),
    ("zh", "订单号20240517103045已经发货了。", {}),
    ("zh", "我每天晚上11点睡，早上7点起。", {}),
    ("zh", "老师和同学都不理解我。", {}),
    ("zh", "我想去海边走走，放松一下。", {}),
]

#: Written after the redactor was tuned on SAMPLE and measured once, unchanged since:
#: the fairer estimate (see docs/security-and-operations.md#pii-redaction).
HELD_OUT: list[tuple[str, str, dict[str, list[str]]]] = [
    ("en", "hey its Marcus again, same as last week", {"name": ["Marcus"]}),
    ("en", "My name's Priya and I'm 19.", {"name": ["Priya"]}),
    ("en", "My boss Greg yelled at me in front of everyone.", {"name": ["Greg"]}),
    ("en", "I talked to Linda about it and she said to come here.", {"name": ["Linda"]}),
    ("en", "This is Olivia Chen, we spoke on Monday.", {"name": ["Olivia Chen"]}),
    ("en", "my mom's number is 303 555 0175", {"phone": ["303 555 0175"]}),
    ("en", "Reach me on 1-800-555-0199 ext 12.", {"phone": ["1-800-555-0199"]}),
    ("en", "Write to mike_t@outlook.com if I don't reply.", {"email": ["mike_t@outlook.com"]}),
    ("en", "I'm staying at 221B Baker Street for now.", {"address": ["221B Baker Street"]}),
    ("en", "Her place is 350 Fifth Avenue, New York, NY 10118.", {"address": ["350 Fifth Avenue, New York, NY 10118"]}),
    ("en", "They sent the letter to 77 Sunset Blvd. Unit 4.", {"address": ["77 Sunset Blvd. Unit 4"]}),
    ("en", "my social is 078-05-1121", {"id": ["078-05-1121"]}),
    ("en", "Amex 3782 822463 10005 was charged twice.", {"id": ["3782 822463 10005"]}),
    ("en", "I've been awake since 4 and it's 11 now.", {}),
    ("en", "I'm Muslim and fasting this month.", {}),
    ("en", "My GPA dropped from 3.8 to 2.9 this semester.", {}),
    ("en", "There were 250 people at the funeral on March 3rd, 2023.", {}),
    ("en", "I take 20 mg twice a day, 40 mg total.", {}),
    ("en", "My Mother and I argue about Christmas every year.", {}),
    ("en", "Call me when you can, I'm Free after 5.", {}),
    ("zh", "我是刘洋，之前跟你聊过。", {"name": ["刘洋"]}),
    ("zh", "我老公张建国每天喝酒。", {"name": ["张建国"]}),
    ("zh", "孙悦一直在学校欺负我。", {"name": ["孙悦"]}),
    ("zh", "我女儿叫朵朵，今年五岁。", {"name": ["朵朵"]}),
    ("zh", "杨老师让我找心理咨询。", {"name": ["杨"]}),
    ("zh", "我的电话是 150 1234 5678。", {"phone": ["150 1234 5678"]}),
    ("zh", "打这个号码18612345678找我。", {"phone": ["18612345678"]}),
    ("zh", "单位电话021-54321234转806。", {"phone": ["021-54321234"]}),
    ("zh", "可以给我发邮件：wang_lei@sina.com", {"email": ["wang_lei@sina.com"]}),
    ("zh", "我住在广州市天河区天河路385号。", {"address": ["广州市天河区天河路385号"]}),
    ("zh", "地址是杭州市西湖区文三路90号东部软件园1号楼。", {"address": ["杭州市西湖区文三路90号东部软件园1号楼"]}),
    ("zh", "我在幸福家园8号楼1单元302室住。", {"address": ["幸福家园8号楼1单元302室"]}),
    ("zh", "身份证：310101198001011234，帮我看看。", {}),  # wrong check digit
    ("zh", "我的身份证号码是 510107199003073610", {"id": ["510107199003073610"]}),
    ("zh", "我已经三天没睡好了，体重掉了5公斤。", {}),
    ("zh", "我们班有45个人，我排第3。", {}),
    ("zh", "他说下周一上午10点再聊。", {}),
    ("zh", "我觉得很温馨，也很感动。", {}),
    ("zh", "我对花生过敏，医生说要注意。", {}),
    ("zh", "妈妈总说我不够努力。", {}),
]


@dataclass
class KindScore:
    found: int = 0  # gold spans overlapped by a predicted span of the same kind
    missed: int = 0
    wrong: int = 0  # predicted spans overlapping no gold span of their kind

    @property
    def recall(self) -> float | None:
        return self.found / (self.found + self.missed) if self.found + self.missed else None

    @property
    def precision(self) -> float | None:
        predicted = self.found + self.wrong
        return self.found / predicted if predicted else None


@dataclass
class Scores:
    kinds: dict[str, KindScore] = field(default_factory=dict)
    misses: list[tuple[str, str]] = field(default_factory=list)  # (kind, line) for a report
    false_alarms: list[tuple[str, str]] = field(default_factory=list)


def evaluate(sample: Iterable[tuple[str, str, dict[str, list[str]]]],
             find: Callable[[str], list], kinds: Iterable[str]) -> Scores:
    """Span-overlap recall and precision per kind of ``find`` (privacy.find_spans) on ``sample``."""
    out = Scores({k: KindScore() for k in kinds})
    for _lang, text, gold in sample:
        spans = find(text)
        wanted = [(text.index(g), text.index(g) + len(g), k) for k, gs in gold.items() for g in gs]
        for s, e, k in wanted:
            if any(p.kind == k and p.start < e and s < p.end for p in spans):
                out.kinds[k].found += 1
            else:
                out.kinds[k].missed += 1
                out.misses.append((k, text))
        for p in spans:
            if not any(p.kind == k and p.start < e and s < p.end for s, e, k in wanted):
                out.kinds[p.kind].wrong += 1
                out.false_alarms.append((p.kind, text))
    return out
