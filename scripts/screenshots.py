"""Regenerates docs/screenshots/*.png with Debian's Chromium against a fresh server.

.venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PASSWORD = "screenshot-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo_agents(base: str, data: Path) -> subprocess.Popen[bytes]:
    """Six simulated agents (`fleetdeck bench agents`), let in by a registration rule."""
    login = httpx2.post(
        base + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    httpx2.post(base + "/api/v1/registration-rules", headers=headers,
                json={"name": "demo fleet", "hostname_pattern": "bench-*"})  # fmt: skip
    token = httpx2.post(base + "/api/v1/agents/enrollment-tokens", json={"name": "demo"},
                        headers=headers).json()["token"]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "fleetdeck", "bench", "agents", "--server", base, "--token", token,
         "--count", "6", "--interval", "2", "--duration", "600",
         "--state-dir", str(data / "demo-agents")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [sys.executable, "-m", "fleetdeck", "server", "--port", str(port),
             "--data-dir", data, "--refresh-interval", "1"],
            env={**os.environ, "FLEETDECK_ADMIN_PASSWORD": PASSWORD,
                 "FLEETDECK_BACKUP_DIR": str(Path(data) / "backups")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            demo = start_demo_agents(base, Path(data))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(base + "/login")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(base + "/")
                time.sleep(6)  # a few live points
                shots = {"overview": "/", "host": "/hosts/local", "agents": "/agents",
                         "alerts": "/alerts", "notifications": "/notifications",
                         "users": "/users", "audit": "/audit", "settings": "/settings"}  # fmt: skip
                for name, path in shots.items():
                    page.goto(base + path)
                    page.wait_for_timeout(2500)
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=name != "host")
                    print("wrote", OUT / f"{name}.png")
                phone = browser.new_page(viewport={"width": 390, "height": 844})
                phone.context.add_cookies(page.context.cookies())
                phone.goto(base + "/hosts/local")
                phone.wait_for_timeout(2500)
                phone.screenshot(path=str(OUT / "host-phone.png"))
                print("wrote", OUT / "host-phone.png")
                browser.close()
        finally:
            demo.kill()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
