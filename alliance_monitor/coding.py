"""The ``/code`` page's parts, composed: the word rules that stratify the sample, the store behind the page.

Why here: the rules live in ``scoring`` and ``streams``, the codes in ``store``, the
page in ``gateway``; shells of different packages do not import each other, so the
command line hands each the others' functions (as it hands the gateway its
``archive_loader``).
"""

from __future__ import annotations

__layer__ = "cli"

from scoring.turn_features import feature_patterns, features
from streams.rupture_cues import client_cues


def rule_fired(speaker: str, text: str) -> bool:
    """Did a word rule fire on this turn (the stratum it is sampled from)?

    Counselor turns: any word-level feature (a question, a reflection, a directive)
    or the "passive response" pattern; client turns: any rupture marker.
    """
    if speaker == "counselor":
        f = features(text)
        return bool(f.open_question or f.closed_question or f.reflection or f.directive or feature_patterns(f))
    return bool(client_cues(text))


def rule_codes(text: str) -> dict[str, bool]:
    """The word rules' yes/no codes of a counselor turn (what ``eval-turns --from-store`` judges)."""
    return features(text).as_dict()
