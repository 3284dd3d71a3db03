// Host page: live charts from the SSE stream, or history for a chosen range; processes and
// the signal dialog.
"use strict";

const LIVE_POINTS = 300;
const LIVE_SEED_RANGE = "5m";
const LIVE_NOTE = "Live: the last 5 minutes stored, then one point per refresh.";
// Interfaces in the network totals, as tsdb/series.py `in_network_totals` says: not the
// loopback, whose traffic never leaves the host, nor containers' links (veth*) and bridges,
// whose traffic to the outside the host's own interfaces carry again, nor traffic shaping's
// ifb* devices, which carry another interface's incoming traffic a second time.
const BRIDGES = ["docker", "br-", "virbr", "cni", "lxcbr", "podman"];
const counted = (name) => name !== "lo" && !name.startsWith("veth") && !name.startsWith("ifb")
  && !BRIDGES.some((b) => name.startsWith(b));
// Charts of one line per mount, sensor or GPU; a panel shows once its host has such series.
const FAMILY_CHARTS = {
  usage: { families: ["disk"], unit: "%" },
  temp: { families: ["temp"], unit: "°C" },
  gpu: { families: ["gpu.util", "gpu.memory"], unit: "%" },
  ccpu: { families: ["container.cpu"], unit: "%", unbounded: true },  // 100 = one core
  cmem: { families: ["container.memory"], unit: "MiB" },
};
const FAMILIES = Object.values(FAMILY_CHARTS).flatMap((c) => c.families);
const CHART_METRICS = ["cpu,memory,swap,net.rx,net.tx,disk.read,disk.write,load1,load5,load15", ...FAMILIES].join(",");
const palette = ["#1095c1", "#d93526", "#398712", "#9236a4", "#c27a00"];

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("host");
  if (root) new HostPage(root);
});

class HostPage {
  constructor(root) {
    this.root = root;
    this.agent = root.dataset.agent;
    this.canSignal = root.dataset.canSignal === "true";
    this.procKind = "topByCpu";
    this.sort = { key: "cpu", desc: true };
    this.latest = null;
    this.onZoom = (from, to) => this.zoom(from, to);
    // `fam`: per point, the family series it has ({"disk[/]": 41.2, "temp[cpu]": 48, …})
    this.live = { x: [], cpu: [], mem: [], swap: [], rx: [], tx: [], rd: [], wr: [], l1: [], l5: [], l15: [], fam: [] };
    this.charts = {
      cpu: this.chart("cpu", ["CPU"], "%"),
      memory: this.chart("memory", ["memory", "swap"], "%"),
      net: this.chart("net", ["received", "sent"], "B/s"),
      disk: this.chart("disk", ["read", "written"], "B/s"),
      load: this.chart("load", ["1 min", "5 min", "15 min"], ""),
    };
    this.familyCharts = Object.entries(FAMILY_CHARTS).map(([name, spec]) => new FamilyChart(this.root.querySelector(`[data-chart="${name}"]`), spec, this.onZoom));
    this.bindRanges();
    this.bindProcesses();
    this.bindSignal();
    this.panels = new Panels(document.getElementById("panels"), document.getElementById("panel-settings"));
    this.startLive();
    this.seedLive();
    this.openRangeOfAddress();
  }

  // `?range=1h`, or `?from=…&to=…` (Unix seconds or ISO 8601, as the history API takes them):
  // what a shared link or an alert's "show on the host page" asks for.
  openRangeOfAddress() {
    const asked = new URLSearchParams(location.search);
    const ranges = [...this.root.querySelectorAll("[data-range]")].map((b) => b.dataset.range);
    if (asked.get("from")) {
      const span = new URLSearchParams();
      for (const key of ["from", "to"]) if (asked.get(key)) span.set(key, asked.get(key));
      this.setRange("zoom", span.toString());
    } else if (ranges.includes(asked.get("range"))) {
      this.setRange(asked.get("range"));
    }
  }

  field(name) { return this.root.querySelector(`[data-field="${name}"]`); }

