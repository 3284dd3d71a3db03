"""Apply Alembic migrations to a database given by URL (async or sync driver).

Alembic is imported by the functions that use it, not with this module: the server migrates in
a child process (`upgrade_in_child`), so Alembic's ~11 MB never stay in its memory.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fleetdeck.store.engine import sync_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0009"  # the newest revision; a test holds this to Alembic's own answer
log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    pass


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not an ini option, so a '%' in a password needs no escaping.
    cfg.attributes["url"] = sync_url(url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    current = current_revision(url)
    if current is not None and not knows_revision(current):
        raise MigrationError(
            f"the database is at schema {current}, written by a newer fleetdeck than this one "
            f"(which knows up to {HEAD}): run that release, or restore a backup made before it"
        )
    command.upgrade(alembic_config(url), revision)


def ensure_current(url: str) -> None:
    """Upgrade the database to HEAD unless it is there, in a child process when it is not:
    Alembic is needed once per release and would stay resident in the server."""
    if current_revision(url) != HEAD:
        upgrade_in_child(url)


def current_revision(url: str) -> str | None:
    """The revision the database records, read without Alembic; None when it has none."""
    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no such table yet (or no database): not migrated
        return None
    finally:
        engine.dispose()


def upgrade_in_child(url: str) -> None:
    """`upgrade(url)` in a child process of this Python. The URL goes through stdin (a
    password in it stays out of the process list); a failure raises with the child's error."""
    done = subprocess.run(
        [sys.executable, "-m", "fleetdeck.store.migrate"],
        input=url,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stderr.splitlines():
        log.info("migration: %s", line)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise MigrationError(f"database migration failed: {last[0]}")


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def knows_revision(revision: str) -> bool:
    """Whether `revision` is one of this release's migrations (a newer release's is not)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


if __name__ == "__main__":  # upgrade_in_child's child: the URL on stdin
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # its setup chatter
    try:
        upgrade(sys.stdin.read().strip())
    except MigrationError as exc:  # said in full, no traceback needed
        log.error("%s", exc)
        sys.exit(1)
    except Exception as exc:
        log.exception("migration failed")
        log.error("%s: %s", type(exc).__name__, str(exc).splitlines()[0])  # the last line
        sys.exit(1)
