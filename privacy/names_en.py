"""English (and other Latin-script) person names, introduced or not.

Why a name list: no English NER model installs from PyPI with its weights (spaCy's
models are released outside the registry, see docs/findings.md), so a name is found
the way a reader would: a word introduced as a name ("my name is sarah connor",
"my boyfriend tyler", "Mr. O'Brien"), or a word that is a first name — from the
first-name dictionary that ships inside ``gender-guesser`` (about 45,000 names with
their frequency by country) — written like a name: capitalised ("I told John",
"Sarah Connor keeps texting me"), or lower-case right after a word that is followed
by a person ("i told kevin"). Words that are names and ordinary English words
(Will, Hope, Grace, Mark, May, …) count only where introduced.
"""

from __future__ import annotations

__layer__ = "core"

import importlib.resources
import re
import threading
import unicodedata
from typing import Iterator

_lock = threading.Lock()
_first_names: dict[str, int] | None = None

#: upper- and lower-case Latin letters, with the accented ones of Latin-1 (María, Zoë, Seán)
_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
#: a capitalised name word: María, O'Brien, McDonald, Jean-Luc
CAP = rf"(?:[{_UP}]'|Mc|Mac)?[{_UP}][{_LO}]+(?:-[{_UP}]?[{_LO}]+)?"
LOW = rf"[{_LO}]+"
_WORD = re.compile(rf"{CAP}|{LOW}")
#: what ends a sentence: a capitalised word after one of these is not evidence of a name by itself
_SENTENCE_END = ".!?…\n\"“("
_SEP = re.compile(r"[ \t]+")

#: Names that are also ordinary English words: the names in ``gender-guesser``'s list with
#: a frequency in Britain, Ireland or the USA that are lower-case words of Debian's
#: american-english-small word list, less those that are almost always names (Mike, Peter).
#: Such a word is a name only where the text introduces it.
AMBIGUOUS = frozenset("""
abbey ally alpha amber angel aria art aspen august autumn barb baron basil bee bell berry berth bet bill blaze
blossom brain brandy brook brooks buck bud buddy buzz cadence cam candy caprice carol chance charity chase
chastity cherish cherry chip christen clay cliff colt con cooper coral coy crystal curt daisy dawn dean
destiny diamond dimple dolly don dot duke dusty ear earnest ebony emerald era essence eve fairy faith fawn
fern flora forest foster frank gage gale garland garnet garrison gay genesis gill ginger gore grace grant gray
guy hardy harmony haven hay hazel heath heather heaven hew holly honey honor hope hunter ion iris ivory ivy
jack jade jarred jewel joy judge justice key king kit kitty lacy lance lane laurel lean liberty lily loyal
lyric magnolia major march mare mark marvel mason maverick may meadow melody merry miles miracle misty nest
newt newton noble non nova olive opal oral paddy pansy patience pearl peg penny phoenix pierce poppy porter
precious price prince princess prudence queen raven red reed rich river robin rock rocky rod rose rosemary
royal ruby rush rusty sage sandy serenity sierra sincere sine skip sky spring sterling stone stoney storm
stormy summer sunny sunshine tab talon tanner tiara trace trinity turner unity valentine van velvet viola
violet walker ward will willow win windy woody wren
january february april june july september october november december
monday tuesday wednesday thursday friday saturday sunday christian christmas easter god jesus
""".split())
#: words after an introduction that describe rather than name (I'm Tired, I'm American)
NOT_A_NAME = frozenset(w.lower() for w in """
I Im OK Okay Fine Good Sorry Not Just So Very Really Still Here There Back Done Sure Afraid Glad
Tired Sad Angry Happy Scared Worried Lost Stuck Alone Single Married Divorced Pregnant Sick Ill Hard Free
American British English Chinese Canadian Australian Irish Scottish Welsh Indian Christian Catholic
Muslim Jewish Buddhist Hindu Gay Lesbian Bi Trans Queer The A An This That It He She They We You
Mom Mum Dad Mother Father Sister Brother Monday Tuesday Wednesday Thursday Friday Saturday Sunday
on in at and or but from with to for of about is was going getting feeling trying crazy what how
Christmas Easter Mr Mrs Ms Miss Dr Prof""".split())
#: places that are also first names in the list ("I'm in London now")
PLACES = frozenset("""
london paris sydney austin dallas houston denver phoenix georgia virginia carolina florence victoria chelsea
madison washington lincoln orlando india china kenya israel america england ireland france adelaide regina
camden brooklyn savannah aurora boston berlin vienna milan siena
""".split())

_INTRO = re.compile(r"\b(?:my name is|my name's|name's|call me|i am|i'm|i’m|this is|it's|its)\s+", re.IGNORECASE)
_RELATION = re.compile(
    r"\b(?:my|his|her|our) (?:wife|husband|partner|son|daughter|mother|father|mom|mum|dad|stepdad|stepmom|"
    r"stepfather|stepmother|sister|brother|friend|best friend|boyfriend|girlfriend|boss|manager|colleague|"
    r"coworker|teacher|therapist|ex|grandma|grandmother|grandpa|grandfather|aunt|uncle|cousin|child|kid|"
    r"roommate|flatmate|neighbou?r|bf|gf),?\s+", re.IGNORECASE)
