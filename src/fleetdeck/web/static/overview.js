// Overview: one card per host, all fed by one SSE stream of the whole fleet
// (/api/v1/stream/fleet), so watching the overview never switches hosts to live mode.
// With hundreds of hosts, cards outside the viewport only keep their data; what is on screen
// is redrawn once per animation frame.
"use strict";

const POINTS = 120;

document.addEventListener("DOMContentLoaded", () => {
  const cards = new Map();
  const dirty = new Set();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    for (const card of dirty) if (card.visible) card.render();
    dirty.clear();
  };
  const touch = (card) => {
    dirty.add(card);
    if (card.visible && !scheduled) { scheduled = true; requestAnimationFrame(flush); }
  };
  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const card = cards.get(entry.target.dataset.agent);
      card.visible = entry.isIntersecting;
      if (card.visible && card.stale) touch(card);
    }
  });
  for (const el of document.querySelectorAll(".host-card")) {
    const card = new Card(el);
    cards.set(el.dataset.agent, card);
    seen.observe(el);
  }
  const source = new EventSource("/api/v1/stream/fleet");
  source.addEventListener("summary", (event) => {
    const s = JSON.parse(event.data);
    const card = cards.get(s.agent_id);
    if (card) { card.take(s); touch(card); }
  });
  source.addEventListener("status", (event) => {
    const s = JSON.parse(event.data);
    const card = cards.get(s.agent_id);
    if (card) { card.state = s.status; card.stale = true; touch(card); }
  });
  source.onerror = () => {
    for (const card of cards.values()) { card.state = "reconnecting…"; card.stale = true; touch(card); }
  };
});

class Card {
  constructor(el) {
    this.el = el;
    this.fields = {};
    for (const f of el.querySelectorAll("[data-field]")) this.fields[f.dataset.field] = f;
    this.line = el.querySelector("[data-spark=cpu]");
    this.ys = [];
    this.last = 0;
    this.summary = null;
    this.state = this.fields.status.textContent;
    this.visible = false;
    this.stale = false;
  }

  take(s) {
    this.summary = s;
    this.state = "online";
    const t = Date.parse(s.timestamp);
    if (!isNaN(t) && t > this.last) {
      this.last = t;
      this.ys.push(s.cpu ?? 0);
      if (this.ys.length > POINTS) this.ys.shift();
    }
    this.stale = true;
  }

  render() {
    this.stale = false;
    const f = this.fields;
    f.status.textContent = this.state;
    f.status.dataset.state = this.state === "online" ? "online" : "offline";
    const s = this.summary;
    if (!s) return;
    if (s.hostname) f.hostname.textContent = s.hostname;
    f.updated.textContent = s.timestamp || "–";
    f.cpu.textContent = fd.pct(s.cpu);
    f.memory.textContent = fd.pct(s.memory);
    f.disk.textContent = fd.pct(s.disk);
    f.net.textContent = `${fd.rate(s.rx)} / ${fd.rate(s.tx)}`;
    const step = 120 / (POINTS - 1);
    const start = 120 - step * (this.ys.length - 1);
    this.line.setAttribute("points", this.ys.map((y, i) =>
      `${(start + i * step).toFixed(1)},${(100 - Math.min(100, Math.max(0, y))).toFixed(1)}`).join(" "));
  }
}
