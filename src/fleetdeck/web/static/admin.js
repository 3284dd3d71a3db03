// Users, roles, settings and profile pages: forms and buttons calling the JSON API.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const reload = () => location.reload();
  const on = (id, event, handler) => document.getElementById(id)?.addEventListener(event, handler);

  on("user-form", "submit", async (event) => {
    event.preventDefault();
    const f = event.target;
    try {
      await fd.api("POST", "/api/v1/users", {
        username: f.elements.username.value, password: f.elements.password.value,
        roles: [f.elements.role.value],
      });
      reload();
    } catch (error) { fd.showError(document.getElementById("user-error"), error); }
  });
  for (const row of document.querySelectorAll("#users tr[data-user]")) {
    const id = row.dataset.user, name = row.dataset.username;
    row.querySelector("[data-disable]")?.addEventListener("click", async () => {
      if (!confirm(`Disable ${name}? Their sessions and API tokens end at once.`)) return;
      try { await fd.api("DELETE", `/api/v1/users/${id}`); reload(); } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-enable]")?.addEventListener("click", async () => {
      try { await fd.api("PUT", `/api/v1/users/${id}`, { disabled: false }); reload(); } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-reset]")?.addEventListener("click", async () => {
      const password = prompt(`Temporary password for ${name} (8+ characters; they must change it at next login):`);
      if (!password) return;
      try { await fd.api("PUT", `/api/v1/users/${id}/password`, { new_password: password }); alert("Done."); } catch (e) { alert(e.message); }
    });
  }

  on("role-form", "submit", async (event) => {
    event.preventDefault();
    const f = event.target;
    const permissions = [...f.querySelectorAll("input[name=permission]:checked")].map((c) => c.value);
    const host_groups = f.elements.host_groups.value.split(",").map((g) => g.trim()).filter(Boolean);
    try {
      await fd.api("POST", "/api/v1/roles", {
        name: f.elements.name.value, description: f.elements.description.value, permissions, host_groups,
      });
      reload();
    } catch (error) { fd.showError(document.getElementById("role-error"), error); }
  });
  for (const row of document.querySelectorAll("#roles tr[data-role]")) {
    row.querySelector("[data-delete-role]")?.addEventListener("click", async () => {
      if (!confirm(`Delete the role ${row.dataset.role}? Users holding it lose it at once.`)) return;
      try { await fd.api("DELETE", `/api/v1/roles/${row.dataset.role}`); reload(); } catch (e) { alert(e.message); }
    });
  }

  on("refresh-form", "submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("refresh-result");
    try {
      const reply = await fd.api("POST", "/api/v1/settings/refresh", { interval: Number(event.target.elements.interval.value) });
      out.textContent = `Saved: a snapshot every ${reply.interval} s, for every viewer.`;
    } catch (error) { out.textContent = error.message; }
  });

  const retention = document.getElementById("retention-form");
  if (retention) {
    loadStoreFigures(retention);
    retention.addEventListener("submit", (event) => {
      event.preventDefault();
      saveRetention(retention);
    });
    on("retention-reset", "click", async () => {
      if (!confirm("Go back to the configured retention? Any resolution it keeps shorter loses its older samples at once.")) return;
      const out = document.getElementById("retention-result");
      try { showRetention(retention, await fd.api("DELETE", "/api/v1/settings/retention")); out.textContent = "Back to the configured retention."; } catch (error) { out.textContent = error.message; }
    });
  }

  const security = document.getElementById("security");
  if (security) loadSecurity(security);

  on("mfa-enroll", "click", async () => {
    try {
      const enrolment = await fd.api("POST", "/api/v1/auth/mfa/enroll");
      document.getElementById("mfa-secret").textContent = enrolment.secret;
      document.getElementById("mfa-uri").href = enrolment.otpauth_uri;
      if (window.qrcode) {
        const qr = qrcode(0, "M");
        qr.addData(enrolment.otpauth_uri);
        qr.make();
        document.getElementById("mfa-qr").innerHTML = qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true });
      }
      document.getElementById("mfa-setup").hidden = false;
    } catch (error) { fd.showError(document.getElementById("mfa-error"), error); }
  });
  on("mfa-confirm", "submit", async (event) => {
    event.preventDefault();
    try {
      const reply = await fd.api("POST", "/api/v1/auth/mfa/confirm", { code: event.target.elements.code.value });
      document.getElementById("mfa-setup").hidden = true;
      document.getElementById("mfa-codes-list").textContent = reply.recovery_codes.join("\n");
      document.getElementById("mfa-codes").hidden = false;
    } catch (error) { fd.showError(document.getElementById("mfa-error"), error); }
  });
  on("mfa-disable", "submit", async (event) => {
    event.preventDefault();
    try {
      await fd.api("POST", "/api/v1/auth/mfa/disable", { password: event.target.elements.password.value });
      reload();
    } catch (error) { fd.showError(document.getElementById("mfa-error"), error); }
  });
});

