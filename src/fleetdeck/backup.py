"""Backups of a server's state: one archive to keep elsewhere, one command to put it back.

What a server needs to come back as it was:
- the database. On SQLite, a consistent copy made with `VACUUM INTO` in one read transaction,
  while the server runs (copying `fleetdeck.db` and its `-wal` beside a running server can
  catch them at different moments). PostgreSQL is dumped with its own tools.
- the data dir's keys: the audit chain's signing key and the key that seals TOTP seeds and
  OIDC client secrets. Without them the audit log fails verification and those secrets are
  lost.
- the private CA of `--tls auto`, which agents pin.
- the metric store's WAL segments: the samples not compacted into the database yet (up to a
  compaction interval). They are copied before the database: a compaction in between leaves
  segments the database copy already holds, which the restored server drops (the database
  records the last segment compacted); the other order would lose them.

An archive is a tar file (gzip when its name ends in `.gz` or `.tgz`) whose last member,
`manifest.json`, names the format, the fleetdeck version, when it was made, the database's kind
and schema revision and every other member's size and SHA-256. A restore unpacks into a
staging directory, checks all of that and the database's integrity, and only then touches the
data dir, under the data dir's lock (so never under a running server); what it replaces is
moved aside, not deleted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from fleetdeck import __version__
from fleetdeck.datadir import DATABASE_FILE, KEYS_DIR, TLS_DIR, TSDB_WAL_DIR, DataDirLock

FORMAT = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
# Members a restore accepts (besides the manifest): nothing else is ever written from one.
_MEMBER = re.compile(
    rf"^(?:{re.escape(DATABASE_FILE)}|(?:{KEYS_DIR}|{TLS_DIR})/\w[\w.-]*|{TSDB_WAL_DIR}/\d+\.wal)$"
)
# What a restore moves aside in the data dir (the SQLite files only when the database is there).
_STATE = (KEYS_DIR, TLS_DIR, TSDB_WAL_DIR)

# stage, bytes done, bytes in all (0 when not known)
Progress = Callable[[str, int, int], None]


class BackupError(Exception):
    """A backup or restore that cannot go on; nothing was changed."""


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    database: Path | None  # where the SQLite database now is; None on PostgreSQL
    moved_aside: Path | None  # where what the data dir held before went


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite database URL; None for any other database."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    return Path(url.database)


NAME_PREFIX = "fleetdeck-backup-"


def default_name(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return Path(f"{NAME_PREFIX}{stamp}.tar.gz")


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


# -- create -------------------------------------------------------------------------------


def create(
    data_dir: Path, database_url: str, target: Path, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Write an archive of the server's state to `target` (which must not exist); returns its
    manifest. Safe beside a running server."""
    if target.exists():
        raise BackupError(f"{target} exists already: choose another name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    database = sqlite_path(database_url)
    if database is not None and not database.is_file():
        raise BackupError(f"no database at {database}: is the data dir ({data_dir}) right?")
    staging = Path(tempfile.mkdtemp(prefix=".fleetdeck-backup-", dir=target.parent))
    try:
        # The WAL first: see the module's docstring.
        _copy_tree(data_dir / TSDB_WAL_DIR, staging / TSDB_WAL_DIR, progress)
        for name in (KEYS_DIR, TLS_DIR):
            _copy_tree(data_dir / name, staging / name, progress)
        if database is not None:
            _snapshot_sqlite(database, staging / DATABASE_FILE, progress)
            revision = _revision(staging / DATABASE_FILE)
            kind = "sqlite"
        else:
            from fleetdeck.store import migrate

            revision = migrate.current_revision(database_url)
            kind = "postgresql"
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "fleetdeck": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "database": kind,
            "schema_revision": revision,
            "files": {},
        }
        _write_archive(staging, target, manifest, progress)
        return manifest
    except OSError as exc:  # a full disk, a file the user may not read: said, not a traceback
        raise BackupError(f"could not write the backup: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_tree(source: Path, dest: Path, progress: Progress) -> None:
    """Copy the regular files of `source` (one level). A file that disappears meanwhile (a
    WAL segment deleted by a compaction) is skipped; one being appended to is copied as far as
    it was written (a torn last record is what a crash leaves, and replay stops before it)."""
    if not source.is_dir():
        return
    dest.mkdir(mode=0o700)
    for path in sorted(source.iterdir()):
        if not path.is_file() or not _MEMBER.match(f"{source.name}/{path.name}"):
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        (dest / path.name).write_bytes(data)
        progress(f"copying {source.name}", len(data), 0)


def _snapshot_sqlite(database: Path, dest: Path, progress: Progress) -> None:
    """`VACUUM INTO`: one read transaction, so a consistent copy whatever the server writes
    meanwhile (WAL mode lets it), and a compact one. The copy's growth is the progress."""
    conn = sqlite3.connect(database, timeout=60, isolation_level=None, check_same_thread=False)
    try:
        page_size, pages, free = (
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_size", "page_count", "freelist_count")
        )
        total = page_size * (pages - free)
        failure: list[BaseException] = []

        def vacuum() -> None:
            try:
                conn.execute("VACUUM INTO ?", (str(dest),))
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=vacuum, name="backup-vacuum")
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            size = dest.stat().st_size if dest.exists() else 0
            progress("copying the database", min(size, total), total)
        if failure:
            raise BackupError(f"could not copy the database: {failure[0]}") from failure[0]
        progress("copying the database", total, total)
    finally:
        conn.close()
    _check_sqlite(dest)


