"""fleetdeck: watch a fleet of Linux hosts and act on it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetdeck")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
