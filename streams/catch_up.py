"""Has a (re)started processor read the input backlog it found? Pure code, no I/O.

Phase ends come from two places: a turn that shows the session clock past a
boundary, and the timer, which *extrapolates* the session clock from the last
turn it saw. Right after a restart the turns of the downtime still wait in
Kafka; if the timer ended a phase before they were read, the phase would be
scored on a transcript cut at the crash and the score would differ from an
undisturbed run. So the timer waits until every input partition this worker
was given has been read up to the end offset it had when the worker became
ready — or until ``max_wait_s`` has passed, so a stuck partition delays phase
ends but never stops them.

End offsets may be low, never high (a broker that answers with the last
batch's base offset, see docs/findings.md): the gate then opens a few records
early, which is no worse than not having it.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass, field

Partition = tuple[str, int]


@dataclass
class CatchUp:
    """Input partitions → the offset that must be read before the timer may end phases."""

    targets: dict[Partition, int]
    started_wall: float
    max_wait_s: float = 30.0
    #: how the gate opened: "read" (backlog read), "timeout", or None while closed
    opened_by: str | None = field(default=None)

    @classmethod
    def from_end_offsets(cls, end_offsets: dict[Partition, int], started_wall: float,
                         max_wait_s: float = 30.0) -> "CatchUp":
        """``end_offsets``: the next offset to be written per partition (Kafka's "end offset")."""
        gate = cls({tp: end - 1 for tp, end in end_offsets.items() if end > 0}, started_wall, max_wait_s)
        if not gate.targets:
            gate.opened_by = "read"
        return gate

    @classmethod
    def open(cls) -> "CatchUp":
        """A gate that never holds (nothing to catch up with, or the check is switched off)."""
        return cls({}, 0.0, 0.0, opened_by="read")

    def observe(self, topic: str, partition: int, offset: int) -> None:
        """A record of an input partition was processed."""
        if self.opened_by is not None:
            return
        target = self.targets.get((topic, partition))
        if target is not None and offset >= target:
            del self.targets[(topic, partition)]
            if not self.targets:
                self.opened_by = "read"

    def is_open(self, wall: float) -> bool:
        """May the timer end phases now?"""
        if self.opened_by is None and wall - self.started_wall >= self.max_wait_s:
            self.opened_by = "timeout"
        return self.opened_by is not None

    @property
    def behind(self) -> int:
        """Partitions not yet read up to their target."""
        return len(self.targets)
