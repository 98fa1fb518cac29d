"""Log records as one JSON object per line (``ALLIANCE_LOG_FORMAT=json``), for log collectors.

Why JSON: a collector (Loki, Elasticsearch, CloudWatch) can then filter by
part, level, logger and ids without parsing prose. What goes in is what the
code logs: ids, counts, lengths and timings — the project never logs message
text, and this formatter adds nothing from the record but its own fields.

Defence in depth: both formats also pass every record through :class:`RedactingFilter`,
which replaces names, phone numbers, e-mails, addresses and ID numbers (privacy/) in the
message, its arguments, ``extra`` strings and a traceback's text, in case a library or a
future change puts a piece of chat text into a log line (``ALLIANCE_LOG_REDACT=0`` turns
it off).
"""

from __future__ import annotations

__layer__ = "cli"

import io
import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

#: attributes every LogRecord has; anything else was passed with ``extra=`` and is kept
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Replace PII in a record before any handler formats it (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from privacy import redact  # imported on the first record, not by every command's start

        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: let logging report it as usual
            return True
        redacted = redact(message)
        if redacted.found:
            record.msg, record.args = redacted.text, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_") and isinstance(value, str):
                setattr(record, key, redact(value).text)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info)).text
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, part: str):
        super().__init__()
        self.part = part

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
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
            text = record.exc_text or self.formatException(record.exc_info)
            out["error"] = text.splitlines()[-1] if text else ""
        return json.dumps(out, ensure_ascii=False)


#: terminal control (Faust's spinner writes a cursor sequence on stop): never part of a record
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


class JsonLines(io.TextIOBase):
    """A text stream that writes each line as a JSON record (``logger`` names the stream).

    Why: with ALLIANCE_LOG_FORMAT=json a collector must never meet a plain line, and a part's own
    lines (ready, assignment, stopped, the one-line error) are print()s, not log records. A line that
    is a record already passes through; the CLI's ``alliance-monitor: ...`` error becomes level error.
    """

    def __init__(self, target: TextIO, part: str, name: str):
        super().__init__()
        self.target, self.part, self.name, self._buffer = target, part, name, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        text = _CONTROL.sub("", line).strip()
        if not text:
            return
        if text.startswith("{"):
            self.target.write(text + "\n")
        else:
            level = "error" if text.startswith("alliance-monitor: ") else "info"
            record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": level,
                      "part": self.part, "logger": self.name, "msg": text, "pid": os.getpid()}
            self.target.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.target.flush()

    def flush(self) -> None:
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._emit(line)
        self.target.flush()

    def fileno(self) -> int:
        return self.target.fileno()

    def isatty(self) -> bool:
        return False


#: libraries whose info lines are chatter to an operator (every connection, plugin set-up, each health
#: probe's handshake): warning and above unless the part runs at debug (--verbose / ALLIANCE_LOG=debug)
THIRD_PARTY_LOGGERS = ("kafka", "aiokafka", "faust", "mode", "alembic", "websockets", "urllib3", "httpx", "httpcore",
                       "sqlalchemy", "asyncio", "aiohttp", "vllm", "transformers", "torch", "filelock")


def configure_logging(level: int, fmt: str, part: str, *, redact_pii: bool = True, json_stdio: bool = False) -> None:
    """Root logging for one run of the console script: text for a terminal, JSON for a collector.

    ``json_stdio`` (a long-running part with the json format): its stdout and stderr lines become JSON
    records too (:class:`JsonLines`); a command whose output is for a person or a script keeps it plain.
    """
    if fmt == "json" and json_stdio and not isinstance(sys.stdout, JsonLines):
        sys.stdout = JsonLines(sys.stdout, part, "stdout")
        sys.stderr = JsonLines(sys.stderr, part, "stderr")
    handler = logging.StreamHandler()
    if redact_pii:  # on the handler, so records of every logger that reaches it are covered
        handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(part))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    os.environ.setdefault("ALLIANCE_LOG_FORMAT", fmt)  # children of `up` log the same way
