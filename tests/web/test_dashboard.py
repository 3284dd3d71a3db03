"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the real
server process. Needs the `chromium` package (`make test` installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from fleetdeck.tsdb import series
from tests.agents import Agent, enrol
from tests.e2e.test_server_process import ServerProcess

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_PASSWORD = "dashboard-admin-pass"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("web") / "data"
    # Every test logs in: more often than the default 5 a minute per address.
    # The webhook receiver of these tests listens on loopback, which is refused by default.
    env = {"FLEETDECK_ADMIN_PASSWORD": ADMIN_PASSWORD, "FLEETDECK_LOGIN_RATE_LIMIT": "100",
           "FLEETDECK_NOTIFY_ALLOW_PRIVATE": "1"}  # fmt: skip
    proc = ServerProcess(data_dir, env=env)
    yield proc
    if proc.proc.poll() is None:
        proc.stop()
    proc.log.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


def log_in(page: Page, server: ServerProcess, username: str, password: str) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def api_token(server: ServerProcess) -> dict[str, str]:
    reply = httpx2.post(
        server.url + "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def stored_points(server: ServerProcess, at_least: int) -> None:
    """Wait until the server's own host has `at_least` raw points in the last 5 minutes."""
    headers = api_token(server)
    deadline = time.monotonic() + 30
    while True:
        reply = httpx2.get(
            server.url + "/api/v1/history?range=5m&resolution=raw&metrics=cpu", headers=headers
        )
        if len(reply.json()["data"]) >= at_least:
            return
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.5)


# The families the host page charts one line per series of (host.js: FAMILY_CHARTS).
FAMILY_PANELS = {"disk", "temp", "gpu.util", "gpu.memory", "container.cpu", "container.memory"}


def test_login_then_the_overview_updates_live(page: Page, server: ServerProcess) -> None:
    log_in(page, server, "admin", "wrong-password")
    expect(page.locator("#login-error")).to_contain_text("invalid username, password")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/")
    updated = page.locator("[data-field=updated]")
    expect(updated).to_have_text(re.compile(r"Z$"))
    first = updated.inner_text()
    expect(updated).not_to_have_text(first, timeout=10_000)  # a new snapshot arrived
    expect(page.locator("[data-field=cpu]")).to_have_text(re.compile(r"^\d+\.\d %$"))


def test_host_page_switches_to_history_and_signals_a_process(
    page: Page, server: ServerProcess
) -> None:
    victim = subprocess.Popen(["sleep", "600"])
    try:
        stored_points(server, at_least=5)  # the page opens on what is stored, then streams
        log_in(page, server, "admin", ADMIN_PASSWORD)
        expect(page).to_have_url(server.url + "/")
        page.click("a[href='/hosts/local']")
        expect(page.locator("[data-field=status]")).to_have_text("online")
        expect(page.locator("#range-note")).to_have_attribute("data-seeded", re.compile(r"^[1-9]"))
        expect(page.locator("#processes tbody tr").first).to_be_visible()
        usage = page.locator("article[data-panel=usage]")
        expect(usage).to_have_attribute("data-series", re.compile(r"(^|,)disk\[/\](,|$)"))
        expect(usage).not_to_have_class(re.compile("absent"))
        for absent_or_not in ("temperature", "gpu"):  # hidden when the host has no such series
            panel = page.locator(f"article[data-panel={absent_or_not}]")
            empty = not panel.get_attribute("data-series")
            assert ("absent" in (panel.get_attribute("class") or "")) == empty
        page.click("button[data-range='1h']")
        expect(page.locator("#range-note")).to_have_text(re.compile(r"^1h: [1-9]\d* points"))
        expect(usage).to_have_attribute("data-series", re.compile(r"(^|,)disk\[/\](,|$)"))
        # dragging across a chart shows that span on every chart, at the finest resolution
        area = page.locator("[data-chart=cpu] .u-over").bounding_box()
        assert area is not None
        middle = area["y"] + area["height"] / 2
        page.mouse.move(area["x"] + area["width"] * 0.05, middle)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.95, middle, steps=5)
        page.mouse.up()
        expect(page.locator("#range-note")).to_have_text(re.compile(r"^zoom: [1-9]\d* points"))
        expect(page.locator("#export-csv")).to_have_attribute("href", re.compile(r"from=\d+&to="))
        page.click("button[data-range='1h']")
        expect(page.locator("#range-note")).to_have_text(re.compile(r"^1h: [1-9]\d* points"))
        assert page.evaluate("[fd.duration(540), fd.duration(18720), fd.duration(273600)]") == [
            "9 min",
            "5 h 12 min",
            "3 d 4 h",
        ]  # uptimes; "up 0 h" said nothing for a fresh boot
        # a hole in the data (the host was down) breaks the lines instead of bridging them
        gapped = page.evaluate("withGaps({x: [0, 5, 10, 60, 65], cpu: [1, 2, 3, 4, 5]})")
        assert gapped == {"x": [0, 5, 10, 15, 60, 65], "cpu": [1, 2, 3, None, 4, 5]}
        same = page.evaluate("withGaps({x: [7, 7, 7, 9], cpu: [1, 2, 3, 4]})")
        assert same == {"x": [7, 7, 7, 9], "cpu": [1, 2, 3, 4]}  # repeated seconds are no hole
        point = (
            '{"timestamp": "2026-12-01T00:00:00Z",'
            ' "net.rx[lo]": {"avg": 9e6}, "net.rx[eth0]": {"avg": 5},'
            ' "net.rx[veth9a]": {"avg": 7}}'
        )
        columns = page.evaluate(f"historyColumns({{data: [{point}]}})")
        assert columns["rx"] == [5]  # the loopback and containers' links stay out of the totals
        names = [
            "lo",
            "eth0",
            "enp3s0",
            "wg0",
            "veth1",
            "docker0",
            "br-ab12",
            "virbr0",
            "cni0",
            "ifb0",
        ]
        assert page.evaluate("(names) => names.map(counted)", names) == [
            series.in_network_totals(n) for n in names
        ]
        assert columns["fam"] == [{}]
        point = '{"timestamp": "2026-12-01T00:00:00Z", "disk[/x]": {"avg": 5}, "cpu": {"avg": 1}}'
        assert page.evaluate(f"historyColumns({{data: [{point}]}}).fam") == [{"disk[/x]": 5}]
        # The live charts key a snapshot's families as the store does (tsdb/series.py).
        snapshot = {
            "disk": {"mounts": [{"mountpoint": "/srv", "used": 1, "total": 3}]},
            "temperature": {"sensors": [{"name": "cpu0", "value": 51.0}, {"name": "x"}]},
            "gpu": {"gpus": [{"index": 0, "utilization": 7.0, "memoryUsed": 1, "memoryTotal": 8}]},
            "docker": {"containers": [
                {"name": "web", "status": "running", "cpu": 150.5, "memory": 70_000_000},
                {"name": "old", "status": "exited", "cpu": 0.0, "memory": 0},
            ]},
        }  # fmt: skip
        stored = {
            k: v for k, v in series.from_snapshot(snapshot) if series.family(k) in FAMILY_PANELS
        }
        assert page.evaluate("(m) => familyValues(m)", snapshot) == stored
        with page.expect_download() as download:
            page.click("#export-csv")
        exported = Path(download.value.path()).read_text().splitlines()
        assert exported[0].startswith("timestamp,cpu,") and len(exported) >= 3
        assert download.value.suggested_filename.startswith("fleetdeck-local-")
        page.click("button[data-range='live']")
        page.fill("#pid-lookup input[name=pid]", str(victim.pid))
        page.click("#pid-lookup button[type=submit]")
        expect(page.locator("#pid-result")).to_contain_text("sleep")
        page.click("#pid-result button")
        expect(page.locator("#signal-dialog")).to_be_visible()
        page.click("#signal-dialog [data-action=send]")
        expect(page.locator("#pid-result")).to_contain_text(f"Sent signal 15 to {victim.pid}")
        assert victim.wait(timeout=10) == -15
    finally:
        victim.kill()
        victim.wait()


