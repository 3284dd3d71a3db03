"""The `fleetdeck` command."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from fleetdeck import __version__

if TYPE_CHECKING:  # the agent's commands must not pay for the server's imports
    from fleetdeck.auth.service import Principal
    from fleetdeck.config import Settings
    from fleetdeck.store.engine import Database

app = typer.Typer(
    help="fleetdeck: watch a fleet of Linux hosts and act on it.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users from the server host.", no_args_is_help=True)
audit_app = typer.Typer(help="The signed audit log.", no_args_is_help=True)
agent_app = typer.Typer(help="The agent that runs on each monitored host.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(agent_app, name="agent")
token_app = typer.Typer(
    help="API tokens, made on the server host (for scripts and provisioning).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")
backup_app = typer.Typer(
    help="Back up the server's state to one archive, check one, restore one.", no_args_is_help=True
)
app.add_typer(backup_app, name="backup")
bench_app = typer.Typer(help="Load tests and demos.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

T = TypeVar("T")
err = Console(stderr=True, soft_wrap=True)  # messages whole, on one line each, for logs and grep

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
    from fleetdeck.config import INVALID, describe_invalid, load_settings

    try:
        return load_settings(config, **flags)
    except INVALID as exc:
        err.print(f"[red]fleetdeck: invalid configuration:[/red] {describe_invalid(exc)}")
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
    tls: Annotated[
        str | None,
        typer.Option(help="off, or auto: HTTPS with a private CA made in the data dir."),
    ] = None,
) -> None:
    """Run the fleetdeck server: API, live stream and the local host's collector."""
    from fleetdeck.serve import run

    settings = _settings(
        config, host=host, port=port, data_dir=data_dir, database_url=database_url,
        refresh_interval=refresh_interval, log_level=log_level, tls=tls,
    )  # fmt: skip
    run(settings)


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DatabaseOpt = None
) -> None:
    """Apply all database migrations (the server also does this at start)."""
    from fleetdeck.store import migrate

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _migrate(settings)
    revision = migrate.current_revision(settings.effective_database_url)
    err.print(f"database at revision {revision}")


def _migrate(settings: Settings) -> None:
    """Bring the database to this release's schema, unless a server runs on the data dir: its
    release may not know the new schema (it migrates at its own start with this release)."""
    from fleetdeck.datadir import DataDirBusy, DataDirLock
    from fleetdeck.store import migrate

    url = settings.effective_database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    revision = migrate.current_revision(url)
    if revision == migrate.HEAD:
        return
    try:
        with DataDirLock(settings.data_dir, "fleetdeck (migrating the database)"):
            migrate.upgrade(url)
    except DataDirBusy as exc:
        err.print(
            f"[red]fleetdeck: the database is at schema {revision}, this release's is "
            f"{migrate.HEAD}, and {exc}: restart that server with this release (it migrates "
            f"at start), then run this again[/red]"
        )
        raise typer.Exit(1) from exc


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

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    roles = tuple(role or ["viewer"])
    _on_database(settings, lambda db: service.create_user(db, username, password, roles))
    err.print(f"created user {username} with roles {', '.join(roles)}")


@user_app.command("reset-password")
def user_reset_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of a prompt.")
    ] = False,
    unlock: Annotated[
        bool, typer.Option(help="Also clear the account's lockout (default: on).")
    ] = True,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Recovery on the server host: set a temporary password (to be changed at next login),
    end the user's sessions and clear its lockout."""
    from fleetdeck.auth import accounts
    from fleetdeck.auth.lockout import user_key
    from fleetdeck.store import lockouts, users

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)

    async def work(db: Database) -> None:
        async with db.read() as conn:
            user = await users.get_by_username(conn, username)
        if user is None:
            err.print(f"[red]fleetdeck: no user {username}[/red]")
            raise typer.Exit(1)
        await accounts.reset_password(db, None, user.id, password, ip=None)
        if unlock:
            async with db.write() as conn:
                await lockouts.clear(conn, [user_key(username)])

    _on_database(settings, work)
    err.print(f"password of {username} reset; it must be changed at next login")


