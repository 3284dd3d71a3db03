"""The server hands out its own code: a wheel of the running fleetdeck and an install script.

The wheel is built from the package as installed (whatever way it was installed, editable
included), once per version and content, and cached in the data dir; its requirements are the
installed distribution's own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import fleetdeck
from fleetdeck import __version__

TEMPLATE = Path(__file__).with_name("install.sh")


@dataclass(frozen=True)
class Wheel:
    path: Path
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.name


def _package_files() -> list[tuple[str, bytes]]:
    root = Path(fleetdeck.__file__).resolve().parent
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files.append(("fleetdeck/" + path.relative_to(root).as_posix(), path.read_bytes()))
    return files


def _metadata() -> str:
    lines = [
        "Metadata-Version: 2.1",
        "Name: fleetdeck",
        f"Version: {__version__}",
        "Summary: Self-hosted server that watches a fleet of Linux hosts and acts on it",
        "License: Apache-2.0",
        "Requires-Python: >=3.11",
    ]
    try:
        lines += [f"Requires-Dist: {r}" for r in metadata.requires("fleetdeck") or ()]
    except metadata.PackageNotFoundError:  # a source tree never installed: no requirements known
        pass
    return "\n".join(lines) + "\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build(cache_dir: Path) -> Wheel:
    """The wheel for the running code, built when the cache does not hold it yet."""
    files = _package_files()
    content = hashlib.sha256()
    for name, data in files:
        content.update(name.encode() + b"\0" + data)
    dist_info = f"fleetdeck-{__version__}.dist-info"
    files += [
        (f"{dist_info}/METADATA", _metadata().encode()),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: fleetdeck\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),  # fmt: skip
        (
            f"{dist_info}/entry_points.txt",
            b"[console_scripts]\nfleetdeck = fleetdeck.__main__:main\n",
        ),
    ]
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"fleetdeck-{__version__}-py3-none-any.whl"
    stamp = cache_dir / (path.name + ".content")
    if path.exists() and stamp.exists() and stamp.read_text() == content.hexdigest():
        return Wheel(path, hashlib.sha256(path.read_bytes()).hexdigest())
    buffer = io.BytesIO()
    record = [_record_line(name, data) for name, data in files]
    record.append(f"{dist_info}/RECORD,,")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            # A fixed date keeps the archive identical for identical code.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
        wheel.writestr(
            zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0)),
            "\n".join(record) + "\n",
        )
    data = buffer.getvalue()
    # Two first downloads at once each write their own file; the renames are atomic.
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
    Path(tmp.name).replace(path)
    stamp.write_text(content.hexdigest())
    return Wheel(path, hashlib.sha256(data).hexdigest())


def install_script(server: str) -> str:
    return (
        TEMPLATE.read_text()
        .replace("@SERVER@", server.rstrip("/"))
        .replace("@VERSION@", __version__)
    )