  chart(name, labels, unit) {
    const el = this.root.querySelector(`[data-chart="${name}"]`);
    const plot = makePlot(el, labels, unit, this.onZoom);
    new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 280), height: 180 })).observe(el);
    return plot;
  }

  startLive() {
    this.source = new EventSource("/api/v1/stream?agent_id=" + encodeURIComponent(this.agent));
    this.source.addEventListener("metrics", (event) => this.onSnapshot(JSON.parse(event.data)));
    this.source.addEventListener("status", (event) => {  // an agent went away or came back
      const { status } = JSON.parse(event.data);
      const field = this.field("status");
      field.textContent = status === "offline" ? `offline since ${new Date().toISOString().slice(0, 19)}Z` : status;
      field.dataset.state = status;
    });
    this.source.onerror = () => { this.field("status").textContent = "reconnecting…"; this.field("status").dataset.state = "offline"; };
  }

  onSnapshot(m) {
    this.latest = m;
    this.field("hostname").textContent = m.system.hostname;
    this.field("facts").textContent = `${m.system.architecture} · kernel ${m.system.kernel} · ${m.cpu.cores.length} cores · ${fd.bytes(m.memory.total)} memory · up ${fd.duration(m.system.uptime)}`;
    this.field("status").textContent = "online";
    this.field("status").dataset.state = "online";
    const L = this.live;
    L.x.push(Date.parse(m.timestamp) / 1000);
    L.cpu.push(m.cpu.totalUsage);
    L.mem.push(100 * m.memory.used / m.memory.total);  // used / total, as the history stores it
    L.swap.push(m.memory.swapTotal ? 100 * m.memory.swapUsed / m.memory.swapTotal : 0);
    const external = m.network.interfaces.filter((i) => counted(i.name));
    L.rx.push(external.reduce((s, i) => s + (i.rxRate || 0), 0));
    L.tx.push(external.reduce((s, i) => s + (i.txRate || 0), 0));
    L.rd.push(m.disk.io.reduce((s, d) => s + (d.readRate || 0), 0));
    L.wr.push(m.disk.io.reduce((s, d) => s + (d.writeRate || 0), 0));
    L.l1.push(m.cpu.loadAverage.one); L.l5.push(m.cpu.loadAverage.five); L.l15.push(m.cpu.loadAverage.fifteen);
    L.fam.push(familyValues(m));
    if (L.x.length > LIVE_POINTS) for (const k in L) L[k].shift();
    if (this.range === undefined || this.range === "live") this.drawLive();
    this.renderProcesses();
    this.renderTable("containers", m.docker.containers.map((c) => [c.name, c.image, c.status, c.cpu.toFixed(1), fd.bytes(c.memory)]), m.docker.available, "Docker is not available on this host.");
    this.renderTable("services", m.systemd.services.map((s) => [s.name, s.state, s.subState]), m.systemd.available, "systemd is not available on this host.");
  }

  drawLive() { this.draw(this.live); }

  draw(columns) {
    const c = withGaps(columns);
    this.charts.cpu.setData([c.x, c.cpu]);
    this.charts.memory.setData([c.x, c.mem, c.swap]);
    this.charts.net.setData([c.x, c.rx, c.tx]);
    this.charts.disk.setData([c.x, c.rd, c.wr]);
    this.charts.load.setData([c.x, c.l1, c.l5, c.l15]);
    for (const chart of this.familyCharts) chart.draw(c.x, c.fam);
  }

  history(query) {
    return fd.api("GET", `/api/v1/history?${query}&agent_id=${encodeURIComponent(this.agent)}&metrics=${CHART_METRICS}`);
  }

  // The live charts open on the last minutes the store holds, not on an empty frame: stored
  // points older than the first streamed one go in front of it.
  async seedLive() {
    let h;
    try { h = await this.history(`range=${LIVE_SEED_RANGE}&resolution=raw`); } catch (error) { return; }
    const stored = historyColumns(h);
    const L = this.live;
    const first = L.x.length ? L.x[0] : Infinity;
    const n = stored.x.findIndex((t) => t >= first);
    const older = n === -1 ? stored.x.length : n;
    for (const k in L) L[k] = stored[k].slice(0, older).concat(L[k]).slice(-LIVE_POINTS);
    document.getElementById("range-note").dataset.seeded = older;
    if (this.range === undefined || this.range === "live") this.drawLive();
  }

  bindRanges() {
    for (const button of this.root.querySelectorAll("[data-range]")) {
      button.addEventListener("click", () => this.setRange(button.dataset.range));
    }
  }

  // `range` is live, one of the buttons' ranges, or "zoom" (a span dragged on a chart: `span`
  // is its query, from and to in Unix seconds).
  async setRange(range, span) {
    this.range = range;
    for (const b of this.root.querySelectorAll("[data-range]")) {
      const on = b.dataset.range === range;
      b.setAttribute("aria-pressed", on); b.classList.toggle("outline", !on);
    }
    const note = document.getElementById("range-note");
    const shown = span || `range=${range}`;  // the history query, and the address's
    const query = range === "live" ? `range=${LIVE_SEED_RANGE}&resolution=raw` : shown;
    history.replaceState(null, "", location.pathname + (range === "live" ? "" : "?" + shown));
    document.getElementById("export-csv").href = `/api/v1/export/metrics?format=csv&${query}&agent_id=${encodeURIComponent(this.agent)}`;
    if (range === "live") { note.textContent = LIVE_NOTE; this.drawLive(); return; }
    note.textContent = `Loading ${range}…`;
    try {
      const h = await this.history(shown);
      if (this.range !== range) return;
      this.draw(historyColumns(h));
      note.textContent = `${range}: ${h.data.length} points at ${h.resolution} resolution (averages), ${h.from} – ${h.to}.`;
      if (range === "zoom") note.textContent += " Drag again to zoom further; a range button goes back.";
      note.dataset.points = h.data.length;
    } catch (error) {
      note.textContent = "Could not load history: " + error.message;
    }
  }

  // A span dragged on any chart: every chart shows it, at the finest resolution that fits.
  zoom(from, to) {
    if (to - from < 1) return;  // a click, not a drag
    this.setRange("zoom", `from=${Math.floor(from)}&to=${Math.ceil(to)}`);
  }

  bindProcesses() {
    for (const button of this.root.querySelectorAll("[data-procs]")) {
      button.addEventListener("click", () => {
        this.procKind = button.dataset.procs;
        this.sort = { key: this.procKind === "topByCpu" ? "cpu" : "memory", desc: true };
        for (const b of this.root.querySelectorAll("[data-procs]")) {
          const on = b === button; b.setAttribute("aria-pressed", on); b.classList.toggle("outline", !on);
        }
        this.renderProcesses();
      });
    }
    for (const th of this.root.querySelectorAll("#processes th[data-key]")) {
      const sortBy = () => {
        const key = th.dataset.key;
        this.sort = { key, desc: this.sort.key === key ? !this.sort.desc : th.dataset.type === "num" };
        this.renderProcesses();
      };
      th.addEventListener("click", sortBy);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(); } });
    }
    const lookup = document.getElementById("pid-lookup");
    lookup.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("pid-result");
      const pid = lookup.elements.pid.value;
      try {
        const p = await fd.api("GET", `/api/v1/processes/${pid}?agent_id=${encodeURIComponent(this.agent)}`);
        const line = document.createElement("p");
        line.textContent = `${p.pid} ${p.name} (${p.user}) – ${p.state}, ${fd.bytes(p.memory)} resident`;
        line.dataset.pid = p.pid;
        if (this.canSignal) line.append(" ", this.signalButton(p));
        out.replaceChildren(line);
      } catch (error) {
        out.textContent = error.message;
      }
    });
  }

  renderProcesses() {
    if (!this.latest) return;
    const { key, desc } = this.sort;
    const rows = [...this.latest.processes[this.procKind]].sort((a, b) => {
      const av = a[key], bv = b[key];
      const order = typeof av === "number" ? av - bv : String(av).localeCompare(String(bv));
      return desc ? -order : order;
    });
    for (const th of this.root.querySelectorAll("#processes th[data-key]")) {
      th.setAttribute("aria-sort", th.dataset.key === key ? (desc ? "descending" : "ascending") : "none");
    }
    fd.fillRows(this.root.querySelector("#processes tbody"), rows.map((p) => {
      const cells = [String(p.pid), p.name, p.user || "", p.cpu.toFixed(1), fd.bytes(p.memory), p.state];
      if (this.canSignal) cells.push(this.signalButton(p));
      return cells;
    }));
  }

  signalButton(p) {
    const button = document.createElement("button");
    button.type = "button"; button.className = "outline secondary small";
    button.textContent = "Signal…";
    button.addEventListener("click", () => this.openSignal(p));
    return button;
  }

  bindSignal() {
    const dialog = document.getElementById("signal-dialog");
    dialog.querySelector("[data-action=cancel]").addEventListener("click", () => dialog.close());
    dialog.querySelector("[data-action=send]").addEventListener("click", async () => {
      const error = dialog.querySelector(".error");
      try {
        const signal = Number(dialog.querySelector("select").value);
        await fd.api("POST", `/api/v1/processes/${this.target.pid}/signal?agent_id=${encodeURIComponent(this.agent)}`, { signal });
        dialog.close();
        const result = document.getElementById("pid-result");
        result.textContent = `Sent signal ${signal} to ${this.target.pid} (${this.target.name}).`;
      } catch (e) {
        fd.showError(error, e);
      }
    });
  }

  openSignal(p) {
    this.target = p;
    const dialog = document.getElementById("signal-dialog");
    dialog.querySelector("[data-field=target]").textContent = `${p.name} (PID ${p.pid})`;
    dialog.querySelector(".error").hidden = true;
    dialog.showModal();
  }

  renderTable(id, rows, available, absent) {
    const tbody = document.querySelector(`#${id} tbody`);
    fd.fillRows(tbody, available ? (rows.length ? rows : [["none"]]) : [[absent]]);
  }
}

