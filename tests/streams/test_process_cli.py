"""``alliance-monitor process``: argument errors are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from alliance_monitor.cli import main


@pytest.mark.parametrize("argv, needle", [
    (["process", "--clock-rate", "0"], "must be greater than 0"),
    (["process", "--clock-rate", "fast"], "expected a number"),
    (["process", "--lateness", "-1"], "must not be negative"),
    (["process", "--transcript", "all"], "invalid choice"),
])
def test_bad_arguments(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_bad_alert_settings_file(tmp_path, capsys):
    assert main(["process", "--alert-settings", str(tmp_path / "missing.json")]) != 0
    err = capsys.readouterr().err.strip()
    assert "no such file" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"default": {"low_fire": 3.5}}')  # breaks the hysteresis order
    assert main(["process", "--alert-settings", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert "hysteresis" in err and len(err.splitlines()) == 1
