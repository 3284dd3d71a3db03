"""`fleetdeck agent run` without the CLI framework.

The agent is a long-lived process on every host, so its resident memory matters more than
anything else it does: going through typer pulls in pydantic and rich (about 10 MB resident,
measured by bench/agent_overhead). `fleetdeck.__main__` hands `agent run` straight to `main`
here, which parses the same options as the typer command (whose --help stays the reference).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from fleetdeck.agent import identity, runner
from fleetdeck.memory import one_malloc_arena, return_large_blocks_to_the_os


def run(state_dir: Path | None, allow_commands: bool, log_level: str) -> int:
    """Run until stopped; the exit status: 0, 2 not enrolled, 3 refused by the server."""
    one_malloc_arena()
    return_large_blocks_to_the_os()
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    directory = state_dir or identity.default_state_dir()
    try:
        agent = runner.Runner(directory, allow_commands=allow_commands)
        asyncio.run(agent.run())
    except runner.NotEnrolled as exc:
        print(f"fleetdeck agent: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except runner.Refused as exc:
        print(f"fleetdeck agent: {exc}", file=sys.stderr)  # noqa: T201
        return runner.EXIT_REFUSED
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fleetdeck agent run")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--allow-commands", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    state_dir = args.state_dir or (
        Path(os.environ["FLEETDECK_AGENT_STATE_DIR"])
        if os.environ.get("FLEETDECK_AGENT_STATE_DIR")
        else None
    )
    return run(state_dir, args.allow_commands, args.log_level)
