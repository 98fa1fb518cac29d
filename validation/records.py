"""Validation records and the book of them: what ``eval`` writes and the gate consults.

A :class:`ValidationRecord` is one model identity's verdicts on one label set
(each dimension's :class:`DimensionVerdict`, every number behind it); the
:class:`RecordBook` keeps the newest record per identity and level — what the
processor, gateway and scorer look up at run time (``store/records.py`` reads
them from the store). Pure: pydantic models, no I/O.
"""

from __future__ import annotations

__layer__ = "core"

from datetime import datetime
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from streams.contracts import ModelIdentity


class DimensionVerdict(BaseModel):
    """Every number behind one dimension's decision, and the decision in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: str
    n: int
    r: float | None = None
    r_p: float | None = None
    r_ci: tuple[float, float] | None = None
    partial_r: float | None = None
    partial_p: float | None = None
    partial_df: int | None = None
    partial_ci: tuple[float, float] | None = None
    confidence: float = 0.95
    baseline_r: float | None = None
    #: the counselor reference a session-level dimension must beat; None for a turn-level code
    counselor_r: float | None = None
    passed: bool
    reason: str
    # --- turn-level codes only (``level="turn"`` records, :mod:`validation.turn_agreement`): ``r`` is
    # the agreement (kappa or ICC), ``r_ci`` its interval, ``baseline_r`` the length-only baseline's.
    statistic: str | None = None
    sessions: int | None = None
    baseline_ci: tuple[float, float] | None = None
    difference_ci: tuple[float, float] | None = None
    floor: float | None = None


#: What a validation record speaks for: ``session`` — the WAI-SR dimensions against client ratings
#: (``eval``; the alert gate); ``turn`` — turn-level feedback codes against human codes
#: (``eval-turns --record``; the feedback gate). The two are kept apart everywhere (:class:`RecordBook`).
Level = Literal["session", "turn"]
LEVELS: tuple[str, ...] = ("session", "turn")


class ValidationRecord(BaseModel):
    """One model identity's validation on one label set (written by ``eval``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelIdentity
    created_at: datetime
    #: ``session`` (dimensions goal/approach/bond) or ``turn`` (dimensions are turn codes)
    level: Level = "session"
    labels_n: int = Field(ge=0)
    labels_source: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    dimensions: dict[str, DimensionVerdict]
    calibration: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """``name@revision:prompt_version/readout`` (the form ``ModelKey.parse`` reads)."""
        return model_key(self.model)

    def passes(self, dimension: str) -> bool:
        verdict = self.dimensions.get(dimension)
        return verdict is not None and verdict.passed

    def passed_dimensions(self) -> list[str]:
        return [d for d, v in self.dimensions.items() if v.passed]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> "ValidationRecord":
        return cls.model_validate_json(text)

    def status_row(self) -> dict[str, Any]:
        """One line of ``alliance-monitor models status``: identity, date, size, pass/fail."""
        row: dict[str, Any] = {"model": self.key, "date": self.created_at.date().isoformat(),
                               "labels": self.labels_n}
        if self.level == "turn":
            row["level"] = "turn"
            row["codes"] = f"{len(self.passed_dimensions())}/{len(self.dimensions)} pass"
            return row
        for dim, v in self.dimensions.items():
            row[dim] = "pass" if v.passed else "fail"
        return row


def model_key(model: ModelIdentity) -> str:
    return f"{model.name}@{model.revision}:{model.prompt_version}/{model.readout}"


class RecordBook:
    """The newest record per model identity *and level* — what the processor, gateway and scorer consult.

    The two levels never replace each other: :meth:`for_model` is the newest
    session-level record (the alert gate), :meth:`for_turns` the newest
    turn-level record (the feedback gate), whatever was written last.
    """

    def __init__(self, records: Iterable[ValidationRecord] = ()) -> None:
        self._by_key: dict[tuple[str, str], ValidationRecord] = {}
        for r in records:
            self.add(r)

    def add(self, record: ValidationRecord) -> None:
        slot = (record.key, record.level)
        current = self._by_key.get(slot)
        if current is None or record.created_at >= current.created_at:
            self._by_key[slot] = record

    def for_model(self, model: ModelIdentity) -> ValidationRecord | None:
        """The newest session-level record of exactly this identity (the alert gate's)."""
        return self._by_key.get((model_key(model), "session"))

    def for_turns(self, model: ModelIdentity) -> ValidationRecord | None:
        """The newest turn-level record of exactly this identity (the feedback gate's)."""
        return self._by_key.get((model_key(model), "turn"))

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[ValidationRecord]:
        return iter(sorted(self._by_key.values(), key=lambda r: (r.key, LEVELS.index(r.level))))
