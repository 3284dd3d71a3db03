"""`fleetdeck server` without the CLI framework.

typer and rich stay resident once imported: about 4 MB of a running server's memory (measured
with the server started both ways), which is what its collector is judged on
(bench/collector_overhead). `fleetdeck.__main__` hands `server` straight to `main` here, which
parses the same options as the typer command (whose --help stays the reference).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetdeck.config import Settings


def run(settings: Settings) -> None:
    """Serve the API, the live stream and the local host's collector until stopped."""
    import uvicorn

    from fleetdeck.app import create_app
    from fleetdeck.datadir import DataDirBusy, DataDirLock
    from fleetdeck.memory import return_large_blocks_to_the_os
    from fleetdeck.store import migrate

    lock = DataDirLock(settings.data_dir, "fleetdeck server")
    try:
        lock.acquire()  # held until this process ends
    except DataDirBusy as exc:
        hint = "stop it first, or give this server its own --data-dir"
        print(f"fleetdeck: {exc}: {hint}", file=sys.stderr)  # noqa: T201
        raise SystemExit(1) from None
    return_large_blocks_to_the_os()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:  # before the app: a database this release cannot use is one line, not a traceback
        migrate.ensure_current(settings.effective_database_url)
    except migrate.MigrationError as exc:
        print(f"fleetdeck: {exc}", file=sys.stderr)  # noqa: T201
        raise SystemExit(1) from None
    ssl_options: dict[str, str] = {}
    if settings.tls == "auto":
        from fleetdeck import tls as tls_auto

        names = tls_auto.default_names(settings.host)
        names += [n.strip() for n in settings.tls_names.split(",") if n.strip()]
        made = tls_auto.ensure(settings.data_dir, list(dict.fromkeys(names)))
        ssl_options = {"ssl_certfile": str(made.cert), "ssl_keyfile": str(made.key)}
        logging.getLogger("fleetdeck.tls").warning(
            "HTTPS with the private CA %s; agents pin it with --ca-fingerprint %s",
            made.ca, made.fingerprint,
        )  # fmt: skip
    app = create_app(settings)
    app.state.database_current = True  # migrated above, with its one-line refusal
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
        # Open SSE streams never finish on their own; without a limit a stop would wait forever.
        timeout_graceful_shutdown=3,
        # Agents' reports are small JSON on a LAN: compressing every frame (and every ack) cost
        # the server more CPU than anything else on the agent link (bench/fleet).
        ws_per_message_deflate=False,
        **ssl_options,  # type: ignore[arg-type]
    )


def main(argv: list[str]) -> int:
    from fleetdeck.config import INVALID, describe_invalid, load_settings

    parser = argparse.ArgumentParser(prog="fleetdeck server")
    parser.add_argument("--config", "-c", type=Path, default=os.environ.get("FLEETDECK_CONFIG"))
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--database-url")
    parser.add_argument("--refresh-interval", type=float)
    parser.add_argument("--log-level")
    parser.add_argument("--tls")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            args.config, host=args.host, port=args.port, data_dir=args.data_dir,
            database_url=args.database_url, refresh_interval=args.refresh_interval,
            log_level=args.log_level, tls=args.tls,
        )  # fmt: skip
    except INVALID as exc:
        print(f"fleetdeck: invalid configuration: {describe_invalid(exc)}", file=sys.stderr)  # noqa: T201
        return 2
    run(settings)
    return 0
