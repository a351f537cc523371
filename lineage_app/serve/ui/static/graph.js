// The lineage graph: a Subgraph answer ({nodes, relationships}) drawn as SVG with a layered
// layout (data flows left to right), panned by dragging, zoomed with the wheel; nodes can be
// merged in (expand) and hidden (collapse).

import { basename, el, short } from "./api.js";

const W = 180, H = 42, GAP_X = 44, GAP_Y = 14;
// Relationships along which data flows, as [from-end, to-end] of the drawn arrow.
const FLOW = {
  CONSUMED_BY: (r) => [r.from, r.to],   // version -> the run that read it
  GENERATED: (r) => [r.from, r.to],     // run -> the version it wrote
  DERIVED_FROM: (r) => [r.to, r.from],  // source column -> derived column
};
// Relationships that attach a node beside another (same layer): dataset, job, column, parent.
const ATTACH = new Set(["VERSION_OF", "RUN_OF", "HAS_FIELD", "CHILD_OF"]);
const FILL = { Dataset: "#e3f5e1", DatasetVersion: "#f2f4f0", Job: "#e8eefc", Run: "#fff4d6",
               Field: "#fbe7ef" };
const LABEL_ORDER = { Dataset: 0, Job: 0, DatasetVersion: 1, Run: 1, Field: 2 };

export function nodeTitle(n) {
  if (n.label === "Run") return String(n.job || "").split(":").pop() || "run";
  if (n.label === "Field") return `#${n.name}`;
  return basename(n.name || n.id);
}

export function nodeSubtitle(n) {
  if (n.label === "Run") return `run ${short(n.runId || n.id, 8)} · ${n.state || ""}`;
  if (n.label === "DatasetVersion") return `${n.kind} · v ${short(n.version, 10)}`;
  if (n.label === "Field") return `${basename(n.dataset)} @${short(basename(n.version), 8)}`;
  if (n.label === "Job") return "job";
  return n.kind || n.label;
}

function edgeKey(r) {
  return `${r.from}|${r.type}|${r.to}`;
}

// Layers by longest path: a flow edge moves its head one layer right, an attach edge keeps
// both ends in one layer. Cycles cannot loop: at most nodes.length rounds.
function layers(nodes, rels) {
  const layer = new Map(nodes.map((n) => [n.id, 0]));
  const steps = [];
  for (const r of rels) {
    if (FLOW[r.type]) steps.push([...FLOW[r.type](r), 1]);
    else if (ATTACH.has(r.type)) steps.push([r.from, r.to, 0], [r.to, r.from, 0]);
  }
  for (let round = 0; round < nodes.length; round++) {
    let moved = false;
    for (const [a, b, w] of steps) {
      if (!layer.has(a) || !layer.has(b)) continue;
      const want = layer.get(a) + w;
      if (want > layer.get(b) && want < nodes.length) { layer.set(b, want); moved = true; }
    }
    if (!moved) break;
  }
  return layer;
}

// Positions {id: {x, y}}: columns by layer; in a column, each group (a dataset with its
// versions, a job with its runs) is kept together, groups ordered by their inputs' heights.
function place(nodes, rels) {
  const layer = layers(nodes, rels);
  const group = new Map(nodes.map((n) => [n.id, n.dataset || n.job || n.id]));
  for (const r of rels) if (r.type === "VERSION_OF" || r.type === "RUN_OF") group.set(r.from, r.to);
  const preds = new Map();
  for (const r of rels) if (FLOW[r.type]) {
    const [a, b] = FLOW[r.type](r);
    if (!preds.has(b)) preds.set(b, []);
    preds.get(b).push(a);
  }
  const pos = {};
  const maxLayer = Math.max(0, ...layer.values());
  for (let l = 0; l <= maxLayer; l++) {
    const column = nodes.filter((n) => layer.get(n.id) === l);
    const weight = (n) => {
      const ys = (preds.get(n.id) || []).filter((p) => pos[p]).map((p) => pos[p].y);
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0;
    };
    const groupWeight = new Map();
    for (const n of column) {
      const g = group.get(n.id);
      groupWeight.set(g, Math.max(groupWeight.get(g) ?? -1, weight(n)));
    }
    column.sort((a, b) => groupWeight.get(group.get(a.id)) - groupWeight.get(group.get(b.id))
      || String(group.get(a.id)).localeCompare(String(group.get(b.id)))
      || LABEL_ORDER[a.label] - LABEL_ORDER[b.label]
      || (a.observedAt ?? 0) - (b.observedAt ?? 0) || a.id.localeCompare(b.id));
    column.forEach((n, i) => { pos[n.id] = { x: l * (W + GAP_X), y: i * (H + GAP_Y) }; });
  }
  return pos;
}

export class GraphView {
  // svg: the <svg> element; onSelect(node), onToggle(node): node clicked / double-clicked.
  constructor(svg, { onSelect, onToggle }) {
    this.svg = svg;
    this.onSelect = onSelect;
    this.onToggle = onToggle;
    this.view = { x: 20, y: 20, k: 1 };
    this.clear();
    this.panZoom();
  }

  clear() {
    this.nodes = new Map();
    this.rels = new Map();
    this.hidden = new Map();   // collapsed node id -> the ids it hides
    this.root = null;
    this.selected = null;
  }

  // Replace the graph by a Subgraph answer.
  set(sub) {
    this.clear();
    this.root = sub.root;
    this.merge(sub);
  }

  // Add the nodes and relationships of a Subgraph answer; returns the ids that were new.
  merge(sub) {
    const added = [];
    for (const n of sub.nodes) {
      if (!this.nodes.has(n.id)) added.push(n.id);
      this.nodes.set(n.id, { ...this.nodes.get(n.id), ...n });
    }
    for (const r of sub.relationships) this.rels.set(edgeKey(r), r);
    return added;
  }

