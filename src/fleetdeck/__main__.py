"""The `fleetdeck` command's entry point.

`fleetdeck agent run` goes straight to the agent, without the CLI framework (typer, rich and
the pydantic they load cost every monitored host about 7 MB resident; bench/agent_overhead);
every other command, and `agent run --help`, goes through fleetdeck.cli.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:3] == ["agent", "run"] and not {"--help", "-h"} & set(sys.argv):
        from fleetdeck.agent.main import main as agent_main

        sys.exit(agent_main(sys.argv[3:]))
    from fleetdeck.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