@user_app.command("unlock")
def user_unlock(
    identifier: Annotated[str, typer.Argument(help="A username or an IP address.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Clear the lockout of a username or a source IP address."""
    from fleetdeck.auth.lockout import ip_key, user_key
    from fleetdeck.store import lockouts

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    cleared = 0

    async def work(db: Database) -> None:
        nonlocal cleared
        async with db.write() as conn:
            cleared = await lockouts.clear(conn, [user_key(identifier), ip_key(identifier)])

    asyncio.run(_with_database(settings, work))
    err.print(f"cleared {cleared} lockout record(s) for {identifier}")


@agent_app.command("enroll")
def agent_enroll(
    server: Annotated[str, typer.Option(help="The fleetdeck server, e.g. http://10.0.0.5:8080.")],
    token: Annotated[str, typer.Option(help="An enrolment token from the server.")],
    state_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="FLEETDECK_AGENT_STATE_DIR",
            help="Where the agent keeps its key and state (default: /var/lib/fleetdeck-agent "
            "as root, ~/.local/state/fleetdeck-agent otherwise).",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: hostname).")] = None,
    ca_fingerprint: Annotated[
        str | None,
        typer.Option(
            help="The server's CA fingerprint (sha256:…, logged by `fleetdeck server --tls auto`)"
            "; the agent then trusts that CA only."
        ),
    ] = None,
) -> None:
    """Create this host's key (kept in the state dir, mode 0600) and ask the server to admit it.

    An administrator approves it (GET /api/v1/agents/pending) unless it was pre-registered.
    """
    from fleetdeck.agent import enroll as enrolment
    from fleetdeck.agent import identity

    directory = state_dir or identity.default_state_dir()
    try:
        state = enrolment.enroll(server, token, directory, name, ca_fingerprint)
    except enrolment.EnrolmentRefused as exc:
        err.print(f"[red]fleetdeck agent: {exc}[/red]")
        raise typer.Exit(1) from exc
    typer.echo(
        f"enrolled as {state['agent_id']} ({state['status']}), key {state['fingerprint']}, "
        f"state in {directory}"
    )
    if state["status"] == "pending":
        typer.echo("an administrator must approve it: GET /api/v1/agents/pending on the server")


@agent_app.command("run")
def agent_run(
    state_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="FLEETDECK_AGENT_STATE_DIR",
            help="The state dir given to `fleetdeck agent enroll`.",
        ),
    ] = None,
    allow_commands: Annotated[
        bool,
        typer.Option(help="Accept remote commands when the server's config enables them."),
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Report this host to the server until stopped, reconnecting when the link drops.

    Exits with status 2 when not enrolled, 3 when the server refuses this agent (revoked,
    rejected or removed).
    """
    from fleetdeck.agent.main import run

    raise typer.Exit(run(state_dir, allow_commands, log_level))


@bench_app.command("agents")
def bench_agents(
    server: Annotated[str, typer.Option(help="The fleetdeck server, e.g. http://127.0.0.1:8080.")],
    token: Annotated[str, typer.Option(help="An enrolment token with enough uses.")],
    count: Annotated[int, typer.Option(min=1, max=20000, help="Simulated agents.")] = 100,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between reports.")] = 5.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds to report for.")] = 60.0,
    admin_token: Annotated[
        str | None,
        typer.Option(
            envvar="FLEETDECK_TOKEN",
            help="An API token with agents:write, to approve the agents (or add a registration "
            "rule for bench-*).",
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(help="Where the simulated agents' keys are kept between runs.")
    ] = Path("fleetdeck-bench-agents"),
    prefix: Annotated[
        str, typer.Option(help="Hostnames are PREFIX-0000, PREFIX-0001, …")
    ] = "bench",
) -> None:
    """Run N simulated agents in this process: real enrolment, real WebSockets, real-sized
    reports. Prints progress, then one JSON line of figures (lag, acknowledged, dropped)."""
    import json

    from rich.live import Live

    from fleetdeck.agent import simulate

    with Live(console=err, transient=True) as live:

        def progress(stage: str, totals: simulate.Totals) -> None:
            live.update(
                f"{stage}: {totals.enrolled} enrolled, {totals.connected} connected, "
                f"{totals.sent} reports sent, {totals.acked} acknowledged"
            )

        try:
            figures = asyncio.run(
                simulate.run(
                    server.rstrip("/"),
                    token,
                    count,
                    interval,
                    duration,
                    state_dir,
                    admin_token=admin_token,
                    progress=progress,
                    prefix=prefix,
                )
            )
        except RuntimeError as exc:
            err.print(f"[red]fleetdeck bench: {exc}[/red]")
            raise typer.Exit(1) from exc
    typer.echo(json.dumps(figures))


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DatabaseOpt = None
) -> None:
    """Check every audit event's signature and its link to the one before it.

    Exits 0 when the whole chain holds, 1 when any event was edited, removed or inserted.
    Prints the newest signature: keep it elsewhere to detect later removal of the newest events.
    """
    from rich.progress import Progress

    from fleetdeck.store import audit

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    problems: list[tuple[int, str]] = []
    summary: dict[str, object] = {}

    async def work(db: Database) -> None:
        assert db.audit_key is not None
        async with db.read() as conn:
            total = await audit.count(conn)
            head: str | None = None
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("verifying audit events", total=total)
                async for verdict in audit.walk(conn, db.audit_key):
                    if not verdict.valid:
                        problems.append((verdict.id, verdict.problem or "invalid"))
                    progress.advance(task)
            head = (await audit.recent(conn, limit=1) or [{"signature": None}])[0]["signature"]
        summary.update(total=total, head=head)

    asyncio.run(_with_database(settings, work))
    for event_id, problem in problems[:50]:
        err.print(f"[red]event {event_id}: {problem}[/red]")
    if len(problems) > 50:
        err.print(f"[red]… and {len(problems) - 50} more[/red]")
    verdict = "FAILED" if problems else "ok"
    typer.echo(
        f"audit chain {verdict}: {summary['total']} events, {len(problems)} invalid; "
        f"newest signature {summary['head'] or '-'}"
    )
    if problems:
        raise typer.Exit(1)


@token_app.command("create")
def token_create(
    name: Annotated[
        str, typer.Argument(help="What the token is for (shown in lists and the audit log).")
    ],
    user: Annotated[str, typer.Option(help="The user the token acts as.", show_default=False)],
    scope: Annotated[
        list[str],
        typer.Option(
            help="A permission the token holds, repeatable (`metrics:read`, `agents:*`; `*`: "
            "all of the user's).",
            show_default=False,
        ),
    ],
    expires: Annotated[
        str | None,
        typer.Option(
            help="Lifetime: seconds, or a number with s, m, h or d (`90d`). Default: none."
        ),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token acting as USER, narrowed to the scopes, and print it once (only its
    hash is kept). The token alone goes to standard output, for
    `TOKEN=$(fleetdeck token create …)`; what it is goes to standard error."""
    from datetime import timedelta

    from fleetdeck.auth import api_token_admin
    from fleetdeck.clock import rfc3339, utcnow
    from fleetdeck.config import parse_duration

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    expires_at = None
    if expires is not None:
        try:
            seconds = parse_duration(expires.strip())
        except ValueError as exc:
            err.print(f"[red]fleetdeck: --expires: {exc}[/red]")
            raise typer.Exit(2) from exc
        assert isinstance(seconds, int)  # what it makes of text
        expires_at = utcnow() + timedelta(seconds=seconds)
    made: list[api_token_admin.NewToken] = []

    async def work(db: Database) -> None:
        principal = await _cli_principal(db, user)
        made.append(
            await api_token_admin.create(
                db, principal, name=name, scopes=scope, expires_at=expires_at, ip=None
            )
        )

    _on_database(settings, work)
    new = made[0]
    until = rfc3339(new.row.expires_at) or "no expiry"
    err.print(
        f"token {new.row.id} '{name}' for {user}, scopes {', '.join(new.row.scopes)}, {until}"
    )
    typer.echo(new.token)


@token_app.command("list")
def token_list(
    user: Annotated[
        str | None, typer.Option(help="Only this user's tokens (default: everyone's).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List API tokens: id, owner, name, first characters, scopes, expiry, last use (never
    the tokens themselves)."""
    from fleetdeck.clock import rfc3339
    from fleetdeck.store import api_tokens

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    rows: list[api_tokens.TokenRow] = []

    async def work(db: Database) -> None:
        user_id = None if user is None else (await _cli_principal(db, user)).user.id
        async with db.read() as conn:
            rows.extend(await api_tokens.list_for(conn, user_id))

    asyncio.run(_with_database(settings, work))
    for row in rows:
        typer.echo(
            "\t".join(
                (
                    row.id,
                    row.username,
                    row.name,
                    row.prefix + "…",
                    ",".join(row.scopes),
                    rfc3339(row.expires_at) or "-",
                    rfc3339(row.last_used_at) or "-",
                )
            )
        )
    if not rows:
        err.print("no API tokens")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (`fleetdeck token list`).")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke an API token: it is refused from the next request on."""
    from fleetdeck.auth import api_token_admin
    from fleetdeck.store import api_tokens

    settings = _settings(config, data_dir=data_dir, database_url=database_url)

    async def work(db: Database) -> None:
        async with db.read() as conn:
            row = await api_tokens.get(conn, token_id)
        if row is None:
            err.print(f"[red]fleetdeck: no token {token_id}[/red]")
            raise typer.Exit(1)
        owner = await _cli_principal(db, row.username, enabled=False)
        await api_token_admin.revoke(db, owner, token_id, ip=None)

    _on_database(settings, work)
    err.print(f"revoked token {token_id}")


async def _cli_principal(db: Database, username: str, *, enabled: bool = True) -> Principal:
    """The user a command acts as, as if logged in (the audit log then names them)."""
    from fleetdeck.auth.service import Principal
    from fleetdeck.store import users

    async with db.read() as conn:
        row = await users.get_by_username(conn, username)
    if row is None:
        err.print(f"[red]fleetdeck: no user {username}[/red]")
        raise typer.Exit(1)
    if enabled and row.disabled:
        err.print(f"[red]fleetdeck: user {username} is disabled[/red]")
        raise typer.Exit(1)
    return Principal(user=row, session_id=None, expires_at=None)


@backup_app.command("create")
def backup_create(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="The archive to write, or a directory to write it in (default: "
            "fleetdeck-backup-STAMP.tar.gz here; a name ending in .tar is not compressed).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Write the database (SQLite), the keys, the TLS CA and the metric WAL to one archive.

    Safe while the server runs: the database is copied in one consistent read. The archive
    holds the keys that sign the audit log and seal secrets: it is written mode 0600; keep it
    as safe as the server. On PostgreSQL, dump the database with pg_dump right after.
    """
    from rich import filesize

    from fleetdeck import backup

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    target = path or backup.default_name()
    if target.is_dir():  # `fleetdeck backup create /backups/`: a new archive in it
        target = target / backup.default_name()
    manifest = _backup_step(
        lambda progress: backup.create(
            settings.data_dir, settings.effective_database_url, target, progress
        )
    )
    _audit_quietly(settings, "backup.create", str(target.resolve()), manifest, restored=False)
    files = manifest["files"]
    typer.echo(
        f"wrote {target} ({filesize.decimal(target.stat().st_size)}): {len(files)} files, database "
        f"{manifest['database']} at schema {manifest['schema_revision'] or '-'}"
    )
    if manifest["database"] == "postgresql":
        err.print(
            "[yellow]the database is PostgreSQL: this archive holds the data dir's keys, CA "
            "and metric WAL only. Dump the database now (pg_dump -Fc), after this archive: "
            "a dump older than the archive can miss metric samples.[/yellow]"
        )


@backup_app.command("verify")
def backup_verify(
    path: Annotated[Path, typer.Argument(help="The archive to check.", show_default=False)],
) -> None:
    """Check an archive as a restore would (every file against its manifest's SHA-256, the
    database's integrity and schema) without restoring it. Exits 1 when it fails."""
    from fleetdeck import backup

    manifest = _backup_step(lambda progress: backup.verify(path, progress))
    typer.echo(
        f"{path} ok: made {manifest['created']} by fleetdeck {manifest['fleetdeck']}, "
        f"{len(manifest['files'])} files, database {manifest['database']} at schema "
        f"{manifest['schema_revision'] or '-'}"
    )


@backup_app.command("restore")
def backup_restore(
    path: Annotated[Path, typer.Argument(help="The archive to restore.", show_default=False)],
    force: Annotated[
        bool,
        typer.Option(
            help="Restore over a data dir that holds a server's state: it is moved to "
            "DATA_DIR/replaced-STAMP/ first, not deleted."
        ),
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Put a backup back into the data dir. The server must be stopped (this refuses while
    one runs on the data dir); nothing changes unless the whole archive checks out. The next
    start upgrades the database when the backup comes from an older release."""
    from fleetdeck import backup

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    restored = _backup_step(
        lambda progress: backup.restore(
            path, settings.data_dir, settings.effective_database_url, force=force, progress=progress
        )
    )
    manifest = restored.manifest
    if restored.database is not None:
        _audit_quietly(settings, "backup.restore", str(path.resolve()), manifest, restored=True)
    typer.echo(
        f"restored the backup made {manifest['created']} by fleetdeck {manifest['fleetdeck']} "
        f"into {settings.data_dir}"
    )
    if restored.moved_aside is not None:
        typer.echo(f"what the data dir held before is in {restored.moved_aside}")
    if restored.database is None:
        err.print(
            "[yellow]the database is PostgreSQL: restore its dump (pg_restore) before starting "
            "the server.[/yellow]"
        )


def _backup_step(work: Callable[[Callable[[str, int, int], None]], T]) -> T:
    """A backup command's work with a progress bar; a refusal is one red line, exit 1."""
    from fleetdeck.backup import BackupError

    try:
        with _progress_bar() as progress:
            return work(progress)
    except BackupError as exc:
        err.print(f"[red]fleetdeck backup: {exc}[/red]")
        raise typer.Exit(1) from exc


@contextlib.contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A bar per stage, in bytes, on stderr (left out when stderr is not a terminal)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, TimeRemainingColumn(), console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            task = tasks[stage]
            if total:
                bar.update(task, completed=done, total=total)
            else:
                bar.advance(task, done)

        yield update


def _audit_quietly(
    settings: Settings, action: str, archive: str, manifest: dict[str, Any], *, restored: bool
) -> None:
    """Record a backup or restore in the audit log; a failure is said, not fatal (the archive
    or the restore is there either way). A backup runs beside a server, perhaps of another
    release, whose database it must not migrate: it records only into one at this release's
    schema. A restored database is nobody's yet and is migrated as the server would."""
    from fleetdeck.store import audit, migrate

    revision = None if restored else migrate.current_revision(settings.effective_database_url)
    if not restored and revision != migrate.HEAD:
        err.print(f"[yellow]{action} not recorded in the audit log: its schema is {revision}, "
                  f"this fleetdeck's {migrate.HEAD}[/yellow]")  # fmt: skip
        return

    details = {
        "archive": archive,
        "created": manifest["created"],
        "fleetdeck": manifest["fleetdeck"],
    }

    async def work(db: Database) -> None:
        async with db.write() as conn:
            await audit.record(
                conn, action=action, success=True, actor="cli", resource="server", details=details
            )

    try:
        asyncio.run(_with_database(settings, work))
    except Exception as exc:  # reported: the archive or the restore is done either way
        err.print(f"[yellow]could not record {action} in the audit log: {exc}[/yellow]")


def _on_database(settings: Settings, work: Callable[[Database], Awaitable[object]]) -> None:
    """Run `work` on the configured database; a refusal (bad input, a conflict) is one red
    line and exit status 1."""
    from fleetdeck.errors import FleetdeckError

    try:
        asyncio.run(_with_database(settings, work))
    except FleetdeckError as exc:
        err.print(f"[red]fleetdeck: {exc.message}[/red]")
        raise typer.Exit(1) from exc


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[object]]) -> None:
    from fleetdeck.app import open_database
    from fleetdeck.auth import service

    await asyncio.to_thread(_migrate, settings)
    db = open_database(settings)
    try:
        await service.ensure_system_roles(db)
        await work(db)
    finally:
        await db.close()


def main() -> None:
    try:
        app()
    except Exception as exc:
        # From any command that opens the database. Looked up, not imported: the agent's
        # commands never load the server's modules.
        migrate = sys.modules.get("fleetdeck.store.migrate")
        if migrate is None or not isinstance(exc, migrate.MigrationError):
            raise
        err.print(f"[red]fleetdeck: {exc}[/red]")
        sys.exit(1)
