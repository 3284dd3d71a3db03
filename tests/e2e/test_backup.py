"""`fleetdeck backup` as a user runs it: beside a real server, then restored into a new data dir
that a real server starts from."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from fleetdeck.datadir import DataDirLock
from fleetdeck.store import migrate
from tests.e2e.test_server_process import ServerProcess
from tests.servers import PostgresServer

pytestmark = pytest.mark.e2e

PASSWORD = "backup-admin-password"
ENV = {"FLEETDECK_ADMIN_PASSWORD": PASSWORD, "FLEETDECK_TSDB_COMPACTION_INTERVAL": "10"}


def fleetdeck(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetdeck", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _client(server: ServerProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        login = {"username": "admin", "password": PASSWORD}
        token = client.post("/api/v1/auth/login", json=login).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _raw_cpu_timestamps(client: httpx2.Client) -> list[str]:
    reply = client.get("/api/v1/history", params={"range": "1h", "resolution": "raw"})
    assert reply.status_code == 200, reply.text
    return [point["timestamp"] for point in reply.json()["data"] if "cpu" in point]


def test_a_backup_of_a_running_server_restores_history_users_and_the_audit_chain(
    tmp_path: Path,
) -> None:
    data, restored_dir = tmp_path / "data", tmp_path / "restored"
    archive = tmp_path / "nightly.tar.gz"
    server = ServerProcess(data, env=ENV)
    try:
        with _client(server) as client:
            made = client.post(
                "/api/v1/users",
                json={"username": "dora", "password": "dora-password-1", "roles": ["viewer"]},
            )
            assert made.status_code == 201, made.text
            # Until the store holds samples compacted into the database and samples only in
            # its WAL: more CPU samples than a compaction interval (10 s) holds.
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                stats = client.get("/api/v1/metrics-store/stats").json()
                before = _raw_cpu_timestamps(client)
                if stats["uncompacted_samples"] and len(before) >= 14:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"no compaction seen: {stats}")
            time.sleep(1.5)  # past the WAL's flush interval: everything in `before` is on disk
            done = fleetdeck("backup", "create", str(archive), "--data-dir", str(data))
            assert done.returncode == 0, done.stderr
            assert f"wrote {archive}" in done.stdout
            assert archive.stat().st_mode & 0o777 == 0o600  # it holds the keys
            created = client.get("/api/v1/audit", params={"action": "backup.create"}).json()
            assert created["total"] == 1
            # Not while the server runs: it would swap the database under it.
            refused = fleetdeck("backup", "restore", str(archive), "--data-dir", str(data))
            assert refused.returncode == 1
            assert "stop the server" in refused.stderr
    finally:
        server.stop()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(n.startswith("tsdb-wal/") for n in names), names
    assert {"fleetdeck.db", "keys/audit.key", "keys/secret.key", "manifest.json"} <= set(names)

    checked = fleetdeck("backup", "verify", str(archive))
    assert checked.returncode == 0, checked.stderr
    done = fleetdeck("backup", "restore", str(archive), "--data-dir", str(restored_dir))
    assert done.returncode == 0, done.stderr
    server = ServerProcess(restored_dir)
    try:
        with _client(server) as client:  # the admin's password came back with the database
            after = _raw_cpu_timestamps(client)
            missing = sorted(set(before) - set(after))
            assert not missing, f"{len(missing)} of {len(before)} samples lost: {missing[:5]}"
            users = client.get("/api/v1/users").json()
            assert "dora" in json.dumps(users)
            events = client.get("/api/v1/audit", params={"action": "backup.restore"}).json()
            assert events["total"] == 1
            assert events["events"][0]["details"]["archive"] == str(archive)
    finally:
        server.stop()
    # The keys came back too: the restored chain verifies with them.
    chain = fleetdeck("audit", "verify", "--data-dir", str(restored_dir))
    assert chain.returncode == 0, chain.stdout + chain.stderr


def _state(data: Path, user: str = "dora") -> None:
    """A data dir as a server leaves it, made without one: a database, keys, a user."""
    args = ("user", "create", user, "--password-stdin", "--data-dir", str(data))
    done = fleetdeck(*args, stdin=f"pw-{user}-1234\n")
    assert done.returncode == 0, done.stderr


def _rewrite(archive: Path, target: Path, change: dict[str, bytes | None]) -> None:
    """`archive` copied to `target` with members replaced (bytes), dropped (None) or added."""
    with tarfile.open(archive) as src, tarfile.open(target, "w") as out:
        for member in src:
            if member.name in change:
                continue
            out.addfile(member, src.extractfile(member))
        for name, body in change.items():
            if body is not None:
                info = tarfile.TarInfo(name)
                info.size = len(body)
                out.addfile(info, io.BytesIO(body))


def _usernames(database: Path) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return sorted(row[0] for row in conn.execute("SELECT username FROM users"))
    finally:
        conn.close()


def test_restore_checks_the_whole_archive_before_it_touches_anything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _state(data)
    archive = tmp_path / "b.tar"
    done = fleetdeck("backup", "create", str(archive), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    again = fleetdeck("backup", "create", str(archive), "--data-dir", str(data))
    assert again.returncode == 1 and "exists already" in again.stderr
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    into = fleetdeck("backup", "create", str(shelf), "--data-dir", str(data))
    assert into.returncode == 0, into.stderr
    assert [p.name.startswith("fleetdeck-backup-") for p in shelf.iterdir()] == [True]
    with tarfile.open(archive) as tar:
        database = tar.extractfile("fleetdeck.db").read()  # type: ignore[union-attr]

    flipped = bytearray(database)
    flipped[len(flipped) // 2] ^= 0xFF
    cases = {
        "damaged": ({"fleetdeck.db": bytes(flipped)}, "does not match its manifest"),
        "cut": ({"manifest.json": None}, "has no manifest.json"),
        "escaping": ({"../escaped": b"x"}, "which no backup holds"),
        "smuggled": ({"keys/extra.key": b"x" * 32}, "which its manifest omits"),
    }
    for label, (change, message) in cases.items():
        bad, target = tmp_path / f"{label}.tar", tmp_path / f"into-{label}"
        _rewrite(archive, bad, change)
        assert fleetdeck("backup", "verify", str(bad)).returncode == 1
        refused = fleetdeck("backup", "restore", str(bad), "--data-dir", str(target))
        assert refused.returncode == 1, label
        assert message in refused.stderr.replace("\n", " "), (label, refused.stderr)
        left = sorted(p.name for p in target.iterdir())
        assert left == ["server.lock"], (label, left)  # nothing restored, no staging left
    assert not (tmp_path / "escaped").exists()
    truncated = tmp_path / "truncated.tar"  # a copy cut short, as a full disk leaves one
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    cut = fleetdeck("backup", "verify", str(truncated))
    assert cut.returncode == 1 and "damaged or incomplete" in cut.stderr, cut.stderr
    assert fleetdeck("backup", "verify", str(tmp_path / "nothing.tar")).returncode == 1


def test_restore_over_a_server_s_state_needs_force_and_keeps_what_it_replaces(
    tmp_path: Path,
) -> None:
    data, other = tmp_path / "data", tmp_path / "other"
    _state(data)
    archive = tmp_path / "b.tar.gz"
    assert fleetdeck("backup", "create", str(archive), "--data-dir", str(data)).returncode == 0
    _state(other, "erin")
    original_key = (other / "keys" / "audit.key").read_bytes()

    refused = fleetdeck("backup", "restore", str(archive), "--data-dir", str(other))
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert "erin" in _usernames(other / "fleetdeck.db")

    with DataDirLock(other, "a test standing in for a server"):
        busy = fleetdeck("backup", "restore", str(archive), "--data-dir", str(other), "--force")
    assert busy.returncode == 1
    assert "a test standing in for a server" in busy.stderr.replace("\n", " ")

    forced = fleetdeck("backup", "restore", str(archive), "--data-dir", str(other), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "dora" in _usernames(other / "fleetdeck.db")
    assert "erin" not in _usernames(other / "fleetdeck.db")
    (aside,) = other.glob("replaced-*")
    assert "erin" in _usernames(aside / "fleetdeck.db")
    assert (aside / "keys" / "audit.key").read_bytes() == original_key
    assert (other / "keys" / "audit.key").read_bytes() == (data / "keys" / "audit.key").read_bytes()


def test_a_backup_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _state(data)
    conn = sqlite3.connect(data / "fleetdeck.db")
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    archive = tmp_path / "b.tar"
    assert fleetdeck("backup", "create", str(archive), "--data-dir", str(data)).returncode == 0
    refused = fleetdeck("backup", "restore", str(archive), "--data-dir", str(tmp_path / "new"))
    assert refused.returncode == 1
    assert "newer fleetdeck" in refused.stderr
    assert not (tmp_path / "new" / "fleetdeck.db").exists()


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, env=ENV)
    try:
        second = fleetdeck("server", "--data-dir", str(data), "--port", str(server.port + 1))
        assert second.returncode == 1
        assert f"in use by fleetdeck server (pid {server.proc.pid})" in second.stderr
    finally:
        server.stop()


@pytest.mark.postgres
def test_on_postgresql_the_archive_holds_the_data_dir_and_says_to_dump_the_database(
    tmp_path: Path, pg: PostgresServer
) -> None:
    url = pg.create_database("backup_files")
    data = tmp_path / "data"
    made = fleetdeck(
        "user", "create", "zed", "--password-stdin", "--data-dir", str(data),
        "--database-url", url, stdin="pw-zed-12345\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    archive = tmp_path / "files.tar"
    done = fleetdeck(
        "backup", "create", str(archive), "--data-dir", str(data), "--database-url", url
    )
    assert done.returncode == 0, done.stderr
    assert "pg_dump" in done.stderr
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["keys/audit.key", "manifest.json"]
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["database"] == "postgresql"
    assert manifest["schema_revision"] == migrate.HEAD

    on_sqlite = fleetdeck("backup", "restore", str(archive), "--data-dir", str(tmp_path / "s"))
    assert on_sqlite.returncode == 1
    assert "PostgreSQL" in on_sqlite.stderr
    restored = tmp_path / "restored"
    done = fleetdeck(
        "backup", "restore", str(archive), "--data-dir", str(restored), "--database-url", url
    )
    assert done.returncode == 0, done.stderr
    assert "pg_restore" in done.stderr
    assert (restored / "keys" / "audit.key").read_bytes() == (
        data / "keys" / "audit.key"
    ).read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root restores for another user")
def test_a_restore_as_root_leaves_the_files_to_the_data_dir_s_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _state(data)
    archive = tmp_path / "b.tar"
    assert fleetdeck("backup", "create", str(archive), "--data-dir", str(data)).returncode == 0
    target = tmp_path / "served"
    target.mkdir()
    os.chown(target, 65534, 65534)  # the server's own user, say
    done = fleetdeck("backup", "restore", str(archive), "--data-dir", str(target))
    assert done.returncode == 0, done.stderr
    restored = [target / "fleetdeck.db", target / "keys", *(target / "keys").iterdir()]
    assert {(p.stat().st_uid, p.stat().st_gid) for p in restored} == {(65534, 65534)}


def test_a_backup_never_migrates_the_database_it_copies(tmp_path: Path) -> None:
    """A newer fleetdeck's `backup create` beside an older server (an upgrade's first step)
    leaves the server's database at its schema; the archive says which."""
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'fleetdeck.db'}"
    migrate.upgrade(url, "0007")
    archive = tmp_path / "b.tar"
    done = fleetdeck("backup", "create", str(archive), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "not recorded in the audit log" in done.stderr
    assert migrate.current_revision(url) == "0007"
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["schema_revision"] == "0007"