// A history reply as the charts' columns (the same as `HostPage.live`): rates summed over
// interfaces (those `counted`) and devices, averages at rollup resolutions.
function historyColumns(h) {
  const sum = (p, family, keep = () => true) => Object.keys(p)
    .filter((k) => (k === family || k.startsWith(family + "[")) && keep(k.slice(family.length + 1, -1)))
    .reduce((s, k) => s + p[k].avg, 0);
  const avg = (p, key) => (p[key] ? p[key].avg : null);
  const column = (f) => h.data.map(f);
  return {
    x: column((p) => Date.parse(p.timestamp) / 1000),
    cpu: column((p) => avg(p, "cpu")), mem: column((p) => avg(p, "memory")), swap: column((p) => avg(p, "swap")),
    rx: column((p) => sum(p, "net.rx", counted)), tx: column((p) => sum(p, "net.tx", counted)),
    rd: column((p) => sum(p, "disk.read")), wr: column((p) => sum(p, "disk.write")),
    l1: column((p) => avg(p, "load1")), l5: column((p) => avg(p, "load5")), l15: column((p) => avg(p, "load15")),
    fam: column((p) => Object.fromEntries(Object.keys(p).filter((k) => FAMILIES.includes(family(k))).map((k) => [k, p[k].avg]))),
  };
}

