from __future__ import annotations

from fleetdeck.cli import main

main()