_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+(?=[" + _UP + "])")
#: lower-case words after which a lower-case first name is read as a name (i told kevin)
_AFTER_A_PERSON_WORD = re.compile(
    r"\b(?:told|tell|asked|ask|texted|text|called|call|with|and|about|saw|see|met|meet|love|loves|hate|hates|"
    r"miss|dating|married|like|likes|blocked|unfriended)\s+([" + _LO + r"]+)\b")
_CAPITALISED = re.compile(rf"(?<![{_UP}{_LO}'’]){CAP}")


def first_names() -> dict[str, int]:
    """Lower-case first name → its highest frequency class in Britain, Ireland or the USA (0: only elsewhere).

    Read once per process from the list inside ``gender-guesser`` (about 0.4 s)."""
    global _first_names
    with _lock:
        if _first_names is None:
            names: dict[str, int] = {}
            data = importlib.resources.files("gender_guesser").joinpath("data/nam_dict.txt")
            for line in data.read_text(encoding="utf-8").splitlines():
                if not line or line[0] in "#=":
                    continue
                name = line.split()[1]
                english = [int(c, 16) for c in line[30:33] if c.isalnum()]
                for variant in {name.replace("+", ""), name.replace("+", "-"), name.replace("+", " ")}:
                    key = variant.lower()
                    names[key] = max(names.get(key, 0), max(english, default=0))
            _first_names = names
        return _first_names


def _plain(word: str) -> str:
    """``word`` in lower case without accents (Zoë → zoe), for names the list spells plainly."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))


def _is_first_name(word: str, *, english_only: bool) -> bool:
    freq = first_names().get(word.lower())
    if freq is None and not word.isascii():
        freq = first_names().get(_plain(word))
    if freq is None:
        return False
    return freq > 0 or not english_only or not word.isascii()  # María, Zoë: a name wherever it is common


def _run(text: str, pos: int, *, lower_ok: bool) -> tuple[int, int] | None:
    words: list[re.Match[str]] = []
    at = pos
    while len(words) < 3:
        m = _WORD.match(text, at)
        if not m:
            break
        word = m.group()
        if word.lower() in NOT_A_NAME:
            break
        if word[0].islower():
            # a lower-case word joins only as a known, unambiguous first name (or surname after one)
            if not lower_ok or any(w.group()[0].isupper() for w in words) or word in AMBIGUOUS \
                    or not _is_first_name(word, english_only=True):
                break
        elif words and words[-1].group()[0].islower():
            break
        words.append(m)
        sep = _SEP.match(text, m.end())
        if not sep:
            break
        at = sep.end()
    if not words:
        return None
    return words[0].start(), words[-1].end()


def _introduced(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_INTRO, _RELATION):
        for m in pattern.finditer(text):
            span = _run(text, m.end(), lower_ok=True)
            if span:
                yield span
    for m in _TITLE.finditer(text):
        span = _run(text, m.end(), lower_ok=False)
        if span:
            yield span


def _unintroduced(text: str) -> Iterator[tuple[int, int]]:
    """Capitalised first names (with the capitalised words after them), and lower-case first
    names right after a word that is followed by a person. Only candidates are visited: the
    capitalised words and the words after those few verbs, not every word of the text."""
    names = first_names()
    pos = 0
    for m in _CAPITALISED.finditer(text):
        word = m.group()
        key = word.lower()
        if m.start() < pos or key in NOT_A_NAME or key in AMBIGUOUS or key in PLACES \
                or not _is_first_name(word, english_only=True):
            continue
        span = _run(text, m.start(), lower_ok=False)
        before = text[max(0, m.start() - 8):m.start()].rstrip()
        at_start = not before or before[-1] in _SENTENCE_END
        if span and (not at_start or span[1] > m.end() or not _looks_like_a_word_at_start(text, m)):
            pos = span[1]
            yield span
    for m in _AFTER_A_PERSON_WORD.finditer(text):
        key = m.group(1)
        if key not in NOT_A_NAME and key not in AMBIGUOUS and key not in PLACES \
                and names.get(key, 0) >= LOWER_CASE_MIN_FREQ:
            yield m.span(1)


#: a lower-case word is read as a first name only when the name is at least this common
#: in Britain, Ireland or the USA (the list's classes run 1-13)
LOWER_CASE_MIN_FREQ = 3


def _looks_like_a_word_at_start(text: str, m: re.Match[str]) -> bool:
    """A capitalised first name that starts a sentence and is followed by no other name word
    is still a name unless it is a function word (the list's rare entries: In, So, An)."""
    return m.group().isascii() and first_names().get(m.group().lower(), 0) == 0


def find_names(text: str) -> Iterator[tuple[int, int]]:
    """Spans of Latin-script person names: introduced, or first names written as names (each once)."""
    yield from dict.fromkeys([*_introduced(text), *_unintroduced(text)])
