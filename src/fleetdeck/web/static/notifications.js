// Notifications page: webhooks (add, test, delete), the queue, the dead letters.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = document.getElementById("notifications");
  if (!page) return;
  const canWrite = page.dataset.canWrite === "true";
  const result = document.getElementById("webhook-result");

  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  async function load() {
    const [stats, hooks, dead] = await Promise.all([
      fd.api("GET", "/api/v1/notifications/queue/stats"),
      fd.api("GET", "/api/v1/notifications/webhooks"),
      fd.api("GET", "/api/v1/notifications/dlq?limit=100"),
    ]);
    document.getElementById("queue").replaceChildren(...Object.entries(stats).map(([k, v]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = String(v); dd.dataset.stat = k;
      div.append(dt, dd);
      return div;
    }));
    const rows = hooks.webhooks.map((h) => {
      const cells = [h.name, h.url, h.template, h.min_level, h.has_secret ? "yes" : "no", h.enabled ? "yes" : "no"];
      if (canWrite) {
        const actions = document.createElement("span");
        actions.append(
          button("Test", "outline small", async () => {
            const r = await fd.api("POST", "/api/v1/notifications/webhooks/test", { id: h.id });
            result.textContent = r.delivered ? `${h.name}: delivered (HTTP ${r.status})` : `${h.name}: failed – ${r.error}`;
          }),
          " ",
          button("Delete", "outline secondary small", async () => {
            if (!confirm(`Delete the webhook ${h.name}?`)) return;
            await fd.api("DELETE", `/api/v1/notifications/webhooks/${h.id}`);
            load();
          }),
        );
        cells.push(actions);
      } else cells.push("");
      return cells;
    });
    fd.fillRows(document.querySelector("#webhooks tbody"), rows.length ? rows : [["No webhooks yet."]]);
    fd.fillRows(document.querySelector("#dlq tbody"), dead.messages.length
      ? dead.messages.map((m) => [String(m.id), m.event || "", String(m.attempts), m.last_error || "", m.created_at])
      : [["None."]]);
  }

  document.getElementById("webhook-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    const body = { name: f.name.value, url: f.url.value, template: f.template.value, min_level: f.min_level.value };
    if (f.secret.value) body.secret = f.secret.value;
    try {
      await fd.api("POST", "/api/v1/notifications/webhooks", body);
      event.target.reset();
      document.getElementById("webhook-error").hidden = true;
      load();
    } catch (error) { fd.showError(document.getElementById("webhook-error"), error); }
  });
  document.getElementById("test-all")?.addEventListener("click", async () => {
    const r = await fd.api("POST", "/api/v1/notifications/test");
    result.textContent = `Queued ${r.queued} test message(s).`;
    setTimeout(load, 1500);
  });
  document.getElementById("dlq-retry")?.addEventListener("click", async () => {
    await fd.api("POST", "/api/v1/notifications/dlq/retry", {}); setTimeout(load, 1500);
  });
  document.getElementById("dlq-delete")?.addEventListener("click", async () => {
    if (!confirm("Delete every dead letter?")) return;
    await fd.api("POST", "/api/v1/notifications/dlq/delete", {}); load();
  });
  load();
  setInterval(load, 10000);
});
