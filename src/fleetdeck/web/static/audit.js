// Audit log: verify one event's signature and chain link on demand.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-verify]")) {
    button.addEventListener("click", async () => {
      const id = button.dataset.verify;
      const out = document.querySelector(`[data-verdict="${id}"]`);
      try {
        const v = await fd.api("GET", `/api/v1/audit/${id}/verify`);
        out.textContent = v.verified ? "✓ verified" : "✗ " + v.message;
        out.dataset.verified = v.verified;
      } catch (error) {
        out.textContent = error.message;
      }
    });
  }
});
