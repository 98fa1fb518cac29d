"""The fan-out's settings: queue and resume bounds, the validation gate switch, pruning, rate limits.

One frozen value the shell builds from the command line (every field has a flag)
and the hub consults; the shell swaps in a new one when it reloads the validation
records.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field

from validation.records import RecordBook


@dataclass(frozen=True)
class Policy:
    """Settings of the fan-out (all have CLI flags)."""

    #: messages waiting for one connection before it is cut off as too slow.
    max_queue: int = 1000
    #: most missed events a resume replays; a cursor further behind gets a gap and a
    #: fresh snapshot instead. Cheap to hold (references into the history, encoded
    #: one at a time as they are sent), so it can exceed ``max_queue``.
    max_resume: int = 5000
    #: the validation gate (docs/validation.md). False: alerts, scores, item detail and
    #: rationales of a dimension the model is not validated for go to supervisors only.
    unvalidated_to_counselors: bool = False
    #: detectors (``NAME`` or ``NAME:CODE``, validation.detectors.parse_opened) a site opened to counselors
    #: by setting before their records pass: logged at start, marked "opened" on the board.
    opened_detectors: frozenset[str] = frozenset()
    #: ended sessions stay on the board this long (seconds), then are pruned.
    ended_keep_s: float = 600.0
    #: sessions with no event for this long are pruned even without an ``ended``.
    stale_after_s: float = 12 * 3600.0
    #: alerts kept per session in the live state.
    alerts_per_session: int = 50
    #: client messages per second per connection (token bucket), and the burst allowed;
    #: past the limit a message is answered ``rate_limited``, and a client that goes
    #: on for another burst is closed (4029): timelines and acks cost the gateway work.
    msg_rate: float = 5.0
    msg_burst: int = 30
    #: open connections one token may hold (a leaked token cannot exhaust the gateway).
    max_connections_per_token: int = 20
    #: connections one token may open per second (token bucket) and at once; past it the
    #: connect is closed 4029 with how long to wait. 0 switches the limit off.
    reconnect_rate: float = 1.0
    reconnect_burst: int = 20
    #: validation records (validation.records.RecordBook), reloaded by the shell. They
    #: decide which dimensions' scores a counselor receives (validation.gate.
    #: withheld_from_counselors); alerts carry the processor's ``alert.validated``.
    record_book: RecordBook | None = field(default=None, compare=False)
