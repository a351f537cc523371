// The lineage graph page:
// #/node/<id>?dir=upstream|downstream&depth=N&asOf=MS&column=NAME&since=MS&granularity=G.
// A toolbar (direction, depth, column, granularity, the start of a time window, the time
// slider: the graph as of a time, the window's end), the graph, and a panel with the
// selected node, its expand/collapse buttons and links.

import { api, basename, el, fmtTime, fmtValue, kvTable, link, status } from "./api.js";
import { GraphView, nodeTitle } from "./graph.js";

const SKIP = new Set(["id", "label", "depth"]);

const GRANULARITIES = ["run", "application", "job", "dataset"];

function fetchSub(s, asOf) {
  return api(s.dir, { node: s.id, depth: s.depth, asOf, column: s.column, since: s.since,
    granularity: s.granularity === "run" ? null : s.granularity });
}

// A datetime-local input's value (local time) in epoch ms, and back.
function localMs(text) { return text ? new Date(text).getTime() : null; }
function localText(ms) {
  if (ms === null) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

// Every time a node of the answer was observed, sorted, distinct, from when the root was
// first observed (before it, the root is not in the graph).
function timesOf(sub) {
  const first = sub.nodes[0]?.observedAt ?? 0;
  const t = sub.nodes.map((n) => n.observedAt).filter((v) => typeof v === "number" && v >= first);
  return [...new Set(t)].sort((a, b) => a - b);
}

function writeHash(s) {
  history.replaceState(null, "", link("node", s.id, { dir: s.dir, depth: s.depth,
    asOf: s.asOf, column: s.column, since: s.since,
    granularity: s.granularity === "run" ? null : s.granularity }));
}

function toolbar(s, page) {
  const dir = el("select", { id: "dir", onchange: (e) => { s.dir = e.target.value; page.reload(); } },
    ["upstream", "downstream"].map((d) => el("option", { value: d, selected: d === s.dir }, d)));
  const depth = el("input", { id: "depth", type: "number", min: 0, max: 100, value: s.depth,
    onchange: (e) => { s.depth = Number(e.target.value) || 0; page.reload(); } });
  const column = el("select", { id: "column", onchange: (e) => {
    location.hash = link("node", s.id, { dir: s.dir, column: e.target.value }); } },
    el("option", { value: "" }, s.column ? `#${s.column}` : "(whole dataset)"));
  const grain = el("select", { id: "granularity", title: "collapse runs into their "
      + "application or job, or leave dataset-to-dataset lineage",
    onchange: (e) => { s.granularity = e.target.value; page.reload(); } },
    GRANULARITIES.map((g) => el("option", { value: g, selected: g === s.granularity }, g)));
  const since = el("input", { id: "since", type: "datetime-local", value: localText(s.since),
    title: "only runs that ran since then (the window ends at the slider's time)",
    onchange: (e) => { s.since = localMs(e.target.value); page.reload(); } });
  const slider = el("input", { id: "asof", type: "range", min: 0, max: 1, step: 1, value: 1,
    list: "asof-ticks", disabled: true,
    oninput: () => page.label(), onchange: (e) => page.moveTo(Number(e.target.value)) });
  return el("div", { class: "toolbar" },
    el("strong", { class: "mono", title: s.id }, basename(s.id) + (s.column ? `#${s.column}` : "")),
    el("label", {}, "direction", dir), el("label", {}, "depth", depth),
    el("label", {}, "column", column), el("label", {}, "by", grain),
    el("label", {}, "since", since),
    el("label", {}, "as of",
      el("button", { id: "asof-prev", type: "button", title: "previous change",
        onclick: () => page.step(-1) }, "◀"),
      slider, el("datalist", { id: "asof-ticks" }),
      el("button", { id: "asof-next", type: "button", title: "next change",
        onclick: () => page.step(1) }, "▶"),
      el("span", { id: "asof-label", class: "small" }, "latest")),
    el("button", { id: "asof-latest", type: "button", onclick: () => page.moveTo(null) }, "latest"),
    el("button", { type: "button", onclick: () => page.graph.fit() }, "fit"));
}

async function loadColumns(s, select) {
  if (s.column) select.append(el("option", { value: "" }, "(whole dataset)"));
  try {
    const fields = await api("fields", { dataset: s.id.split("#")[0] });
    for (const f of fields) select.append(el("option", { value: f.name }, f.name));
  } catch {
    select.disabled = !s.column;  // jobs and runs have no columns
  }
}

function panel(page, n) {
  const aside = page.aside;
  if (!n) { aside.replaceChildren(el("p", { class: "small" }, "Click a node; double-click expands or collapses it.")); return; }
  const props = Object.entries(n).filter(([k, v]) => !SKIP.has(k) && v !== null && v !== undefined)
    .map(([k, v]) => [k, k.endsWith("Time") || k.endsWith("At") ? fmtTime(v) : fmtValue(v)]);
  const go = (params) => link("node", n.id, params);
  aside.replaceChildren(
    el("h3", {}, nodeTitle(n)), el("div", { class: "mono small" }, n.id),
    el("div", { class: "buttons" },
      el("button", { type: "button", id: "expand", onclick: () => page.expand(n) }, "expand"),
      el("button", { type: "button", id: "collapse", onclick: () => page.collapse(n) }, "collapse"),
      el("a", { href: go({ dir: "upstream" }) }, "upstream"),
      el("a", { href: go({ dir: "downstream" }) }, "downstream"),
      n.label === "Run" && el("a", { href: link("run", n.runId || n.id) }, "run page"),
      n.label === "Field" && el("a", { href: link("node", n.version, { column: n.name }) },
        "column lineage")),
    kvTable(props));
}

export class NodePage {
  constructor(view, params, id) {
    this.s = { id, dir: params.get("dir") || "upstream", depth: Number(params.get("depth") || 10),
      asOf: params.has("asOf") ? Number(params.get("asOf")) : null, column: params.get("column"),
      since: params.has("since") ? Number(params.get("since")) : null,
      granularity: GRANULARITIES.includes(params.get("granularity"))
        ? params.get("granularity") : "run" };
    this.view = view;
    this.expanded = new Set();
    this.times = [];
    const svg = el("svg", { id: "graph", "data-as-of": "" });
    this.aside = el("aside", { id: "details" });
    const bar = toolbar(this.s, this);
    view.replaceChildren(el("div", { class: "graphpage" }, bar, el("div", { class: "graphrow" }, svg, this.aside)));
    this.graph = new GraphView(svg, { onSelect: (n) => panel(this, n), onToggle: (n) => this.toggle(n) });
    panel(this, null);
    this.columns = bar.querySelector("#column");
  }

  // Fetch the latest answer (the slider's range) and the one as of the chosen time; draw.
  async reload() {
    this.view.dataset.state = "loading";
    status(`loading ${this.s.dir} of ${this.s.id}…`);
    writeHash(this.s);
    const latest = await fetchSub(this.s, null);
    this.times = timesOf(latest);
    const root = latest.nodes[0] || {};
    if (this.s.column || root.label === "Dataset" || root.label === "DatasetVersion") {
      if (this.columns.options.length < 2) loadColumns(this.s, this.columns);
    } else this.columns.disabled = true;
    const slider = document.getElementById("asof");
    const ticks = document.getElementById("asof-ticks");
    ticks.replaceChildren(...this.times.map((t) => el("option", { value: t })));
    if (this.times.length) {
      slider.min = String(this.times[0]);
      slider.max = String(this.times[this.times.length - 1]);
      slider.disabled = false;
    }
    await this.draw(this.s.asOf === null ? latest : null);
  }

  async draw(answer) {
    this.view.dataset.state = "loading";
    const sub = answer || await fetchSub(this.s, this.s.asOf);
    this.expanded.clear();
    this.graph.set(sub);
    this.graph.render();
    this.graph.fit();
    const slider = document.getElementById("asof");
    slider.value = String(this.s.asOf ?? slider.max);
    this.label();
    this.graph.svg.dataset.asOf = this.s.asOf === null ? "latest" : String(this.s.asOf);
    status(`${sub.nodes.length} nodes, ${sub.relationships.length} relationships` +
      (this.s.asOf === null ? "" : ` as of ${fmtTime(this.s.asOf)}`));
    this.view.dataset.state = "ready";
  }

  label() {
    const slider = document.getElementById("asof");
    const atEnd = this.s.asOf === null && Number(slider.value) === Number(slider.max);
    document.getElementById("asof-label").textContent =
      atEnd ? "latest" : fmtTime(Number(slider.value));
  }

  // Redraw as of `ms` (null: now).
  async moveTo(ms) {
    this.s.asOf = ms;
    writeHash(this.s);
    try { await this.draw(null); } catch (e) { this.fail(e); }
  }

  // Move the slider to the previous (-1) or next (+1) time a node was observed.
  step(dir) {
    const cur = this.s.asOf ?? Infinity;
    const t = dir < 0 ? [...this.times].reverse().find((x) => x < cur)
      : this.times.find((x) => x > cur);
    if (t !== undefined) this.moveTo(dir > 0 && t === this.times[this.times.length - 1] ? null : t);
  }

  async expand(n) {
    if (this.graph.uncollapse(n.id)) { this.redraw(); return; }
    status(`expanding ${n.id}…`);
    const asOf = this.s.asOf;
    const [up, down] = await Promise.all(["upstream", "downstream"].map((d) =>
      api(d, { node: n.id, depth: 1, asOf }).catch(() => ({ nodes: [], relationships: [] }))));
    const added = [...this.graph.merge(up), ...this.graph.merge(down)];
    this.expanded.add(n.id);
    this.redraw();
    status(`expanded ${nodeTitle(n)}: ${added.length} new nodes`);
  }

  collapse(n) {
    const hid = this.graph.collapse(n.id);
    this.expanded.delete(n.id);
    this.redraw();
    status(`collapsed ${nodeTitle(n)}: ${hid} nodes hidden`);
  }

  toggle(n) {
    if (this.graph.hidden.has(n.id) || !this.expanded.has(n.id)) this.expand(n).catch((e) => this.fail(e));
    else this.collapse(n);
  }

  redraw() {
    this.graph.render();
    if (this.graph.selected) this.graph.select(this.graph.selected);
  }

  fail(e) {
    this.view.dataset.state = "error";
    status(e.message, true);
  }
}