  visibleIds() {
    const hidden = new Set([...this.hidden.values()].flat());
    return new Set([...this.nodes.keys()].filter((id) => !hidden.has(id)));
  }

  // Hide what is reachable from the root only through `id` (id itself stays).
  collapse(id) {
    const seen = new Set([this.root, id]);
    const todo = [this.root];
    const visible = this.visibleIds();
    const adj = new Map();
    for (const r of this.rels.values()) {
      for (const [a, b] of [[r.from, r.to], [r.to, r.from]]) {
        if (!adj.has(a)) adj.set(a, []);
        adj.get(a).push(b);
      }
    }
    while (todo.length) {
      const cur = todo.pop();
      if (cur === id) continue;
      for (const next of adj.get(cur) || []) {
        if (!seen.has(next) && visible.has(next)) { seen.add(next); todo.push(next); }
      }
    }
    const hide = [...visible].filter((n) => !seen.has(n));
    if (hide.length) this.hidden.set(id, hide);
    return hide.length;
  }

  // Show again what collapsing `id` hid; true when something was hidden.
  uncollapse(id) {
    return this.hidden.delete(id);
  }

  render() {
    const visible = this.visibleIds();
    const nodes = [...this.nodes.values()].filter((n) => visible.has(n.id));
    const rels = [...this.rels.values()].filter((r) => visible.has(r.from) && visible.has(r.to));
    const pos = place(nodes, rels);
    const layer = el("g", { class: "viewport" },
      rels.map((r) => this.edge(r, pos)), nodes.map((n) => this.node(n, pos[n.id])));
    this.svg.replaceChildren(this.defs(), layer);
    this.layer = layer;
    this.apply();
    this.svg.dataset.nodes = String(nodes.length);
  }

  defs() {
    return el("defs", {}, el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a94a6" })));
  }

  edge(r, pos) {
    const flow = FLOW[r.type];
    const [a, b] = flow ? flow(r) : [r.from, r.to];
    const p = pos[a], q = pos[b];
    const x1 = p.x + (q.x > p.x ? W : q.x < p.x ? 0 : W / 2);
    const x2 = q.x + (q.x > p.x ? 0 : q.x < p.x ? W : W / 2);
    const y1 = p.y + (q.x === p.x ? (q.y > p.y ? H : 0) : H / 2);
    const y2 = q.y + (q.x === p.x ? (q.y > p.y ? 0 : H) : H / 2);
    const mx = (x1 + x2) / 2;
    const d = q.x === p.x ? `M ${x1} ${y1} L ${x2} ${y2}`
      : `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`;
    const cls = flow ? (r.type === "DERIVED_FROM" ? "edge column" : "edge") : "edge attach";
    return el("path", { class: cls, d, "marker-end": flow ? "url(#arrow)" : null,
      "data-type": r.type }, el("title", {}, r.type + (r.transformation ? ` (${r.transformation})` : "")));
  }

  node(n, p) {
    const cls = ["node", n.label, n.id === this.root && "root", n.id === this.selected && "selected",
      n.changed && "changed"].filter(Boolean).join(" ");
    const hidden = (this.hidden.get(n.id) || []).length;
    const g = el("g", { class: cls, transform: `translate(${p.x},${p.y})`, "data-id": n.id,
      "data-label": n.label, "data-kind": n.kind,
      onclick: (e) => { e.stopPropagation(); this.select(n.id); },
      ondblclick: (e) => { e.stopPropagation(); this.onToggle(n); } },
      el("title", {}, n.id),
      el("rect", { width: W, height: H, fill: n.stale ? "#f8c9c4" : FILL[n.label] || "#eee" }),
      el("text", { x: 8, y: 18 }, short(nodeTitle(n), 24)),
      el("text", { x: 8, y: 35, class: "sub" }, short(nodeSubtitle(n), 28)));
    if (n.rank) g.append(el("g", { class: "rank" }, el("circle", { cx: W, cy: 0, r: 10 }),
      el("text", { x: W - 4, y: 4 }, n.rank)));
    if (hidden) g.append(el("g", { class: "more" }, el("text", { x: W - 30, y: 18 }, `+${hidden}`)));
    return g;
  }

  select(id) {
    this.selected = id;
    for (const g of this.svg.querySelectorAll("g.node")) {
      g.classList.toggle("selected", g.dataset.id === id);
    }
    this.onSelect(this.nodes.get(id));
  }

  apply() {
    const { x, y, k } = this.view;
    if (this.layer) this.layer.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
  }

  // Fit the drawing into the SVG's box.
  fit() {
    if (!this.layer) return;
    const box = this.layer.getBBox();
    const { width, height } = this.svg.getBoundingClientRect();
    if (!box.width || !width) return;
    const k = Math.min(1.5, (width - 40) / box.width, (height - 40) / box.height);
    this.view = { k, x: (width - box.width * k) / 2 - box.x * k,
                  y: Math.max(20, (height - box.height * k) / 2) - box.y * k };
    this.apply();
  }

  zoom(factor, cx, cy) {
    const v = this.view;
    const k = Math.min(4, Math.max(0.1, v.k * factor));
    this.view = { k, x: cx - (cx - v.x) * (k / v.k), y: cy - (cy - v.y) * (k / v.k) };
    this.apply();
  }

  panZoom() {
    const svg = this.svg;
    let drag = null;
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect();
      this.zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y };
      svg.classList.add("dragging");
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.view.x = drag.vx + e.clientX - drag.x;
      this.view.y = drag.vy + e.clientY - drag.y;
      this.apply();
    });
    const end = () => { drag = null; svg.classList.remove("dragging"); };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointerleave", end);
  }
}
