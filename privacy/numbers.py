"""Phone and ID numbers: candidates by pattern, confirmed by a maintained library.

Why libraries: a bare digit pattern cannot tell a phone number from an order number
or a Chinese resident ID from any 18 digits. ``phonenumbers`` (Google's libphonenumber)
knows which numbers are valid in a region; ``python-stdnum`` knows the resident ID's
ISO 7064 check digit, the SSN's unassigned ranges and the Luhn check of payment cards.
"""

from __future__ import annotations

__layer__ = "core"

import re
from typing import Iterator

import phonenumbers
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.us import ssn

#: The regions whose national formats are recognised; numbers written with a ``+``
#: country code are recognised in any region.
PHONE_REGIONS = ("CN", "US")

_DIGIT_RUN = re.compile(r"\d")
#: 18 characters: 17 digits and a digit or X check character, not inside a longer number; the
#: groups people write apart (110105-19491231-002X, 110105 1949 1231 002X) may be separated.
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{6}[ -]?(?:19|20)\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?\d{3}[0-9Xx](?![0-9A-Za-z])")
#: SSN written with separators (nine bare digits are too often something else) ...
_SSN = re.compile(r"(?<![\d-])(\d{3})[- ](\d{2})[- ](\d{4})(?![\d-])")
#: ... or nine bare digits right after the words that name one ("my social is 536228726")
_SSN_SAID = re.compile(r"\b(?:ssn|social security(?: number| no\.?)?|social)\b\D{0,12}?(?<!\d)(\d{9})(?!\d)",
                       re.IGNORECASE)
#: Chinese passports (E or G and 8 digits, E, a letter and 7 digits), anywhere ...
_CN_PASSPORT = re.compile(r"(?<![0-9A-Za-z])(?:[EG]\d{8}|E[A-HJ-NP-Z]\d{7})(?![0-9A-Za-z])")
#: ... and any passport-shaped number right after the word (US: 9 digits, or a letter and 8)
_PASSPORT_SAID = re.compile(r"(?:passport|护照)\D{0,20}?(?<![0-9A-Za-z])([A-Z]{0,2}\d{7,9})(?![0-9A-Za-z])",
                            re.IGNORECASE)
#: 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
#: issuer prefixes of the cards people type: Visa, Mastercard, Amex, Discover, UnionPay, JCB, Diners
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6011|65|62|35|30|36|38)")


def digit_count(text: str) -> int:
    return len(_DIGIT_RUN.findall(text))


def _cn_id_valid(number: str) -> bool:
    """Check digit and a real birth date (the place code is not checked: new counties would be missed)."""
    number = number.upper()
    try:
        if ric.calc_check_digit(number) != number[-1]:
            return False
        ric.get_birth_date(number)
    except (StdnumError, ValueError):
        return False
    return True


def find_ids(text: str) -> Iterator[tuple[int, int]]:
    """Spans of Chinese resident IDs, US SSNs and payment card numbers that pass their checks, and passports."""
    for m in _CN_ID.finditer(text):
        if _cn_id_valid(re.sub(r"[ -]", "", m.group())):
            yield m.span()
    for m in _SSN.finditer(text):
        if ssn.is_valid("".join(m.groups())):
            yield m.span()
    for m in _SSN_SAID.finditer(text):
        if ssn.is_valid(m.group(1)):
            yield m.span(1)
    for m in _CN_PASSPORT.finditer(text):
        yield m.span()
    for m in _PASSPORT_SAID.finditer(text):
        yield m.span(1)
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            yield m.span()


def find_phones(text: str) -> Iterator[tuple[int, int]]:
    """Spans of phone numbers valid in one of :data:`PHONE_REGIONS` (or with a ``+`` country code)."""
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            yield match.start, match.end
