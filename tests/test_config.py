"""Settings: defaults < fleetdeck.toml < FLEETDECK_* env < flags; bad values fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fleetdeck.config import load_settings


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("FLEETDECK_PORT", "FLEETDECK_HOST", "FLEETDECK_REFRESH_INTERVAL"):
        monkeypatch.delenv(var, raising=False)


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port, s.refresh_interval) == ("127.0.0.1", 8080, 5.0)
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.effective_database_url.endswith("fleetdeck-data/fleetdeck.db")


def test_each_layer_overrides_the_one_below(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("fleetdeck.toml").write_text('port = 9001\nhost = "0.0.0.0"\nrefresh_interval = 2\n')
    assert load_settings().port == 9001
    monkeypatch.setenv("FLEETDECK_PORT", "9002")
    s = load_settings()
    assert (s.port, s.host, s.refresh_interval) == (9002, "0.0.0.0", 2.0)
    assert load_settings(port=9003).port == 9003
    assert load_settings(port=None).port == 9002  # a flag not given does not override


def test_named_config_file_must_exist() -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(Path("missing.toml"))


def test_unknown_keys_and_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("fleetdeck.toml").write_text("prot = 9001\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings()
    Path("fleetdeck.toml").unlink()
    monkeypatch.setenv("FLEETDECK_REFRESH_INTERVAL", "0")
    with pytest.raises(ValidationError, match="refresh_interval"):
        load_settings()


def test_admin_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin"
    secret.write_text("from-a-file-secret\n")
    s = load_settings(admin_password_file=secret)
    assert s.admin_password is not None
    assert s.admin_password.get_secret_value() == "from-a-file-secret"
    assert "from-a-file" not in repr(s)
