"""The runtime loader of validation records: what the processor, gateway, scorer and ``up`` read.

Why the loader never raises: a gate that opened because its records could not
be read would be the worst failure of all. Any problem (no database, no
table, an unreadable row) yields an empty (or smaller) book and a one-line
warning — every model without a readable record stays unvalidated.
Kept apart from the statistics so a caller pays only for SQLAlchemy.
"""

from __future__ import annotations

__layer__ = "shell"

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Row

    from validation.records import RecordBook

log = logging.getLogger("alliance.validation")


def load_record_book(db_url: str | None = None) -> "RecordBook":
    """Every readable validation record in the store, as the gate's ``RecordBook``.

    Never raises: an unreachable database, a store without the table (not
    migrated, or migrated before revision 0002) or an unreadable row gives an
    empty (or smaller) book and one WARNING line — so the gate stays CLOSED for
    every model it cannot vouch for. Read it at start-up (and again on a timer
    if records may change while running).
    """
    from sqlalchemy import inspect, select

    from validation.records import RecordBook

    from .db import make_engine, safe_url
    from .models import ValidationRecordRow
    from .repository import _record_from_row
    from .settings import StoreSettings

    book = RecordBook()
    engine = None
    try:
        url = db_url or StoreSettings.from_env().db_url
        shown = safe_url(url)
        kw = {} if url.startswith("sqlite") else {"connect_args": {"connect_timeout": 5}}
        engine = make_engine(url, **kw)
        if "validation_records" not in inspect(engine).get_table_names():
            log.warning("validation gate: no validation_records table in %s (run `alliance-monitor db upgrade`); "
                        "every model is unvalidated", shown)
            return book
        with engine.connect() as conn:
            rows = conn.execute(select(ValidationRecordRow.__table__)).all()
    except Exception as err:  # noqa: BLE001 - fail closed, never crash the caller
        log.warning("validation gate: cannot read validation records (%s); every model is unvalidated",
                    type(err).__name__)
        return book
    finally:
        if engine is not None:
            engine.dispose()
    # Only the newest row per identity and level counts, chosen by its columns before parsing: if that row
    # is unreadable, an older (perhaps passing) record must not take its place. The level lives in the
    # record JSON; a row whose level cannot be read is taken as the newest of BOTH levels, closing both.
    newest: dict[tuple[Any, ...], Row[Any]] = {}
    for row in rows:
        ident = (row.model_name, row.model_revision, row.prompt_version, row.readout)
        for level in _row_levels(row):
            cur = newest.get((ident, level))
            if cur is None or (row.created_at, row.id) > (cur.created_at, cur.id):
                newest[(ident, level)] = row
    bad = 0
    for (ident, level), row in newest.items():
        try:
            record = _record_from_row(row)
            if (record.model.name, record.model.revision, record.model.prompt_version,
                    record.model.readout) != ident:
                raise ValueError("record JSON names another model identity than its row")
            if record.level != level:
                raise ValueError("record of another level than its row said")
            book.add(record)
        except Exception:  # noqa: BLE001 - a damaged row only closes the gate for its model (and level)
            bad += 1
    if bad:
        log.warning("validation gate: %d unreadable validation record(s) in %s ignored (those models stay "
                    "unvalidated)", bad, shown)
    return book


def _row_levels(row) -> tuple[str, ...]:
    """The level(s) a stored row may speak for: its record's level; both when that cannot be read
    (the row then closes both gates for its identity)."""
    from validation.records import LEVELS

    from .repository import _row_level

    level = _row_level(row)
    return (level,) if level is not None else LEVELS
