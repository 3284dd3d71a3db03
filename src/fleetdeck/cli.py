"""The `fleetdeck` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from fleetdeck import __version__
from fleetdeck.config import Settings, load_settings

if TYPE_CHECKING:
    from fleetdeck.store.engine import Database

app = typer.Typer(
    help="fleetdeck: watch a fleet of Linux hosts and act on it.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users from the server host.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")

err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="FLEETDECK_CONFIG",
        help="TOML config file (default: ./fleetdeck.toml when present).",
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: ./fleetdeck-data).")
]
DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in data dir).")
]


def _settings(config: Path | None, **flags: object) -> Settings:
    try:
        return load_settings(config, **flags)
    except (ValidationError, FileNotFoundError, ValueError, OSError) as exc:
        err.print(f"[red]fleetdeck: invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fleetdeck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """fleetdeck: watch a fleet of Linux hosts and act on it."""


@app.command()
def server(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: 8080).")] = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
    refresh_interval: Annotated[
        float | None, typer.Option(help="Seconds between snapshots, 1-3600 (default: 5).")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default: info).")
    ] = None,
) -> None:
    """Run the fleetdeck server: API, live stream and the local host's collector."""
    import uvicorn

    from fleetdeck.app import create_app
    from fleetdeck.memory import return_large_blocks_to_the_os

    return_large_blocks_to_the_os()
    settings = _settings(
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        refresh_interval=refresh_interval,
        log_level=log_level,
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
        # Open SSE streams never finish on their own; without a limit a stop would wait forever.
        timeout_graceful_shutdown=3,
    )


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DatabaseOpt = None
) -> None:
    """Apply all database migrations (the server also does this at start)."""
    from fleetdeck.store import migrate

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    revision = migrate.current_revision(settings.effective_database_url)
    err.print(f"database at revision {revision}")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[
        list[str] | None, typer.Option(help="Role id, repeatable (default: viewer).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of a prompt.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a user on this server's database (works before the first start too)."""
    from fleetdeck.auth import service
    from fleetdeck.errors import FleetdeckError

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    roles = tuple(role or ["viewer"])
    try:
        asyncio.run(
            _with_database(settings, lambda db: service.create_user(db, username, password, roles))
        )
    except FleetdeckError as exc:
        err.print(f"[red]fleetdeck: {exc.message}[/red]")
        raise typer.Exit(1) from exc
    err.print(f"created user {username} with roles {', '.join(roles)}")


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[object]]) -> None:
    from fleetdeck.auth import service
    from fleetdeck.store import migrate
    from fleetdeck.store.engine import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        await service.ensure_system_roles(db)
        await work(db)
    finally:
        await db.close()


def main() -> None:
    app()