async function loadSecurity(section) {
  const status = await fd.api("GET", "/api/v1/security/status");
  const facts = [
    ["HTTPS", status.tls ? "yes" : "no – use a TLS proxy"],
    ["admin still on the configured password", status.default_admin_password_in_use ? "yes – change it" : "no"],
    ["Two-factor coverage", `${status.mfa_enabled_users} of ${status.users} users`],
    ["API tokens", `${status.tokens_total} (${status.tokens_without_expiry} never expire, ${status.tokens_expiring_soon.length} expire within 7 days)`],
    ["Active lockouts", String(status.active_lockouts)],
    ["Self-registration", status.registration_enabled ? "on" : "off"],
  ];
  document.getElementById("security-status").replaceChildren(...facts.map(([k, v]) => {
    const div = document.createElement("div");
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    div.append(dt, dd);
    return div;
  }));
  const { lockouts } = await fd.api("GET", "/api/v1/security/lockouts");
  const canReset = section.dataset.canReset === "true";
  fd.fillRows(document.querySelector("#lockouts tbody"), lockouts.length ? lockouts.map((l) => {
    const cells = [l.key, String(l.failures), l.locked_until || ""];
    if (canReset) {
      const button = document.createElement("button");
      button.type = "button"; button.className = "outline small"; button.textContent = "Unlock";
      button.addEventListener("click", async () => {
        await fd.api("POST", "/api/v1/security/reset-lockout", { identifier: l.key.split(":").slice(1).join(":") });
        loadSecurity(section);
      });
      cells.push(button);
    }
    return cells;
  }) : [["nobody is locked out"]]);
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 };

function seconds(text) {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(text);
  return match ? Number(match[1]) * UNIT_SECONDS[match[2] || "s"] : NaN;
}

// 86400 -> "1d", as the configuration file writes durations.
function durationText(n) {
  const unit = ["d", "h", "m", "s"].find((u) => n % UNIT_SECONDS[u] === 0);
  return `${n / UNIT_SECONDS[unit]}${unit}`;
}

function showRetention(form, reply) {
  for (const [tier, kept] of Object.entries(reply.retention_seconds)) {
    const input = form.elements[tier];
    input.value = durationText(kept);
    input.dataset.seconds = kept;
  }
  loadStoreFigures(form);
  setTimeout(() => loadStoreFigures(form), 2000);  // the retention job runs within a second
}

async function saveRetention(form) {
  const out = document.getElementById("retention-result");
  const changes = {}, shorter = [];
  for (const input of form.querySelectorAll("input[name]")) {
    const wanted = seconds(input.value), kept = Number(input.dataset.seconds);
    if (wanted === kept) continue;
    changes[input.name] = input.value.trim();
    if (wanted < kept) shorter.push(`${input.name} from ${durationText(kept)} to ${input.value.trim()}`);
  }
  if (!Object.keys(changes).length) { out.textContent = "Nothing changed."; return; }
  if (shorter.length && !confirm(`Keep ${shorter.join(", ")}? Older samples are deleted at once.`)) return;
  try {
    showRetention(form, await fd.api("PUT", "/api/v1/settings/retention", changes));
    out.textContent = `Saved: ${Object.keys(changes).join(", ")}.`;
  } catch (error) { out.textContent = error.message; }
}

// What each resolution holds now (needs metrics:read; the columns stay "–" without it).
async function loadStoreFigures(form) {
  let stats;
  try { stats = await fd.api("GET", "/api/v1/metrics-store/stats"); } catch (error) { return; }
  for (const row of form.querySelectorAll("tr[data-tier]")) {
    const tier = row.dataset.tier;
    let stored = `${stats.samples[tier].toLocaleString()} samples, ${fd.bytes(stats.stored_bytes[tier])}`;
    if (tier === "raw" && stats.uncompacted_samples) stored += ` (${stats.uncompacted_samples.toLocaleString()} not compacted yet)`;
    row.querySelector("[data-stored]").textContent = stored;
    row.querySelector("[data-oldest]").textContent = stats.oldest_sample[tier] ?? "–";
  }
}
