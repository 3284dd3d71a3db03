"""The docs stay true: every setting, permission, route and CLI command is documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleetdeck.app import create_app
from fleetdeck.auth.permissions import PERMISSIONS, SYSTEM_ROLES
from fleetdeck.config import Settings
from tests.conftest import make_settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_in_configuration_md() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"| `{name}` | `FLEETDECK_{name.upper()}` |" in text, name


def test_every_permission_and_system_role_is_in_security_md() -> None:
    text = (DOCS / "security.md").read_text()
    for permission in PERMISSIONS:
        assert f"| `{permission}` |" in text, permission
    for role_id, *_ in SYSTEM_ROLES:
        assert f"| `{role_id}` |" in text, role_id


def test_every_route_is_in_api_md(tmp_path: Path) -> None:
    text = (DOCS / "api.md").read_text()
    doc = create_app(make_settings(tmp_path)).openapi()
    for path, operations in doc["paths"].items():
        for method in operations:
            assert f"`{method.upper()} {path}`" in text, f"{method.upper()} {path}"


def test_cli_md_is_generated_from_the_current_help() -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "cli_docs.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_stored_metric_is_in_api_md() -> None:
    from fleetdeck.tsdb.series import METRICS

    text = (DOCS / "api.md").read_text()
    for name in METRICS:
        assert f"| `{name}` |" in text, name
