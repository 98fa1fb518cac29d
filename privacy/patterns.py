"""Pattern detectors: e-mail addresses, postal addresses and names a person gives.

Why patterns and not a model: no named-entity model can be downloaded at run time
here, and a pattern is predictable and fast. The price is recall: an English name
is only found where the text introduces it ("my name is …", "I'm …", "call me …",
"my sister …", "Mr …") or where the caller passes it in ``known``; an address only
when it has a house number and a street word (12 Baker Street, 建国路88号).
"""

from __future__ import annotations

__layer__ = "core"

import re
from typing import Iterable, Iterator

EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])")

_STREET = (r"Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
           r"Terrace|Close|Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Row|Walk|Gardens")
EN_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?(?:\s+[A-Z][A-Za-z'-]*){1,4}\s+(?:" + _STREET + r")\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+){0,2})?"  # city
    r"(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"  # state and ZIP
)
#: characters that start a sentence part rather than a street name (我住在…, 搬到…)
_ZH_NOT_NAME = "在住是的我你他她到从去来于和跟搬家就也还"
_ZH_PLACE = r"(?:(?![" + _ZH_NOT_NAME + r"])[\u4e00-\u9fff]){1,12}?"
_ZH_NUM = r"[0-9０-９一二三四五六七八九十百零〇]+"
ZH_ADDRESS = re.compile(
    _ZH_PLACE + r"(?:路|街|大街|大道|巷|弄|胡同|里)\s*" + _ZH_NUM + r"\s*号"
    r"(?:\s*" + _ZH_NUM + r"\s*(?:号楼|栋|幢|座|单元|楼|层|室|号))*"
    r"|" + _ZH_PLACE + r"(?:小区|花园|公寓|大厦|新村|家园|苑)\s*" + _ZH_NUM + r"\s*(?:号楼|栋|幢|座|号)"
    r"(?:\s*" + _ZH_NUM + r"\s*(?:单元|楼|层|室|号))*"
    r"(?:(?:(?<=元)|(?<=[楼层]))\s*[0-9]{2,4}(?![0-9]))?"  # 2单元301: the room number without 室
)

#: capitalised words after "I'm" that describe rather than name
_NOT_A_NAME = frozenset("""
I Im OK Okay Fine Good Sorry Not Just So Very Really Still Here There Back Done Sure Afraid Glad
Tired Sad Angry Happy Scared Worried Lost Stuck Alone Single Married Divorced Pregnant Sick Ill
American British English Chinese Canadian Australian Irish Scottish Welsh Indian Christian Catholic
Muslim Jewish Buddhist Hindu Gay Lesbian Bi Trans Queer The A An This That It He She They We You
Mom Mum Dad Mother Father Sister Brother Monday Tuesday Wednesday Thursday Friday Saturday Sunday
""".split())
_CAP = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_INTRO = re.compile(
    r"\b(?:[Mm]y name is|[Mm]y name's|[Nn]ame's|[Cc]all me|I am|I'm|I’m|[Tt]his is)\s+"
    r"(" + _CAP + r"(?:\s+" + _CAP + r")?)"
)
_RELATION = re.compile(
    r"\b(?:[Mm]y|[Hh]is|[Hh]er|[Oo]ur) (?:wife|husband|partner|son|daughter|mother|father|mom|mum|dad|"
    r"sister|brother|friend|boyfriend|girlfriend|boss|manager|colleague|teacher|therapist|ex|"
    r"grandma|grandmother|grandpa|grandfather|aunt|uncle|cousin|child|kid|roommate|neighbou?r),?\s+"
    r"(" + _CAP + r"(?:\s+" + _CAP + r")?)"
)
_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+(" + _CAP + r"(?:\s+" + _CAP + r")?)")
_ZH_INTRO = re.compile(r"(?:我叫|我的名字是|我的名字叫|名字叫|名叫|叫我)\s*([\u4e00-\u9fff]{2,3})(?=[，。,.!！?？\s]|$)")


def find_emails(text: str) -> Iterator[tuple[int, int]]:
    if "@" in text:
        for m in EMAIL.finditer(text):
            yield m.span()


def find_addresses(text: str) -> Iterator[tuple[int, int]]:
    for m in EN_ADDRESS.finditer(text):
        yield m.span()
    if "号" in text or "栋" in text or "幢" in text:
        for m in ZH_ADDRESS.finditer(text):
            yield m.span()


def _named(m: re.Match[str]) -> tuple[int, int] | None:
    words = [(w.group(), w.start(), w.end()) for w in re.finditer(r"\S+", m.group(1))]
    while words and words[-1][0] in _NOT_A_NAME:
        words.pop()
    if not words or words[0][0] in _NOT_A_NAME:
        return None
    return m.start(1), m.start(1) + words[-1][2]


def find_en_names(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_INTRO, _RELATION, _TITLE):
        for m in pattern.finditer(text):
            span = _named(m)
            if span:
                yield span


def find_zh_intro_names(text: str) -> Iterator[tuple[int, int]]:
    for m in _ZH_INTRO.finditer(text):
        yield m.span(1)


def find_known(text: str, names: Iterable[str]) -> Iterator[tuple[int, int]]:
    """Every occurrence of a name the caller knows (session metadata), whole words, any case."""
    for name in names:
        name = name.strip()
        if len(name) < 2:
            continue
        edge = r"\b" if name[0].isascii() else ""
        for m in re.finditer(edge + re.escape(name) + (r"\b" if name[-1].isascii() else ""), text, re.IGNORECASE):
            yield m.span()
