// Audit log: verify one event's signature and chain link on demand.
"use strict";

// Delegated, so rows htmx swaps in after filtering or paging work too.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-verify]");
  if (!button) return;
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