const family = (key) => key.split("[", 1)[0];
const MIB = 1024 * 1024;
const pct = (used, total) => (total ? Math.round(10000 * used / total) / 100 : 0);

// A snapshot's family series, keyed as the history keys them (tsdb/series.py).
function familyValues(m) {
  const out = {};
  for (const mount of (m.disk && m.disk.mounts) || []) out[`disk[${mount.mountpoint}]`] = pct(mount.used, mount.total);
  for (const sensor of (m.temperature && m.temperature.sensors) || []) {
    if (sensor.value != null) out[`temp[${sensor.name}]`] = sensor.value;
  }
  for (const gpu of (m.gpu && m.gpu.gpus) || []) {
    out[`gpu.util[${gpu.index}]`] = gpu.utilization;
    out[`gpu.memory[${gpu.index}]`] = pct(gpu.memoryUsed, gpu.memoryTotal);
  }
  for (const c of (m.docker && m.docker.containers) || []) {
    if (c.status !== "running") continue;
    if (c.cpu != null) out[`container.cpu[${c.name}]`] = c.cpu;
    if (c.memory != null) out[`container.memory[${c.name}]`] = Math.round(100 * c.memory / MIB) / 100;
  }
  return out;
}

// `onZoom(from, to)` gets the span (Unix seconds) dragged across the chart.
function makePlot(el, labels, unit, onZoom, unbounded = false) {
  const fmt = unit === "B/s" ? (u, v) => fd.rate(v) : unit === "%" ? (u, v) => fd.pct(v) : (u, v) => v == null ? "–" : v.toFixed(unit ? 1 : 2) + (unit ? " " + unit : "");
  const opts = {
    width: Math.max(el.clientWidth, 280), height: 180,
    scales: { x: { time: true }, y: unit === "%" && !unbounded ? { range: [0, 100] } : {} },
    // Ticks at least 90 px apart: the date under the first one ("12/4/26 1:24am") is wider
    // than uPlot's default 50 px and ran into the next tick's time.
    axes: [{ space: 90 }, { values: (u, vals) => vals.map((v) => fmt(u, v)), size: unit === "B/s" || unit === "MiB" ? 84 : 70 }],
    series: [{}, ...labels.map((label, i) => ({ label, stroke: palette[i % palette.length], width: 1.5, value: fmt }))],
    cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: "host" } },  // one crosshair on all
    hooks: {
      setSelect: [(u) => {
        if (!u.select.width) return;
        const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        onZoom(from, to);
      }],
    },
  };
  return new uPlot(opts, [[], ...labels.map(() => [])], el);
}

