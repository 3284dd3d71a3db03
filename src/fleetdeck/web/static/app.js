// fleetdeck dashboard: helpers shared by every page, and the forms of the account pages.
"use strict";

const SESSION_ENDED = new Set(["AUTH_REQUIRED", "INVALID_TOKEN"]);

const fd = (() => {
  function cookie(name) {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
  }

  // Calls the JSON API with the session cookie; unsafe methods carry the CSRF header.
  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": cookie("fleetdeck_csrf") };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const reply = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = reply.status === 204 ? null : await reply.json().catch(() => null);
    // The session is gone: log in again. Other 401s (a wrong current password) are the form's.
    if (reply.status === 401 && data && SESSION_ENDED.has(data.code)) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    }
    if (!reply.ok) {
      const error = new Error((data && data.error) || reply.statusText);
      error.status = reply.status;
      error.code = data && data.code;
      error.retryAfter = reply.headers.get("Retry-After");
      throw error;
    }
    return data;
  }

  function bytes(n) {
    if (n == null || isNaN(n)) return "–";
    const units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : Math.round(n)) + " " + units[i];
  }
  // Seconds as a person reads an uptime: "9 min", "5 h 12 min", "3 d 4 h".
  function duration(seconds) {
    const min = Math.floor(seconds / 60), h = Math.floor(min / 60), d = Math.floor(h / 24);
    if (d) return `${d} d ${h % 24} h`;
    if (h) return `${h} h ${min % 60} min`;
    return `${min} min`;
  }
  const pct = (n) => (n == null || isNaN(n) ? "–" : n.toFixed(1) + " %");
  const rate = (n) => bytes(n) + "/s";

  function showError(el, error) {
    el.hidden = false;
    el.textContent = error.retryAfter
      ? `${error.message} (try again in ${error.retryAfter} s)`
      : error.message;
  }

  function formData(form) {
    return Object.fromEntries(new FormData(form).entries());
  }

  // Fills a table body with rows of cells; values are text, never HTML. A row of one cell
  // ("nobody is locked out") spans every column of the table's head.
  function fillRows(tbody, rows) {
    const columns = tbody.closest("table")?.tHead?.rows[0]?.cells.length || 1;
    tbody.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement("td");
        if (cell instanceof Node) td.append(cell); else td.textContent = cell;
        if (cells.length === 1) td.colSpan = columns;
        tr.append(td);
      }
      return tr;
    }));
  }

  return { api, bytes, duration, pct, rate, showError, formData, fillRows, cookie };
})();

// The number of firing alerts beside "Alerts" in the navigation, on every page.
async function refreshAlertBadge() {
  const badge = document.getElementById("alert-badge");
  if (!badge) return;
  try {
    const reply = await fetch("/api/v1/alerts?state=firing&limit=1", { credentials: "same-origin" });
    if (!reply.ok) return;
    const count = Number(reply.headers.get("X-Total-Count") || 0);
    badge.textContent = String(count);
    badge.hidden = count === 0;
  } catch (error) { /* offline: keep the last count */ }
}

document.addEventListener("DOMContentLoaded", () => {
  refreshAlertBadge();
  setInterval(refreshAlertBadge, 15000);
  document.getElementById("logout")?.addEventListener("click", async () => {
    try { await fd.api("POST", "/api/v1/auth/logout"); } finally { location.href = "/login"; }
  });

  const login = document.getElementById("login-form");
  login?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = fd.formData(login);
    if (!body.mfa_code) delete body.mfa_code;
    try {
      const reply = await fd.api("POST", "/api/v1/auth/login", body);
      location.href = reply.must_change_password ? "/password" : login.dataset.next || "/";
    } catch (error) {
      fd.showError(document.getElementById("login-error"), error);
    }
  });

  const password = document.getElementById("password-form");
  password?.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await fd.api("PUT", "/api/v1/auth/me/password", fd.formData(password));
      location.href = "/";
    } catch (error) {
      fd.showError(document.getElementById("password-error"), error);
    }
  });

  const tokenForm = document.getElementById("token-form");
  tokenForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scopes = [...tokenForm.querySelectorAll("input[name=scope]:checked")].map((c) => c.value);
    const body = { name: tokenForm.elements.name.value, scopes };
    const date = tokenForm.elements.expires_at.value;
    if (date) body.expires_at = date + "T23:59:59Z";
    try {
      const created = await fd.api("POST", "/api/v1/tokens", body);
      document.getElementById("new-token-value").textContent = created.token;
      document.getElementById("new-token").hidden = false;
      document.getElementById("token-error").hidden = true;
      tokenForm.reset();
    } catch (error) {
      fd.showError(document.getElementById("token-error"), error);
    }
  });
  document.getElementById("copy-token")?.addEventListener("click", () => {
    navigator.clipboard?.writeText(document.getElementById("new-token-value").textContent);
  });
  for (const button of document.querySelectorAll("#tokens [data-revoke]")) {
    button.addEventListener("click", async () => {
      if (!confirm("Revoke this token? Scripts using it stop working at once.")) return;
      await fd.api("DELETE", "/api/v1/tokens/" + button.dataset.revoke);
      button.closest("tr").remove();
    });
  }
});
