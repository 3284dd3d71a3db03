// Alerts page: active or resolved alerts with acknowledge, refreshed every few seconds.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = document.getElementById("alerts-page");
  if (!page) return;
  const canAck = page.dataset.canAck === "true";
  let state = "active";

  async function load() {
    const { alerts } = await fd.api("GET", `/api/v1/alerts?state=${state}&limit=200`);
    const tbody = document.querySelector("#alerts tbody");
    if (!alerts.length) { fd.fillRows(tbody, [[state === "active" ? "No active alerts." : "None yet."]]); return; }
    fd.fillRows(tbody, alerts.map((a) => {
      const level = document.createElement("mark");
      level.textContent = a.level; level.dataset.level = a.level;
      let action = a.acknowledged ? `seen by ${a.acknowledged_by}` : "";
      if (canAck && !a.acknowledged && a.state !== "resolved") {
        action = document.createElement("button");
        action.type = "button"; action.className = "outline small"; action.textContent = "Acknowledge";
        action.addEventListener("click", async () => { await fd.api("POST", `/api/v1/alerts/${a.id}/acknowledge`); load(); });
      }
      return [level, a.state, a.rule_id, hostLink(a), a.series, String(a.value), String(a.threshold), a.fired_at || a.created_at, action];
    }));
  }

  // The host's charts around the alert: from half an hour before it started to a quarter of an
  // hour after it resolved (or now).
  function hostLink(a) {
    const link = document.createElement("a");
    const start = Date.parse(a.created_at) / 1000 - 1800;
    const end = a.resolved_at ? Date.parse(a.resolved_at) / 1000 + 900 : Date.now() / 1000;
    link.href = `/hosts/${encodeURIComponent(a.agent_id)}?from=${Math.floor(start)}&to=${Math.ceil(end)}`;
    link.textContent = a.agent_id;
    link.title = "The host's charts around this alert";
    return link;
  }

  for (const button of page.querySelectorAll("[data-state]")) {
    button.addEventListener("click", () => {
      state = button.dataset.state;
      for (const b of page.querySelectorAll("[data-state]")) {
        const on = b === button; b.setAttribute("aria-pressed", on); b.classList.toggle("outline", !on);
      }
      load();
    });
  }
  load();
  setInterval(load, 5000);

  const form = document.getElementById("rule-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const num = (v) => (v === "" ? null : Number(v));
    try {
      await fd.api("POST", "/api/v1/alerts/rules", {
        name: f.name.value, metric: f.metric.value, comparison: f.comparison.value,
        warning: num(f.warning.value), critical: num(f.critical.value),
        for_seconds: Number(f.for_seconds.value || 0), hysteresis: Number(f.hysteresis.value || 0),
      });
      location.reload();
    } catch (error) { fd.showError(document.getElementById("rule-error"), error); }
  });
});
