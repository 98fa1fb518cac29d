"""Run ``alliance-monitor process`` as a real subprocess for integration tests and the benchmark."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

READY = "processor ready"


class WorkerProcess:
    """A processor worker subprocess whose stderr is collected (it never contains message text)."""

    def __init__(self, bootstrap: str, app_id: str, *args: str):
        exe = Path(sys.executable).parent / "alliance-monitor"
        self.cmd = [str(exe), "process", "--app-id", app_id, *args]
        self.env = dict(os.environ, KAFKA_BOOTSTRAP=bootstrap, PYTHONUNBUFFERED="1")
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 90.0) -> "WorkerProcess":
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for(READY, timeout)
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc and self.proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.05)
        raise TimeoutError(f"worker did not print {text!r} within {timeout}s:\n" + "\n".join(self.lines[-30:]))

    def partitions(self) -> list[int] | None:
        """The chat.turns partitions this worker holds after its last rebalance (None: not assigned yet)."""
        return self._assignment_list("partitions")

    def standbys(self) -> list[int] | None:
        """The partitions of the other workers whose tables this one keeps warm (None: not assigned yet)."""
        return self._assignment_list("standby for partitions")

    def _assignment_list(self, label: str) -> list[int] | None:
        """The list after ``label`` in the last ``processor assignment: …`` line."""
        lines = [line for line in self.lines if "processor assignment:" in line]
        if not lines or label not in lines[-1]:
            return None
        held = lines[-1].split(label, 1)[1].split("]", 1)[0]
        return [int(p) for p in re.findall(r"\d+", held)]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._reader:
            self._reader.join(5)
        return self.proc.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
