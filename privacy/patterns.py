"""Pattern detectors: e-mail addresses (also spelled out), postal addresses, Chinese
self-introductions and names the caller knows.

Why patterns and not a model: no named-entity model can be downloaded at run time
here, and a pattern is predictable and fast. The price is recall: an address is found
only when it has a house number and a street word (12 Baker Street, 221b baker street,
建国路88号) or a building and a room (5号楼1203室). English names are in ``names_en``.
"""

from __future__ import annotations

__layer__ = "core"

import re
from typing import Iterable, Iterator

EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])")

_STREET = (r"Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
           r"Terrace|Close|Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Row|Walk|Gardens")
#: lower-case words that cannot be part of a street name ("3 miles down the road")
_NOT_STREET = (r"(?!(?:the|a|an|of|to|down|up|along|on|in|at|by|my|his|her|our|your|their|this|that|and|or|"
               r"from|across|over|off|into|near|miles?|km|blocks?|minutes?|mins?|hours?|times?|days?|years?|"
               r"steps?|houses?|doors?)\b)")
EN_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?"
    r"(?:(?:\s+[A-Z][A-Za-z'-]*){1,4}|(?:\s+" + _NOT_STREET + r"[a-z][a-z'-]*){1,3})"  # Baker / baker, north main
    r"\s+(?i:" + _STREET + r")\b\.?"
    r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b\.?)?"  # 1600 Pennsylvania Avenue NW
    r"(?:,?\s+(?i:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+){0,2})?"  # city
    r"(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"  # state and ZIP
)
#: characters that start a sentence part rather than a street name (我住在…, 搬到…)
_ZH_NOT_NAME = "在住是的我你他她到从去来于和跟搬家就也还"
_ZH_PLACE = r"(?:(?![" + _ZH_NOT_NAME + r"])[\u4e00-\u9fff]){1,12}?"
_ZH_NUM = r"[0-9０-９一二三四五六七八九十百零〇]+"
_ZH_UNIT = r"(?:号楼|栋|幢|座|单元|楼|层|室|号)"
#: a building name between the street number and the building (建国路88号SOHO现代城5号楼)
_ZH_BUILDING_NAME = r"(?:[A-Za-z\u4e00-\u9fff]{1,10}?)?"
#: a room number written without 室 after a unit or floor (2单元301)
_ZH_BARE_ROOM = r"(?:(?:(?<=元)|(?<=[楼层]))\s*[0-9]{2,4}(?![0-9]))?"
ZH_ADDRESS = re.compile(
    _ZH_PLACE + r"(?:路|街|大街|大道|巷|弄|胡同|里)\s*" + _ZH_NUM + r"\s*号"
    r"(?:\s*" + _ZH_BUILDING_NAME + r"(?:" + _ZH_NUM + r"|[A-Za-z])\s*" + _ZH_UNIT + r")*" + _ZH_BARE_ROOM +
    r"|" + _ZH_PLACE + r"(?:小区|花园|公寓|大厦|新村|家园|苑)\s*(?:" + _ZH_NUM + r"|[A-Za-z])\s*(?:号楼|栋|幢|座|号)"
    r"(?:\s*" + _ZH_NUM + r"\s*(?:单元|楼|层|室|号))*" + _ZH_BARE_ROOM +
    # a building and a room with no street or estate word: SOHO现代城5号楼1203室, 12栋305室
    r"|(?:[A-Za-z]{2,10})?" + _ZH_PLACE.replace("{1,12}?", "{0,8}?") + r"[0-9]{1,4}\s*(?:号楼|栋|幢|座)"
    r"(?:\s*[0-9]{1,4}\s*(?:单元|楼|层))*\s*[0-9]{2,5}\s*室"
)
_ZH_INTRO = re.compile(r"(?:我叫|我的名字是|我的名字叫|名字叫|名叫|叫我)\s*([\u4e00-\u9fff]{2,3})(?=[，。,.!！?？\s]|$)")


_DOT = r"(?:\s*\.\s*|\s+dot\s+|\s*[\[(]dot[\])]\s*)"
_AT = r"(?:\s+at\s+|\s*[\[(]at[\])]\s*|\s*@\s*)"
#: an address written to dodge a scraper: "sarah dot connor at gmail dot com", "mike.t [at] yahoo [dot] com"
SPELLED_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-]+(?:" + _DOT + r"[A-Za-z0-9_%+-]+)*" + _AT
    + r"[A-Za-z0-9-]+(?:" + _DOT + r"[A-Za-z0-9-]+)*" + _DOT
    + r"(?:com|net|org|edu|gov|cn|me|io|co|uk|de|fr|info|us|ca|au|hk|tw)(?![A-Za-z0-9-])", re.IGNORECASE)
_SPELLED = re.compile(r"\bdot\b|[\[(](?:at|dot)[\])]", re.IGNORECASE)


def find_emails(text: str) -> Iterator[tuple[int, int]]:
    if "@" in text:
        for m in EMAIL.finditer(text):
            yield m.span()
    if _SPELLED.search(text):  # only a spelled-out "dot" or a bracketed "(at)" makes "x at y.com" an address
        for m in SPELLED_EMAIL.finditer(text):
            yield m.span()


def find_addresses(text: str) -> Iterator[tuple[int, int]]:
    for m in EN_ADDRESS.finditer(text):
        yield m.span()
    if "号" in text or "栋" in text or "幢" in text or "座" in text or "室" in text:
        for m in ZH_ADDRESS.finditer(text):
            yield m.span()


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
