"""The `fleetdeck` command as a user runs it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fleetdeck.store import migrate

FLEETDECK = [sys.executable, "-m", "fleetdeck"]


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLEETDECK, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_help_lists_the_commands() -> None:
    out = run("--help").stdout
    for command in ("server", "db", "user"):
        assert command in out


def test_server_help_documents_every_flag() -> None:
    out = run("server", "--help").stdout
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--database-url",
        "--refresh-interval",
        "--config",
    ):
        assert flag in out


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    done = run("db", "upgrade", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    url = f"sqlite+aiosqlite:///{tmp_path / 'fleetdeck.db'}"
    assert migrate.current_revision(url) == migrate.head_revision()


def test_user_create_then_refuses_a_duplicate(tmp_path: Path) -> None:
    args = (
        "user",
        "create",
        "dora",
        "--role",
        "operator",
        "--password-stdin",
        "--data-dir",
        str(tmp_path),
    )
    first = run(*args, stdin="dora-secret-pass\n")
    assert first.returncode == 0, first.stderr
    second = run(*args, stdin="dora-secret-pass\n")
    assert second.returncode == 1 and "already exists" in second.stderr


@pytest.mark.parametrize(
    ("password", "role", "message"),
    [("short", "viewer", "at least 8"), ("long-enough-pass", "wizard", "unknown roles")],
)
def test_user_create_refuses_bad_input(
    tmp_path: Path, password: str, role: str, message: str
) -> None:
    done = run(
        "user",
        "create",
        "eve",
        "--role",
        role,
        "--password-stdin",
        "--data-dir",
        str(tmp_path),
        stdin=password,
    )
    assert done.returncode == 1 and message in done.stderr


def test_invalid_configuration_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "fleetdeck.toml").write_text("port = 'eighty'\n")
    done = run("db", "upgrade", cwd=tmp_path)
    assert done.returncode == 2 and "invalid configuration" in done.stderr and "port" in done.stderr


def test_the_server_starts_without_the_cli_framework_and_refuses_bad_configuration(
    tmp_path: Path,
) -> None:
    """`fleetdeck server` parses its own options (typer and rich would stay resident: ~5 MB)
    and refuses what the typer command refuses, before serving anything."""
    missing = tmp_path / "missing.toml"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *FLEETDECK[1:], "server", "--config", str(missing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid configuration" in done.stderr
    assert str(missing) in done.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert "fleetdeck" in imported and not imported & {"typer", "rich", "click"}
    (tmp_path / "fleetdeck.toml").write_text("port = 'eighty'\n")
    done = run("server", cwd=tmp_path)
    assert done.returncode == 2 and "invalid configuration" in done.stderr and "port" in done.stderr
    done = run("server", "--port", "eighty")
    assert done.returncode == 2 and "--port" in done.stderr


def test_a_database_from_a_newer_release_is_one_clear_line(tmp_path: Path) -> None:
    """A downgrade without restoring the backup: the server, `db upgrade` and the user
    commands refuse the database with what to do, not a traceback, and change nothing."""
    assert run("db", "upgrade", "--data-dir", str(tmp_path)).returncode == 0
    conn = sqlite3.connect(tmp_path / "fleetdeck.db")
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    conn.close()
    for args in (
        ("server", "--port", "1"),  # refused before it would listen
        ("db", "upgrade"),
        ("user", "unlock", "someone"),
    ):
        done = run(*args, "--data-dir", str(tmp_path))
        assert done.returncode == 1, (args, done.stderr)
        assert "schema 0999, written by a newer fleetdeck" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and "╭" not in done.stderr, (args, done.stderr)
    conn = sqlite3.connect(tmp_path / "fleetdeck.db")
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0999",)
    conn.close()


def test_token_create_list_and_revoke_from_the_server_host(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from fleetdeck.app import create_app
    from tests.conftest import make_settings

    data = tmp_path / "data"
    where = ("--data-dir", str(data))
    made = run(
        "user",
        "create",
        "ops",
        "--role",
        "admin",
        "--password-stdin",
        *where,
        stdin="pw-ops-12345\n",
    )
    assert made.returncode == 0, made.stderr
    done = run(
        "token",
        "create",
        "scraper",
        "--user",
        "ops",
        "--scope",
        "metrics:read",
        "--expires",
        "30d",
        *where,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()  # the token alone, for TOKEN=$(...)
    assert token.startswith("fdt_") and "\n" not in token
    listed = run("token", "list", *where)
    (line,) = listed.stdout.splitlines()
    token_id, owner, name, prefix, scopes, expires, _ = line.split("\t")
    assert (owner, name, scopes) == ("ops", "scraper", "metrics:read")
    assert token.startswith(prefix.rstrip("…")) and token not in listed.stdout
    assert expires.endswith("Z")

    for args, message in (
        (("--user", "nobody", "--scope", "*"), "no user nobody"),
        (("--user", "ops", "--scope", "metrics:reed"), "unknown scopes: metrics:reed"),
        (("--user", "ops", "--scope", "*", "--expires", "soon"), "not a duration"),
    ):
        refused = run("token", "create", "x", *args, *where)
        assert refused.returncode != 0 and message in refused.stderr, (args, refused.stderr)

    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert client.get("/api/v1/history?range=5m", headers=headers).status_code == 200
        user = {"username": "eve", "password": "pw-eve-123456", "roles": ["admin"]}
        assert client.post("/api/v1/users", json=user, headers=headers).status_code == 403
        revoked = run("token", "revoke", token_id, *where)
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/api/v1/history?range=5m", headers=headers).status_code == 401
    assert run("token", "revoke", token_id, *where).returncode == 1


def test_commands_do_not_migrate_the_database_under_a_running_server(tmp_path: Path) -> None:
    """After `pip install` of a new release, a command run before the server's restart must
    not change the schema under the old server; once it is stopped, the command migrates."""
    from fleetdeck.datadir import DataDirLock

    url = f"sqlite+aiosqlite:///{tmp_path / 'fleetdeck.db'}"
    migrate.upgrade(url, "0007")
    with DataDirLock(tmp_path, "fleetdeck server"):
        for args in (("user", "unlock", "someone"), ("db", "upgrade")):
            done = run(*args, "--data-dir", str(tmp_path))
            assert done.returncode == 1, done.stderr
            assert "restart that server with this release" in done.stderr, done.stderr
        assert migrate.current_revision(url) == "0007"
    done = run("user", "unlock", "someone", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert migrate.current_revision(url) == migrate.head_revision()
