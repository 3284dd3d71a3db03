"""Real agents for tests: `fleetdeck agent enroll` and `fleetdeck agent run` as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def enrol(server_url: str, token: str, state_dir: Path) -> str:
    """Enrol into `state_dir` with `token`; returns the agent id the server gave."""
    enrolled = subprocess.run(
        [sys.executable, "-m", "fleetdeck", "agent", "enroll", "--server", server_url,
         "--token", token, "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    return str(json.loads((state_dir / "agent.json").read_text())["agent_id"])


class Agent:
    """`fleetdeck agent run` on an enrolled state dir, its output in a log beside it."""

    def __init__(self, state_dir: Path, *args: str) -> None:
        self.log_path = state_dir.parent / f"{state_dir.name}.log"
        self.log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleetdeck", "agent", "run", "--state-dir", str(state_dir),
             *args],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()
