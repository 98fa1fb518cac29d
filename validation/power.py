"""How many rated sessions a failing dimension would need, at the effect size it shows now.

Why: "fail" alone does not tell a site whether to keep collecting ratings or to
get a better model. Two of the gate's conditions depend on the number of
sessions — at least ``min_n`` of them, and a 95% interval of the length-controlled
r that lies above zero — and two do not: beating the length-only baseline and
the counselor reference are about the size of r itself. So:

* if the length-controlled r does not beat the reference or the baseline (or is
  not positive), no number of sessions will help at this effect size;
* otherwise, with Fisher's z (``z = atanh r``, standard error ``1/sqrt(n - 3 - k)``
  for a partial correlation with ``k`` covariates), the interval lies above zero
  with probability ``power`` once

      n >= ((z_(1+c)/2 + z_power) / atanh(r))**2 + 3 + k

  and the gate also needs ``n >= min_n``. The answer is the larger of the two,
  minus the sessions already rated.

This is the usual sample-size formula for testing a correlation against zero
(docs/validation.md); the gate's interval is a bootstrap, which Fisher's z
approximates well at these sizes. It assumes the effect seen now is the true
one — an estimate from few sessions is itself uncertain. Pure: numbers in and out.
"""

from __future__ import annotations

__layer__ = "core"

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .stats import sessions_for_interval_above_zero

if TYPE_CHECKING:
    from .records import DimensionVerdict

__all__ = ["SessionsNeeded", "needed_for_verdict", "sessions_for_interval_above_zero", "sessions_needed"]


@dataclass(frozen=True)
class SessionsNeeded:
    """``total`` rated sessions needed (None: more sessions cannot make it pass); ``more`` = total − now."""

    total: int | None
    more: int | None
    reason: str


def sessions_needed(partial_r: float | None, n: int, *, reference: float, baseline_r: float | None = None,
                    min_n: int = 50, covariates: int = 2, confidence: float = 0.95,
                    power: float = 0.80) -> SessionsNeeded:
    """How many more rated sessions would let this dimension pass, if its effect stays as it is."""
    if partial_r is None or math.isnan(partial_r) or partial_r <= 0.0:
        return SessionsNeeded(None, None, "length-controlled r is not positive: more sessions will not help")
    bar = max(reference, baseline_r if baseline_r is not None and not math.isnan(baseline_r) else -1.0)
    if partial_r <= bar:
        which = "the counselor reference" if bar == reference else "the length-only baseline"
        return SessionsNeeded(None, None, f"length-controlled r {partial_r:.3f} does not beat {which} ({bar:.3f}): "
                                          "more sessions will not help; the model must get better")
    for_interval = sessions_for_interval_above_zero(min(partial_r, 0.999), covariates=covariates,
                                                    confidence=confidence, power=power)
    total = max(min_n, for_interval)
    more = max(0, total - n)
    if not more:
        return SessionsNeeded(total, 0, "enough sessions at this effect size")
    why = (f"the gate's minimum of {min_n}" if min_n >= for_interval else
           f"for the {confidence:.0%} interval to lie above zero with {power:.0%} power at r {partial_r:.3f}")
    return SessionsNeeded(total, more, f"about {more} more rated sessions ({total} in all): {why}")


def needed_for_verdict(verdict: DimensionVerdict, settings: dict[str, Any]) -> SessionsNeeded | None:
    """:func:`sessions_needed` for a stored ``DimensionVerdict`` (None when it passed)."""
    if verdict.passed or verdict.counselor_r is None:  # passed, or a turn-level code (no session reference)
        return None
    return sessions_needed(verdict.partial_r, verdict.n, reference=verdict.counselor_r, baseline_r=verdict.baseline_r,
                           min_n=int(settings.get("min_n", 50)), confidence=verdict.confidence)