def _check_sqlite(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database is not a usable SQLite file: {exc}") from exc
    finally:
        conn.close()
    if verdict != ["ok"]:
        raise BackupError(f"the database fails SQLite's integrity check: {'; '.join(verdict[:5])}")


def _revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return row[0] if row else None


class _Hashing:
    """A file read through once: its SHA-256 and the progress on the way."""

    def __init__(self, file: IO[bytes], advance: Callable[[int], None]) -> None:
        self.file, self.advance = file, advance
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.sha256.update(data)
        self.advance(len(data))
        return data


def _staged_files(staging: Path) -> list[str]:
    names = [DATABASE_FILE] if (staging / DATABASE_FILE).exists() else []
    for directory in (KEYS_DIR, TLS_DIR, TSDB_WAL_DIR):
        if (staging / directory).is_dir():
            names += sorted(f"{directory}/{p.name}" for p in (staging / directory).iterdir())
    return names


def _write_archive(
    staging: Path, target: Path, manifest: dict[str, Any], progress: Progress
) -> None:
    names = _staged_files(staging)
    total = sum((staging / n).stat().st_size for n in names)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress("writing the archive", done, total)

    partial = target.with_name(target.name + ".partial")
    compressed = target.name.endswith((".gz", ".tgz"))
    # The archive holds the keys: readable by its owner only, from its first byte.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            # Level 1: the database's pages and WAL are mostly compressed blocks already, and
            # this runs on the monitored server.
            mode = "w:gz" if compressed else "w"
            options = {"compresslevel": 1} if compressed else {}
            with tarfile.open(fileobj=raw, mode=mode, format=tarfile.PAX_FORMAT, **options) as tar:  # type: ignore[call-overload]
                for name in names:
                    path = staging / name
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = path.stat().st_size, 0o600, int(time.time())
                    with path.open("rb") as file:
                        reader = _Hashing(file, advance)
                        tar.addfile(info, reader)
                    manifest["files"][name] = {
                        "size": info.size,
                        "sha256": reader.sha256.hexdigest(),
                    }
                body = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
                tar.addfile(info, io.BytesIO(body))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# -- restore ------------------------------------------------------------------------------


def read_manifest(
    archive: Path, staging: Path, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Unpack `archive` into `staging` and check it whole: the manifest, every member's size
    and digest, no member missing or unexpected. Raises BackupError with what is wrong."""
    raw = archive.open("rb")
    try:
        tar = tarfile.open(fileobj=raw, mode="r:*")
    except (OSError, tarfile.TarError) as exc:
        raw.close()
        raise BackupError(f"{archive} is not a fleetdeck backup: {exc}") from exc
    total = archive.stat().st_size
    digests: dict[str, tuple[int, str]] = {}
    body: bytes | None = None
    with raw, tar:
        try:
            for member in tar:
                if member.name == MANIFEST and member.isfile():
                    body = _read_member(tar, member)
                    continue
                if not member.isfile() or not _MEMBER.match(member.name):
                    raise BackupError(f"{archive} holds {member.name!r}, which no backup holds")
                digests[member.name] = _extract(tar, member, staging / member.name)
                progress("checking the archive", min(raw.tell(), total), total)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise BackupError(f"{archive} is damaged or incomplete: {exc}") from exc
        except OSError as exc:  # writing the staged copy: a full disk, say
            raise BackupError(f"could not unpack {archive}: {exc}") from exc
    if body is None:
        raise BackupError(f"{archive} has no {MANIFEST}: not a fleetdeck backup, or cut short")
    try:
        manifest = json.loads(body)
        files = manifest["files"]
        kind = manifest["database"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{archive}: its {MANIFEST} cannot be read") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{archive} is in backup format {manifest.get('format')!r}; this fleetdeck "
            f"({__version__}) reads format {FORMAT}"
        )
    if kind not in ("sqlite", "postgresql"):
        raise BackupError(f"{archive}: unknown database kind {kind!r}")
    for name, expected in files.items():
        found = digests.pop(name, None)
        if found is None:
            raise BackupError(f"{archive} lacks {name}, which its manifest lists")
        if found != (expected.get("size"), expected.get("sha256")):
            raise BackupError(f"{archive}: {name} does not match its manifest (damaged?)")
    if digests:
        raise BackupError(f"{archive} holds {sorted(digests)[0]}, which its manifest omits")
    if (kind == "sqlite") != (DATABASE_FILE in files):
        raise BackupError(f"{archive}: its manifest's database ({kind}) and its files disagree")
    return dict(manifest)


def verify(archive: Path, progress: Progress = _no_progress) -> dict[str, Any]:
    """Check an archive as a restore would, without restoring it: every member against the
    manifest, the database's integrity and schema. Unpacks into a temporary directory
    (`TMPDIR`). Returns the manifest; raises BackupError with what is wrong."""
    if not archive.is_file():
        raise BackupError(f"no file {archive}")
    with tempfile.TemporaryDirectory(prefix="fleetdeck-verify-") as tmp:
        manifest = read_manifest(archive, Path(tmp), progress)
        if manifest["database"] == "sqlite":
            progress("checking the database", 0, 0)
            _check_sqlite(Path(tmp) / DATABASE_FILE)
            _check_revision(manifest.get("schema_revision"))
    return manifest


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > 1 << 20:
        raise BackupError(f"{MANIFEST} is {member.size} bytes: not a fleetdeck manifest")
    file = tar.extractfile(member)
    assert file is not None
    return file.read()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> tuple[int, str]:
    file = tar.extractfile(member)
    assert file is not None
    dest.parent.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def restore(
    archive: Path,
    data_dir: Path,
    database_url: str,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> Restored:
    """Put the state an archive holds back into `data_dir` (and the SQLite database where the
    database URL says). Refuses while a server runs on the data dir, and, unless `force`,
    when the data dir holds a server's state already; with `force` that state is moved to
    `data_dir/replaced-STAMP/`. Nothing is changed unless the whole archive checks out."""
    if not archive.is_file():
        raise BackupError(f"no file {archive}")
    database = sqlite_path(database_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir), _staging(data_dir) as staging:
        manifest = read_manifest(archive, staging, progress)
        if manifest["database"] == "sqlite" and database is None:
            raise BackupError(
                "this backup holds an SQLite database but this server is configured for "
                "another database (FLEETDECK_DATABASE_URL): restore it without that setting"
            )
        if manifest["database"] == "postgresql" and database is not None:
            raise BackupError(
                "this backup was made of a server on PostgreSQL: restore it with that "
                "database's URL configured (FLEETDECK_DATABASE_URL or --database-url), and the "
                "database itself from its dump (pg_restore)"
            )
        if database is not None:
            progress("checking the database", 0, 0)
            _check_sqlite(staging / DATABASE_FILE)
            _check_revision(manifest.get("schema_revision"))
        present = _present(data_dir, database)
        if present and not force:
            listed = ", ".join(str(p) for p in present)
            raise BackupError(
                f"{data_dir} holds a server's state already ({listed}); --force moves it to "
                f"{data_dir}/replaced-…/ and restores the backup in its place"
            )
        aside = _move_aside(data_dir, present) if present else None
        try:
            _give_to_owner(staging, data_dir)
            for name in (KEYS_DIR, TLS_DIR, TSDB_WAL_DIR):
                if (staging / name).is_dir():
                    os.replace(staging / name, data_dir / name)
            if database is not None:
                database.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(staging / DATABASE_FILE, database)
        except OSError as exc:
            kept = f"; what the data dir held is in {aside}" if aside else ""
            raise BackupError(f"the restore stopped half way: {exc}{kept}") from exc
        return Restored(manifest, database, aside)


def _give_to_owner(staging: Path, data_dir: Path) -> None:
    """Run as root (`sudo fleetdeck backup restore`), the files would be root's, mode 0600,
    and a server running as its own user could not open them: they get the data dir's owner."""
    if os.geteuid() != 0:
        return
    owner = data_dir.stat()
    for path in [staging, *staging.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid)


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    from fleetdeck.datadir import DataDirBusy

    try:
        lock = DataDirLock(data_dir, "fleetdeck backup restore")
        lock.acquire()
    except DataDirBusy as exc:
        raise BackupError(f"{exc}: stop the server before restoring") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _staging(data_dir: Path) -> Iterator[Path]:
    """A directory in the data dir (the same file system: moving into place is a rename)."""
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_revision(revision: object) -> None:
    from fleetdeck.store import migrate

    if revision is None or migrate.knows_revision(str(revision)):
        return
    raise BackupError(
        f"this backup was made by a newer fleetdeck (database schema {revision}); this one "
        f"({__version__}) knows up to {migrate.HEAD}: upgrade fleetdeck, then restore"
    )


def _present(data_dir: Path, database: Path | None) -> list[Path]:
    paths = [data_dir / name for name in _STATE]
    if database is not None:
        paths += [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm")]
    return [p for p in paths if p.exists()]


def _move_aside(data_dir: Path, present: list[Path]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    aside = data_dir / f"replaced-{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = data_dir / f"replaced-{stamp}-{n}"
    aside.mkdir(mode=0o700)
    for path in present:
        shutil.move(path, aside / path.name)
    return aside
