"""Real servers for tests, started from installed binaries on free loopback ports."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"{name} not found: install the Debian package 'postgresql' (make test does)")
    return found[-1]


@dataclass
class PostgresServer:
    port: int
    socket_dir: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _quiet(cmd: list[str]) -> None:
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[-1]} failed: {done.stderr.strip()}")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster: initdb and pg_ctl as the `postgres` user (they refuse
    root), in a 0700 directory that user owns, fsync off for speed."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        owner = pwd.getpwnam("postgres")
    base = tempfile.mkdtemp(prefix="fleetdeck-pg-")
    if as_postgres:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    os.chmod(base, 0o700)
    data = os.path.join(base, "data")
    port = free_port()
    _quiet([*as_postgres, initdb, "-D", data, "--auth=trust", "--no-sync", "-U", "postgres"])
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = os.path.join(base, "log")
    _quiet([*as_postgres, pg_ctl, "-D", data, "-w", "-l", log, "-o", options, "start"])
    try:
        yield PostgresServer(port=port, socket_dir=base)
    finally:
        _quiet([*as_postgres, pg_ctl, "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
