// The run page: #/run/<runId>. The run, its ranked root cause (GET /api/v1/root-cause) with
// the chains drawn, and what differs from the baseline run (GET /api/v1/diff).

import { api, basename, el, fmtTime, fmtValue, kvTable, link, short, status, table } from "./api.js";
import { GraphView } from "./graph.js";

function changes(obj) {
  return table(["", "before", "after", "delta"], Object.entries(obj || {}).map(([k, c]) =>
    [k, fmtValue(c.before), fmtValue(c.after), fmtValue(c.delta)]));
}

function nodeLink(id, text) {
  return el("a", { href: link("node", id) }, text || id);
}

function evidence(c) {
  const ev = c.evidence || {};
  const parts = [];
  if (ev.drift?.length) parts.push(el("div", { class: "small" }, "columns that moved:"),
    table(["column", "stat", "before", "after", "drift"], ev.drift.map((d) =>
      [el("strong", { class: "column" }, d.name), d.stat, fmtValue(d.before), fmtValue(d.after),
       fmtValue(d.drift)])));
  const schema = ev.schema || {};
  for (const key of ["added", "removed"]) if (schema[key]?.length)
    parts.push(el("div", { class: "small" }, `columns ${key}: ${schema[key].join(", ")}`));
  if (ev.quality?.length) parts.push(el("div", { class: "small" }, "failed checks:"),
    table(["assertion", "column", "expected", "actual"], ev.quality.map((q) =>
      [q.assertion, q.column ?? "", fmtValue(q.expected), fmtValue(q.actual)])));
  if (ev.before || ev.after) parts.push(el("div", { class: "small mono" },
    `version ${short(ev.before?.version, 16)} → ${short(ev.after?.version, 16)}`));
  return parts;
}

function candidate(c) {
  return el("div", { class: `card candidate rank${c.rank}`, "data-rank": c.rank },
    el("h4", {}, `#${c.rank} `, el("span", { class: `badge ${c.severity}` }, c.severity), " ",
      el("span", { class: "badge" }, c.type), " ", nodeLink(c.dataset || c.node,
        c.dataset || c.job || c.node)),
    el("div", {}, c.summary),
    ...evidence(c),
    el("div", { class: "small" }, "chain: ", c.chain.map((x, i) => [i ? " → " : "",
      el("a", { href: x.label === "Run" ? link("run", x.id) : link("node", x.id), title: x.id },
        x.label === "Run" ? `run ${short(x.id, 8)} (${basename(x.job || "")})` : basename(x.dataset || x.id.split("@")[0]))])));
}

function rootCauseCard(rc) {
  const graphBox = el("svg", { id: "rc-graph", class: "rcgraph" });
  const card = el("section", { class: "card", id: "rootcause" },
    el("h3", {}, "Root cause"),
    el("div", {}, "compared with ", el("a", { href: link("run", rc.baseline.runId) },
      short(rc.baseline.runId, 13)), el("span", { class: "small" }, ` — ${rc.baseline.reason}`)),
    changes(rc.metrics),
    rc.candidates.length ? rc.candidates.map(candidate)
      : el("p", {}, "no candidate cause: nothing upstream changed."),
    el("h4", {}, "chains"), graphBox);
  return [card, graphBox];
}

function versionChange(v) {
  const cols = (v.columns || []).map((c) => `${c.name}: ${c.stat} ×${fmtValue(c.moved)}`).join("; ");
  return [nodeLink(v.dataset, basename(v.dataset)), v.status, short(v.before?.version, 12),
    short(v.after?.version, 12), cols];
}

function diffCard(d) {
  const rows = [...(d.inputs || []).map((v) => ["input", ...versionChange(v)]),
                ...(d.outputs || []).map((v) => ["output", ...versionChange(v)])];
  const section = (title, obj) => Object.keys(obj || {}).length
    ? [el("h4", {}, title), changes(obj)] : [];
  return el("section", { class: "card", id: "diff" },
    el("h3", {}, `Diff against run ${short(d.runA.runId, 13)}`),
    table(["", "dataset", "status", "before", "after", "columns moved"], rows),
    el("div", { class: "small" }, `unchanged inputs: ${(d.unchangedInputs || []).map(basename).join(", ") || "none"}`),
    section("parameters", d.parameters), section("metrics", d.metrics),
    section("code", d.code), section("environment", d.environment));
}

function runHeader(r) {
  return [el("h2", {}, "Run ", el("span", { class: "mono" }, r.runId || r.uid), " ",
      el("span", { class: `badge ${r.state}` }, r.state || "")),
    el("div", { class: "runtop" }, kvTable([["job", r.jobUid ? nodeLink(r.jobUid) : ""], ["start", fmtTime(r.startTime)],
      ["end", fmtTime(r.endTime)], ["duration", r.durationMs == null ? "" : `${r.durationMs} ms`],
      ["git", r.gitSha || ""], ["error", r.errorMessage || ""],
      ["inputs", (r.inputs || []).map((v) => el("div", {}, nodeLink(v.id, basename(v.name))))],
      ["outputs", (r.outputs || []).map((v) => el("div", {}, nodeLink(v.id, basename(v.name))))]]),
    el("div", {}, el("h4", {}, "metrics"),
      kvTable(Object.entries(r.metrics || {}).map(([k, v]) => [k, fmtValue(v)]))))];
}

export async function runPage(view, runId) {
  view.dataset.state = "loading";
  status(`loading run ${runId}…`);
  const page = el("div", { class: "page", id: "runpage" });
  view.replaceChildren(page);
  page.append(...runHeader(await api("run", { runId })));
  let rc = null;
  try {
    rc = await api("root-cause", { run: runId });
  } catch (e) {
    page.append(el("section", { class: "card", id: "rootcause" }, el("h3", {}, "Root cause"),
      el("p", { class: "error" }, e.message)));
  }
  if (rc) {
    const [card, svg] = rootCauseCard(rc);
    page.append(card);
    const graph = new GraphView(svg, { onSelect: (n) => { location.hash = link("node", n.id); },
      onToggle: () => {} });
    graph.set(rc.subgraph);
    graph.render();
    graph.fit();
    page.append(diffCard(await api("diff", { runA: rc.baseline.runId, runB: runId })));
  }
  status(`run ${runId}`);
  view.dataset.state = "ready";
}