def test_a_viewer_sees_no_signal_action(page: Page, server: ServerProcess) -> None:
    created = httpx2.post(
        server.url + "/api/v1/users",
        json={"username": "vera", "password": "vera-viewer-pass", "roles": ["viewer"]},
        headers=api_token(server),
    )
    assert created.status_code in (201, 409), created.text
    log_in(page, server, "vera", "vera-viewer-pass")
    expect(page).to_have_url(server.url + "/")
    page.goto(server.url + "/hosts/local")
    expect(page.locator("#processes tbody tr").first).to_be_visible()
    assert page.locator("#processes button").count() == 0
    assert page.locator("a[href='/audit']").count() == 0


def test_create_a_token_and_verify_the_audit_log(page: Page, server: ServerProcess) -> None:
    log_in(page, server, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(server.url + "/")
    page.click("a[href='/tokens']")
    page.fill("#token-form input[name=name]", "from-the-browser")
    page.check("#token-form input[value='metrics:read']")
    page.click("#token-form button[type=submit]")
    token = page.locator("#new-token-value")
    expect(token).to_have_text(re.compile(r"^fdt_"))
    works = httpx2.get(
        server.url + "/api/v1/history?range=5m", headers={"X-API-Token": token.inner_text()}
    )
    assert works.status_code == 200
    page.click("a[href='/audit']")
    page.fill("input[name=action]", "token.*")  # filtered in place by htmx
    page.press("input[name=action]", "Enter")
    expect(page).to_have_url(re.compile(r"/audit\?user=&action=token\.\*"))
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    row = page.locator("#audit tbody tr", has_text="token.create").first
    row.locator("[data-verify]").click()
    expect(row.locator("[data-verdict]")).to_have_text("✓ verified")


def test_first_login_forces_a_password_change(browser: Browser, tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data")
    try:
        found = re.search(r"with password\s+(\S+)", proc.output())
        assert found, proc.output()
        context = browser.new_context()
        page = context.new_page()
        log_in(page, proc, "admin", found.group(1))
        expect(page).to_have_url(proc.url + "/password")
        page.goto(proc.url + "/hosts/local")  # nothing else is reachable first
        expect(page).to_have_url(proc.url + "/password")
        expect(page.locator("nav a[href='/hosts'], nav a[href='/agents']")).to_have_count(0)
        page.fill("input[name=current_password]", "not-the-password")  # a typo is explained
        page.fill("input[name=new_password]", "my-own-password")
        page.click("button[type=submit]")
        expect(page.locator("#password-error")).to_have_text("current password is wrong")
        expect(page).to_have_url(proc.url + "/password")
        page.fill("input[name=current_password]", found.group(1))
        page.click("button[type=submit]")
        expect(page).to_have_url(proc.url + "/")
        expect(page.locator("nav a[href='/agents']")).to_have_count(1)
        page.goto(proc.url + "/tokens")
        context.clear_cookies()  # the session ends while the page is open
        page.fill("#token-form input[name=name]", "ci")
        page.click("#token-form button[type=submit]")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Ftokens$"))
        context.close()
    finally:
        proc.stop()


def test_admin_pages_create_a_user_and_a_role_and_change_the_interval(
    page: Page, server: ServerProcess
) -> None:
    log_in(page, server, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(server.url + "/")
    page.click("nav a[href='/users']")
    page.fill("#user-form input[name=username]", "otto")
    page.fill("#user-form input[name=password]", "otto-temp-pass")
    page.select_option("#user-form select[name=role]", "operator")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#users tr[data-username=otto]")).to_contain_text("operator")

    page.click("nav a[href='/roles']")
    page.fill("#role-form input[name=name]", "Web watchers")
    page.fill("#role-form input[name=host_groups]", "web, eu")
    page.check("#role-form input[value='metrics:read']")
    page.click("#role-form button[type=submit]")
    expect(page.locator("#roles tr[data-role=web-watchers]")).to_contain_text("web, eu")

    page.click("nav a[href='/settings']")
    expect(page.locator("#security-status")).to_contain_text("Two-factor coverage")
    page.fill("#refresh-form input[name=interval]", "2")
    page.click("#refresh-form button[type=submit]")
    expect(page.locator("#refresh-result")).to_contain_text("every 2 s")
    reply = httpx2.get(server.url + "/api/v1/settings/refresh", headers=api_token(server))
    assert reply.json() == {"interval": 2.0}
    httpx2.post(
        server.url + "/api/v1/settings/refresh", json={"interval": 1}, headers=api_token(server)
    )


def test_settings_page_changes_how_long_history_is_kept(page: Page, server: ServerProcess) -> None:
    log_in(page, server, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(server.url + "/")
    page.goto(server.url + "/settings")
    raw = page.locator("#retention tr[data-tier=raw]")
    expect(raw.locator("[data-stored]")).to_contain_text("samples")
    expect(raw.locator("input")).to_have_value("1d")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    raw.locator("input").fill("12h")
    page.click("#retention-form button[type=submit]")
    expect(page.locator("#retention-result")).to_have_text("Saved: raw.")
    assert dialogs == ["Keep raw from 1d to 12h? Older samples are deleted at once."]
    reply = httpx2.get(server.url + "/api/v1/settings/retention", headers=api_token(server))
    assert reply.json()["retention_seconds"]["raw"] == 43200
    page.reload()
    expect(raw.locator("input")).to_have_value("12h")
    page.click("#retention-reset")
    expect(page.locator("#retention-result")).to_have_text("Back to the configured retention.")
    expect(raw.locator("input")).to_have_value("1d")
    reply = httpx2.get(server.url + "/api/v1/settings/retention", headers=api_token(server))
    assert reply.json()["overridden"] == []


def test_two_factor_setup_in_the_browser(page: Page, server: ServerProcess) -> None:
    import pyotp

    httpx2.post(
        server.url + "/api/v1/users",
        json={"username": "tina", "password": "tina-password-1", "roles": ["viewer"]},
        headers=api_token(server),
    )
    log_in(page, server, "tina", "tina-password-1")
    expect(page).to_have_url(server.url + "/")
    page.click("nav a[href='/profile']")
    page.click("#mfa-enroll")
    expect(page.locator("#mfa-qr svg")).to_be_visible()
    secret = page.locator("#mfa-secret")
    expect(secret).to_have_text(re.compile(r"^[A-Z2-7]{16,}$"))
    page.fill("#mfa-confirm input[name=code]", pyotp.TOTP(secret.inner_text()).now())
    page.click("#mfa-confirm button[type=submit]")
    codes = page.locator("#mfa-codes-list")
    expect(codes).to_have_text(re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}"))
    recovery = codes.inner_text().splitlines()[0]
    # The next login needs a code: without one it fails, with a recovery code it works.
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=username]", "tina")
    page.fill("input[name=password]", "tina-password-1")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_be_visible()
    page.fill("input[name=mfa_code]", recovery)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/")


def test_panels_can_be_hidden_and_reordered_and_stay_so(page: Page, server: ServerProcess) -> None:
    log_in(page, server, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(server.url + "/")
    page.goto(server.url + "/hosts/local")
    page.click("#panel-settings summary")
    page.uncheck("#panel-settings li[data-panel=load] input")
    expect(page.locator("[data-panel=load]").last).to_be_hidden()
    page.click("#panel-settings li[data-panel=services] button[title='Move up']")
    page.click("#panel-settings #panels-save")
    expect(page.locator("#panels-result")).to_have_text("Saved.")
    page.reload()
    expect(page.locator("#panels > [data-panel=load]")).to_be_hidden()
    order = page.eval_on_selector_all(
        "#panels > [data-panel]", "els => els.map((e) => e.dataset.panel)"
    )
    assert order[-2:] == ["services", "containers"], order
    stored = httpx2.get(server.url + "/api/v1/user/panel-config", headers=api_token(server))
    assert {"id": "load", "visible": False} in stored.json()["panels"]


def test_alerts_page_creates_a_rule_then_shows_and_acknowledges_its_alert(
    page: Page, server: ServerProcess
) -> None:
    log_in(page, server, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(server.url + "/")
    page.click("nav a[href='/alerts']")
    page.fill("#rule-form input[name=name]", "Any process")
    page.fill("#rule-form input[name=metric]", "processes")
    page.select_option("#rule-form select[name=comparison]", ">=")
    page.fill("#rule-form input[name=warning]", "0")
    page.fill("#rule-form input[name=for_seconds]", "0")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#rules tr[data-rule=any-process]")).to_be_visible()
    row = page.locator("#alerts tbody tr", has_text="any-process")
    expect(row).to_contain_text("firing", timeout=15_000)
    page.reload()
    expect(page.locator("#alert-badge")).to_have_text(re.compile(r"^[1-9]\d*$"))
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text("seen by admin")
    row.get_by_role("link", name="local").click()  # the host's charts around the alert
    expect(page).to_have_url(re.compile(r"/hosts/local\?from=\d+&to=\d+$"))
    expect(page.locator("#range-note")).to_have_text(re.compile(r"^zoom: [1-9]\d* points"))
    page.click("button[data-range='4h']")
    expect(page).to_have_url(re.compile(r"/hosts/local\?range=4h$"))
    page.reload()  # the address keeps what is shown
    expect(page.locator("#range-note")).to_have_text(re.compile(r"^4h: [1-9]\d* points"))
    page.click("button[data-range='live']")
    expect(page).to_have_url(re.compile(r"/hosts/local$"))
    rule = httpx2.get(server.url + "/api/v1/alerts/rules", headers=api_token(server)).json()
    body = next(r for r in rule["rules"] if r["id"] == "any-process")
    body = {k: v for k, v in body.items() if k not in ("id", "builtin")} | {"enabled": False}
    httpx2.put(
        server.url + "/api/v1/alerts/rules/any-process", json=body, headers=api_token(server)
    )


def test_notifications_page_adds_and_tests_a_webhook(page: Page, server: ServerProcess) -> None:
    from tests.receivers import Receiver

    receiver = Receiver().start()
    try:
        log_in(page, server, "admin", ADMIN_PASSWORD)
        expect(page).to_have_url(server.url + "/")
        page.click("nav a[href='/notifications']")
        expect(page.locator("#webhooks tbody")).to_contain_text("No webhooks yet.")
        columns = page.locator("#webhooks thead th").count()  # the placeholder spans them all
        assert page.locator("#webhooks tbody td").evaluate("td => td.colSpan") == columns > 1
        page.fill("#webhook-form input[name=name]", "ops")
        page.fill("#webhook-form input[name=url]", receiver.url)
        page.select_option("#webhook-form select[name=template]", "slack")
        page.click("#webhook-form button[type=submit]")
        row = page.locator("#webhooks tbody tr", has_text="ops")
        expect(row).to_contain_text("slack")
        row.get_by_role("button", name="Test").click()
        expect(page.locator("#webhook-result")).to_have_text("ops: delivered (HTTP 204)")
        # The earlier alerts test's rule may resolve onto this webhook too: find the test message.
        texts = [r.json().get("text", "") for r in receiver.received]
        assert any(t.startswith("fleetdeck test notification") for t in texts), texts
    finally:
        receiver.stop()


def test_add_a_host_approve_it_watch_it_and_revoke_it(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    log_in(page, server, "admin", ADMIN_PASSWORD)
    page.click("a[href='/agents']")
    page.fill("#enrol-form input[name=uses]", "1")
    page.click("#enrol-form button[type=submit]")
    command = page.locator("#install-command")
    expect(command).to_contain_text(f"{server.url}/install.sh | sh -s -- --token fde_")
    token = re.search(r"--token (\S+)", command.inner_text()).group(1)  # type: ignore[union-attr]
    state = tmp_path / "agent"
    agent_id = enrol(server.url, token, state)
    agent = Agent(state, "--allow-commands")
    victim = subprocess.Popen(["sleep", "600"])
    try:
        page.reload()
        pending = page.locator(f"#pending tr[data-agent='{agent_id}']")
        expect(pending).to_contain_text("sha256:")
        pending.locator("[data-approve]").click()
        fleet_row = page.locator(f"#fleet tr[data-agent='{agent_id}']")
        expect(fleet_row).to_be_visible()
        page.click("a[href='/']")
        card = page.locator(f".host-card[data-agent='{agent_id}']")
        expect(card.locator("[data-field=cpu]")).to_have_text(re.compile(r"^\d+\.\d %$"))
        expect(card.locator("[data-field=status]")).to_have_text("online")
        # Commands on (the agent allows them on its side): signal a process on that host.
        page.click("a[href='/agents']")
        page.on("dialog", lambda dialog: dialog.accept())
        switch = page.locator(f"#fleet tr[data-agent='{agent_id}'] [data-commands]")
        with page.expect_response(re.compile(rf"/api/v1/agents/{agent_id}/config$")):
            switch.check()
        page.goto(f"{server.url}/hosts/{agent_id}")
        page.fill("#pid-lookup input[name=pid]", str(victim.pid))
        page.click("#pid-lookup button[type=submit]")
        expect(page.locator("#pid-result")).to_contain_text("sleep")
        page.click("#pid-result button")
        page.click("#signal-dialog [data-action=send]")
        expect(page.locator("#pid-result")).to_contain_text(f"Sent signal 15 to {victim.pid}")
        assert victim.wait(timeout=10) == -15
        # The host goes away while its page is open: the page says so (the stream's
        # `event: status`) instead of "online", and "online" again when it is back.
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        bearer = httpx2.post(f"{server.url}/api/v1/auth/login", json=login).json()["token"]
        quick = httpx2.patch(
            f"{server.url}/api/v1/agents/{agent_id}/config",
            json={"interval": 1},  # offline after three missed seconds
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert quick.status_code == 200, quick.text
        status = page.locator("[data-field=status]")
        expect(status).to_have_text("online")
        agent.proc.kill()
        expect(status).to_have_text(re.compile(r"^offline since \d{4}-"), timeout=15_000)
        agent.stop()
        agent = Agent(state, "--allow-commands")
        expect(status).to_have_text("online", timeout=15_000)
        page.click("a[href='/agents']")
        expect(switch).to_be_checked()
        page.locator(f"#fleet tr[data-agent='{agent_id}'] [data-revoke]").click()
        expect(page.locator(f"#fleet tr[data-agent='{agent_id}']")).to_contain_text("revoked")
        assert agent.proc.wait(timeout=10) == 3
    finally:
        victim.kill()
        victim.wait()
        agent.stop()