// One line per series of some families (mounts, sensors, GPUs): the lines follow what the
// points carry, and the panel stays hidden while there are none.
class FamilyChart {
  constructor(el, spec, onZoom) {
    this.el = el;
    this.spec = spec;
    this.onZoom = onZoom;
    this.panel = el.closest("[data-panel]");
    this.keys = [];
    this.plot = null;
    new ResizeObserver(() => this.plot?.setSize({ width: Math.max(el.clientWidth, 280), height: 180 })).observe(el);
  }

  draw(x, points) {
    const keys = [...new Set(points.flatMap((p) => Object.keys(p || {})))]
      .filter((k) => this.spec.families.includes(family(k))).sort();
    this.panel.classList.toggle("absent", keys.length === 0);
    this.panel.dataset.series = keys.join(",");
    if (!keys.length) return;
    if (keys.join("\n") !== this.keys.join("\n")) {
      this.plot?.destroy();
      this.keys = keys;
      this.plot = makePlot(this.el, keys.map((k) => this.label(k)), this.spec.unit, this.onZoom, this.spec.unbounded);
    }
    this.plot.setData([x, ...keys.map((k) => points.map((p) => (p && p[k] != null ? p[k] : null)))]);
  }

  label(key) {
    const name = key.slice(key.indexOf("[") + 1, -1);
    if (key.startsWith("gpu.")) return `GPU ${name} ${family(key) === "gpu.util" ? "use" : "memory"}`;
    return name;
  }
}

// Where points are missing (the host or the server was down), a null after the last point
// before the hole, so the lines break there instead of bridging it. A hole is a step more than
// three times the usual (median) one.
function withGaps(c) {
  const steps = c.x.slice(1).map((t, i) => t - c.x[i]).sort((a, b) => a - b);
  const usual = steps[steps.length >> 1];
  if (!(usual > 0)) return c;  // no steps, or most points share a second
  const out = Object.fromEntries(Object.keys(c).map((k) => [k, []]));
  for (let i = 0; i < c.x.length; i++) {
    if (i && c.x[i] - c.x[i - 1] > 3 * usual) {
      for (const k in c) out[k].push(k === "x" ? c.x[i - 1] + usual : null);
    }
    for (const k in c) out[k].push(c[k][i]);
  }
  return out;
}

// Which panels show, in what order: stored per user through /api/v1/user/panel-config.
class Panels {
  constructor(container, settings) {
    this.container = container;
    this.settings = settings;
    this.list = settings.querySelector("ol");
    settings.querySelector("#panels-save").addEventListener("click", () => this.save());
    this.load();
  }

  articles() { return [...this.container.querySelectorAll(":scope > [data-panel]")]; }

  async load() {
    let saved = [];
    try { saved = (await fd.api("GET", "/api/v1/user/panel-config")).panels; } catch (error) { /* defaults */ }
    this.apply(saved);
  }

  apply(saved) {
    const byId = new Map(this.articles().map((a) => [a.dataset.panel, a]));
    const order = [...saved.map((p) => p.id).filter((id) => byId.has(id)),
                   ...[...byId.keys()].filter((id) => !saved.some((p) => p.id === id))];
    const visible = new Map(saved.map((p) => [p.id, p.visible !== false]));
    for (const id of order) {
      const article = byId.get(id);
      article.hidden = visible.get(id) === false;
      this.container.append(article);
    }
    this.renderList();
  }

  renderList() {
    this.list.replaceChildren(...this.articles().map((article) => {
      const li = document.createElement("li");
      li.dataset.panel = article.dataset.panel;
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.checked = !article.hidden;
      box.addEventListener("change", () => { article.hidden = !box.checked; });
      label.append(box, " " + article.dataset.title);
      const up = this.mover("↑", "Move up", () => article.previousElementSibling?.before(article));
      const down = this.mover("↓", "Move down", () => article.nextElementSibling?.after(article));
      li.append(label, up, down);
      return li;
    }));
  }

  mover(text, title, move) {
    const button = document.createElement("button");
    button.type = "button"; button.className = "outline small"; button.textContent = text;
    button.title = title; button.setAttribute("aria-label", title);
    button.addEventListener("click", () => { move(); this.renderList(); });
    return button;
  }

  async save() {
    const panels = this.articles().map((a) => ({ id: a.dataset.panel, visible: !a.hidden }));
    const out = this.settings.querySelector("#panels-result");
    try {
      await fd.api("PUT", "/api/v1/user/panel-config", { panels });
      out.textContent = "Saved.";
    } catch (error) { out.textContent = error.message; }
  }
}
