// The freshness page: #/freshness. Stale datasets against their SLA with the upstream cause,
// then the fresh ones and those without a known interval (GET /api/v1/freshness?all=true).

import { api, basename, el, fmtTime, link, status, table } from "./api.js";

function age(s) {
  if (s === null || s === undefined) return "";
  const h = s / 3600;
  return h >= 48 ? `${(h / 24).toFixed(1)} d` : h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(s)} s`;
}

function rows(list, stale) {
  return list.map((r) => [
    el("a", { href: link("node", r.dataset), title: r.dataset }, basename(r.dataset)),
    r.kind, fmtTime(r.lastWrite), age(r.ageS), age(r.expectedIntervalS),
    stale ? el("span", { class: "badge stale" }, `overdue ${age(r.overdueS)}`)
      : el("span", { class: "badge fresh" }, "fresh"),
    r.writer?.run ? el("a", { href: link("run", r.writer.run) }, r.writer.job || r.writer.run) : "",
    r.cause ? r.cause.summary : ""]);
}

export async function freshnessPage(view) {
  view.dataset.state = "loading";
  status("loading freshness…");
  const rep = await api("freshness", { all: "true" });
  const headers = ["dataset", "kind", "last write", "age", "expected every", "", "writer", "cause"];
  view.replaceChildren(el("div", { class: "page", id: "freshness" },
    el("h2", {}, "Freshness"), el("p", {}, rep.summary, el("span", { class: "small" },
      ` (as of ${fmtTime(rep.asOf)})`)),
    el("h3", {}, `stale (${rep.stale.length})`), table(headers, rows(rep.stale, true)),
    el("h3", {}, `fresh (${(rep.fresh || []).length})`), table(headers, rows(rep.fresh || [], false)),
    el("h3", {}, `no known interval (${rep.noSla.length})`),
    el("ul", {}, rep.noSla.map((d) => el("li", {}, el("a", { href: link("node", d) }, d))))));
  status(rep.summary);
  view.dataset.state = "ready";
}
