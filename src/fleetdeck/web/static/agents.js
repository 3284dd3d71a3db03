// Agents page: enrolment tokens with the install command, approvals, remote config, rules.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const reload = () => location.reload();
  const on = (id, event, handler) => document.getElementById(id)?.addEventListener(event, handler);

  on("enrol-form", "submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    const number = (input) => (input.value ? Number(input.value) : null);
    try {
      const made = await fd.api("POST", "/api/v1/agents/enrollment-tokens", {
        name: f.name.value, uses: number(f.uses), expires_in_hours: number(f.expires_in_hours),
      });
      document.getElementById("install-command").textContent = made.install_command;
      document.getElementById("enroll-command").textContent = made.enroll_command;
      document.getElementById("install").hidden = false;
    } catch (error) { fd.showError(document.getElementById("enrol-error"), error); }
  });
  on("copy-install", "click", async (event) => {
    await navigator.clipboard?.writeText(document.getElementById("install-command").textContent);
    event.target.textContent = "Copied";
  });

  for (const row of document.querySelectorAll("#pending tr[data-agent]")) {
    const id = row.dataset.agent;
    row.querySelector("[data-approve]")?.addEventListener("click", async () => {
      try { await fd.api("POST", `/api/v1/agents/pending/${id}/approve`); reload(); } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-reject]")?.addEventListener("click", async () => {
      if (!confirm(`Reject ${id}? Its key will be refused.`)) return;
      try { await fd.api("POST", `/api/v1/agents/pending/${id}/reject`); reload(); } catch (e) { alert(e.message); }
    });
  }

  for (const row of document.querySelectorAll("#fleet tr[data-agent]")) {
    const id = row.dataset.agent;
    row.querySelector("[data-interval]")?.addEventListener("click", async () => {
      const seconds = prompt(`Seconds between reports of ${id} (1-3600):`);
      if (!seconds) return;
      try { await fd.api("PATCH", `/api/v1/agents/${id}/config`, { interval: Number(seconds) }); reload(); } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-collectors-edit]")?.addEventListener("click", async () => {
      const sections = document.getElementById("fleet").dataset.sections;
      const given = prompt(`Collectors of ${id}, comma separated (${sections}); empty for all:`, row.dataset.collectors);
      if (given === null) return;
      const collectors = given.split(",").map((c) => c.trim()).filter(Boolean);
      try { await fd.api("PATCH", `/api/v1/agents/${id}/config`, { collectors }); reload(); } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-commands]")?.addEventListener("change", async (event) => {
      const on = event.target.checked;
      if (on && !confirm(`Let fleetdeck signal processes on ${id}? The agent must also run with --allow-commands.`)) { event.target.checked = false; return; }
      try { await fd.api("PATCH", `/api/v1/agents/${id}/config`, { commandsEnabled: on }); } catch (e) { event.target.checked = !on; alert(e.message); }
    });
    row.querySelector("[data-heartbeat]")?.addEventListener("click", async (event) => {
      try {
        const beat = await fd.api("POST", `/api/v1/agents/${id}/heartbeat`);
        event.target.textContent = beat.reachable ? `${beat.latency_ms} ms` : "unreachable";
      } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-revoke]")?.addEventListener("click", async () => {
      if (!confirm(`Revoke ${id}? Its connection closes now and its key is refused from then on.`)) return;
      try { await fd.api("POST", `/api/v1/agents/${id}/revoke`); reload(); } catch (e) { alert(e.message); }
    });
    row.querySelector("[data-remove]")?.addEventListener("click", async () => {
      if (!confirm(`Remove ${id}? Its history stays until retention removes it.`)) return;
      try { await fd.api("DELETE", `/api/v1/agents/${id}`); reload(); } catch (e) { alert(e.message); }
    });
  }

  for (const row of document.querySelectorAll("#rules tr[data-rule]")) {
    row.querySelector("[data-delete-rule]")?.addEventListener("click", async () => {
      try { await fd.api("DELETE", `/api/v1/registration-rules/${row.dataset.rule}`); reload(); } catch (e) { alert(e.message); }
    });
  }
  on("rule-form", "submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    try {
      await fd.api("POST", "/api/v1/registration-rules", {
        name: f.name.value,
        hostname_pattern: f.hostname_pattern.value || null,
        address_range: f.address_range.value || null,
        groups: f.groups.value.split(",").map((g) => g.trim()).filter(Boolean),
      });
      reload();
    } catch (error) { fd.showError(document.getElementById("rule-error"), error); }
  });
});
