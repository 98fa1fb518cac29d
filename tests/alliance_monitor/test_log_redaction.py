"""The log setup of every part redacts PII in log lines (defence in depth: no code should log text)."""

from __future__ import annotations

import json
import logging

import pytest

from alliance_monitor.logs import configure_logging

SAID = "my name is Sarah Miller, 415-555-0132, sarah.m@example.com, 我叫张伟，电话13812345678"
PII = ("Sarah Miller", "415-555-0132", "sarah.m@example.com", "张伟", "13812345678")


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def log_everything(log: logging.Logger) -> None:
    log.warning("turn rejected: %s", SAID)  # a value in the arguments
    log.warning(f"direct {SAID}")  # in the message itself
    log.warning("with extra", extra={"quote": SAID})
    try:
        raise ValueError(SAID)
    except ValueError:
        log.exception("failed")  # the traceback's last line quotes the value


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_pii_in_any_part_of_a_record_is_redacted(capsys, root_logging, fmt):
    configure_logging(logging.INFO, fmt, "test")
    log_everything(logging.getLogger("alliance.test"))
    err = capsys.readouterr().err
    assert not [p for p in PII if p in err], err
    assert err.count("[NAME]") >= 6 and err.count("[PHONE]") >= 6 and "[EMAIL]" in err
    if fmt == "json":
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert len(lines) == 4
        assert lines[2]["quote"].startswith("my name is [NAME]")
        assert lines[3]["error"].startswith("ValueError: my name is [NAME]")


def test_ordinary_log_lines_are_unchanged(capsys, root_logging):
    configure_logging(logging.INFO, "text", "test")
    logging.getLogger("alliance.test").warning("request s-1:early: upto turn %s, %d lines at 2026-03-02 09:00:00",
                                               17, 18)
    assert "request s-1:early: upto turn 17, 18 lines at 2026-03-02 09:00:00" in capsys.readouterr().err


def test_the_filter_can_be_turned_off(capsys, root_logging):
    configure_logging(logging.INFO, "text", "test", redact_pii=False)
    logging.getLogger("alliance.test").warning("turn rejected: %s", SAID)
    assert SAID in capsys.readouterr().err
