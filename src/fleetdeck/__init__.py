"""fleetdeck: watch a fleet of Linux hosts and act on it."""

# The one place the version is written (pyproject.toml reads it from here): reading it from the
# installed metadata would cost every agent process importlib.metadata (3 MB resident).
__version__ = "0.1.0"
