// Overview: one card per host, updated live from the SSE stream.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const card of document.querySelectorAll(".host-card")) watch(card);
});

function sparkline(el) {
  const opts = {
    width: el.clientWidth || 240, height: 48, legend: { show: false }, cursor: { show: false },
    axes: [{ show: false }, { show: false }], scales: { x: { time: true }, y: { range: [0, 100] } },
    series: [{}, { stroke: "#1095c1", fill: "rgba(16,149,193,0.15)", width: 1.5, points: { show: false } }],
  };
  return new uPlot(opts, [[], []], el);
}

function watch(card) {
  const agent = card.dataset.agent;
  const field = (name) => card.querySelector(`[data-field="${name}"]`);
  const spark = sparkline(card.querySelector("[data-spark=cpu]"));
  const xs = [], ys = [];
  const source = new EventSource("/api/v1/stream?agent_id=" + encodeURIComponent(agent));
  source.addEventListener("metrics", (event) => {
    const m = JSON.parse(event.data);
    field("hostname").textContent = m.system.hostname;
    field("status").textContent = "online";
    field("updated").textContent = m.timestamp;
    field("status").dataset.state = "online";
    field("cpu").textContent = fd.pct(m.cpu.totalUsage);
    const mem = m.memory;
    field("memory").textContent = fd.pct(100 * (mem.total - mem.available) / mem.total);
    const root = m.disk.mounts.find((d) => d.mountpoint === "/") || m.disk.mounts[0];
    field("disk").textContent = root ? fd.pct(100 * root.used / root.total) : "–";
    const rx = m.network.interfaces.reduce((s, i) => s + (i.rxRate || 0), 0);
    const tx = m.network.interfaces.reduce((s, i) => s + (i.txRate || 0), 0);
    field("net").textContent = `${fd.rate(rx)} / ${fd.rate(tx)}`;
    xs.push(Date.parse(m.timestamp) / 1000); ys.push(m.cpu.totalUsage);
    if (xs.length > 120) { xs.shift(); ys.shift(); }
    spark.setData([xs, ys]);
  });
  source.onerror = () => {
    field("status").textContent = "reconnecting…";
    field("status").dataset.state = "offline";
  };
}
