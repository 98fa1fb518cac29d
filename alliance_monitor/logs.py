"""Log records as one JSON object per line (``ALLIANCE_LOG_FORMAT=json``), for log collectors.

Why JSON: a collector (Loki, Elasticsearch, CloudWatch) can then filter by
part, level, logger and ids without parsing prose. What goes in is what the
code logs: ids, counts, lengths and timings — the project never logs message
text, and this formatter adds nothing from the record but its own fields.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

#: attributes every LogRecord has; anything else was passed with ``extra=`` and is kept
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, part: str):
        super().__init__()
        self.part = part

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "part": self.part,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (int, float, bool, str, type(None))) else str(value)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: int, fmt: str, part: str) -> None:
    """Root logging for one run of the console script: text for a terminal, JSON for a collector."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(part))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    os.environ.setdefault("ALLIANCE_LOG_FORMAT", fmt)  # children of `up` log the same way
