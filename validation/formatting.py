"""What ``eval`` and ``models status`` print about validation records: the gate's table and verdicts."""

from __future__ import annotations

__layer__ = "core"

from typing import Any, Callable, Iterable, Sequence

from streams.contracts import DIMENSIONS

from .records import ValidationRecord
from .verdict import fmt_figure


def status_table(records: Iterable[ValidationRecord], dimensions: Sequence[str] = DIMENSIONS) -> str:
    """What ``alliance-monitor models status`` prints: one line per model identity."""
    rows = [r.status_row() for r in records]
    if not rows:
        return "no validation records: every model is unvalidated (alerts go to supervisors only)"
    width = max(len("model"), *(len(r["model"]) for r in rows))
    # The level column appears once a turn-level record is listed (a session-only listing stays as it was).
    levels = any(r.get("level") == "turn" for r in rows)
    lv: Callable[[dict[str, Any]], str] = (lambda r: f"{r.get('level', 'session'):<8}  ") if levels else (lambda r: "")
    head = (f"{'model':<{width}}  " + (f"{'level':<8}  " if levels else "") + f"{'date':<10}  {'labels':>6}  "
            + "  ".join(f"{d:<8}" for d in dimensions) + ("  turn codes" if levels else ""))
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<{width}}  {lv(r)}{r['date']:<10}  {r['labels']:>6}  "
                     + "  ".join(f"{r.get(d, '-'):<8}" for d in dimensions)
                     + (f"  {r.get('codes', '-')}" if levels else ""))
    return "\n".join(lines)


def _wrap_reason(dim: str, reason: str) -> str:
    """A failing reason lists one failed condition per line (the stored reason stays one string)."""
    head, _, rest = reason.partition(": ")
    if head != "fails" or "; " not in rest:
        return f"  {dim}: {reason}"
    tail = ""
    if rest.endswith(")") and " (raw r " in rest:
        rest, _, tail = rest.rpartition(" (raw r ")
        tail = f" (raw r {tail[:-1]})"
    parts = rest.split("; ")
    return "\n".join([f"  {dim}: fails{tail}:"] + [f"    - {p}" for p in parts])


def format_record(record: ValidationRecord) -> str:
    """The gate section of ``eval``'s output: every figure per dimension, then the verdicts."""
    first = next(iter(record.dimensions.values()), None)
    conf = f"{first.confidence:.0%}" if first else "95%"
    lines = [f"validation gate for {record.key}  (labels: {record.labels_n}"
             + (f" from {record.labels_source}" if record.labels_source else "")
             + f", {record.created_at.date().isoformat()})",
             (f"{'dimension':<10} {'n':>4} {'raw r':>6} {'partial r':>9} {conf + ' CI (partial)':>18} "
              f"{'length r':>8} {'counselor':>9}  verdict")]
    for dim, v in record.dimensions.items():
        ci = f"[{v.partial_ci[0]:6.3f}, {v.partial_ci[1]:6.3f}]" if v.partial_ci else "n/a"
        lines.append(f"{dim:<10} {v.n:>4} {fmt_figure(v.r):>6} {fmt_figure(v.partial_r):>9} {ci:>18} "
                     f"{fmt_figure(v.baseline_r):>8} {fmt_figure(v.counselor_r):>9}  {'PASS' if v.passed else 'fail'}")
    lines.append("")
    for dim, v in record.dimensions.items():
        lines.append(_wrap_reason(dim, v.reason))
    passed = record.passed_dimensions()
    lines.append("")
    lines.append(f"alerts for {', '.join(passed)} may reach counselors" if passed else
                 "no dimension passed: this model's alerts go to supervisors only, marked unvalidated")
    return "\n".join(lines)


def detector_rows_text(rows: Sequence[dict[str, Any]]) -> str:
    """The detector section of ``models status`` (rows of :func:`validation.detectors.record_rows`)."""
    width = max(len("detector"), *(len(r["detector"]) for r in rows))
    head = f"{'detector':<{width}}  {'kind':<7}  {'record':<10}  codes"
    lines = ["detectors (every counselor-facing notice rests on one; docs/validation.md#detectors)", head,
             "-" * len(head)]
    for r in rows:
        parts = [f"{label} {', '.join(r[key])}" for key, label in (("passed", "pass:"), ("failed", "fail:"),
                                                                   ("unjudged", "no record:")) if r[key]]
        lines.append(f"{r['detector']:<{width}}  {r['kind']:<7}  {r['date'] or '-':<10}  {'; '.join(parts)}")
    lines.append("pass = its notices may reach counselors for that code; fail or no record: supervisors only")
    return "\n".join(lines)
