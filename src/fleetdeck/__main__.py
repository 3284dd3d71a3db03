"""The `fleetdeck` command's entry point.

`fleetdeck agent run` goes straight to the agent, without the CLI framework (typer, rich and
the pydantic they load cost every monitored host about 7 MB resident; bench/agent_overhead),
and `fleetdeck server` straight to the server (typer and rich: about 4 MB of its memory,
bench/collector_overhead); every other command, and their --help, go through fleetdeck.cli.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:3] == ["agent", "run"] and not {"--help", "-h"} & set(sys.argv):
        from fleetdeck.agent.main import main as agent_main

        sys.exit(agent_main(sys.argv[3:]))
    if sys.argv[1:2] == ["server"] and not {"--help", "-h"} & set(sys.argv):
        from fleetdeck.serve import main as server_main

        sys.exit(server_main(sys.argv[2:]))
    from fleetdeck.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
