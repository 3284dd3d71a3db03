// Overview: one card per host, all updated from one SSE stream of the whole fleet
// (/api/v1/stream/fleet), so watching the overview never switches hosts to live mode.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const cards = new Map();
  for (const card of document.querySelectorAll(".host-card")) cards.set(card.dataset.agent, new Card(card));
  const source = new EventSource("/api/v1/stream/fleet");
  source.addEventListener("summary", (event) => {
    const s = JSON.parse(event.data);
    cards.get(s.agent_id)?.update(s);
  });
  source.addEventListener("status", (event) => {
    const s = JSON.parse(event.data);
    cards.get(s.agent_id)?.status(s.status);
  });
  source.onerror = () => { for (const card of cards.values()) card.status("reconnecting…"); };
});

class Card {
  constructor(el) {
    this.el = el;
    this.xs = [];
    this.ys = [];
    const spark = el.querySelector("[data-spark=cpu]");
    this.spark = new uPlot({
      width: spark.clientWidth || 240, height: 48, legend: { show: false }, cursor: { show: false },
      axes: [{ show: false }, { show: false }], scales: { x: { time: true }, y: { range: [0, 100] } },
      series: [{}, { stroke: "#1095c1", fill: "rgba(16,149,193,0.15)", width: 1.5, points: { show: false } }],
    }, [[], []], spark);
  }

  field(name) { return this.el.querySelector(`[data-field="${name}"]`); }

  status(text) {
    const f = this.field("status");
    f.textContent = text;
    f.dataset.state = text === "online" ? "online" : "offline";
  }

  update(s) {
    if (s.hostname) this.field("hostname").textContent = s.hostname;
    this.status("online");
    this.field("updated").textContent = s.timestamp || "–";
    this.field("cpu").textContent = fd.pct(s.cpu);
    this.field("memory").textContent = fd.pct(s.memory);
    this.field("disk").textContent = fd.pct(s.disk);
    this.field("net").textContent = `${fd.rate(s.rx)} / ${fd.rate(s.tx)}`;
    const t = Date.parse(s.timestamp) / 1000;
    if (!isNaN(t) && (!this.xs.length || t > this.xs[this.xs.length - 1])) {
      this.xs.push(t); this.ys.push(s.cpu);
      if (this.xs.length > 120) { this.xs.shift(); this.ys.shift(); }
      this.spark.setData([this.xs, this.ys]);
    }
  }
}
