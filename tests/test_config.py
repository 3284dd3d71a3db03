"""Settings: defaults < fleetdeck.toml < FLEETDECK_* env < flags; bad values fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fleetdeck.config import describe_invalid, load_settings


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


def test_durations_take_units_and_errors_say_what_to_fix() -> None:
    Path("fleetdeck.toml").write_text('retention_raw = "2d"\nretention_1m = " 90m "\n')
    assert (load_settings().retention_raw, load_settings().retention_1m) == (172_800, 5400)
    Path("fleetdeck.toml").write_text(
        'retention_raw = "10m"\nretention_1m = "a week"\nlockout_duration = "2d"\nprot = 1\n'
    )
    with pytest.raises(ValidationError) as raised:
        load_settings()
    lines = [line.strip() for line in describe_invalid(raised.value).strip().splitlines()]
    assert sorted(lines) == [
        "lockout_duration (FLEETDECK_LOCKOUT_DURATION or `lockout_duration` in the config file):"
        " must be at most 1d, got '2d'",
        "prot (FLEETDECK_PROT or `prot` in the config file): no such setting"
        " (docs/configuration.md lists them), got 1",
        "retention_1m (FLEETDECK_RETENTION_1M or `retention_1m` in the config file): not a"
        " duration: give seconds, or a number with s, m, h or d (24h), got 'a week'",
        "retention_raw (FLEETDECK_RETENTION_RAW or `retention_raw` in the config file):"
        " must be at least 1h, got '10m'",
    ]
    assert describe_invalid(FileNotFoundError("config file x does not exist")) == (
        "config file x does not exist"
    )


def test_admin_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin"
    secret.write_text("from-a-file-secret\n")
    s = load_settings(admin_password_file=secret)
    assert s.admin_password is not None
    assert s.admin_password.get_secret_value() == "from-a-file-secret"
    assert "from-a-file" not in repr(s)
