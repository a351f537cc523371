// The lineage page: routes (#/node/<id>, #/run/<runId>, #/freshness), the search box and
// the sign-in field. Every answer comes from /api/v1 with the token kept in sessionStorage.

import { api, el, link, parseRoute, status, token } from "./api.js";
import { freshnessPage } from "./freshness.js";
import { NodePage } from "./nodepage.js";
import { runPage } from "./runpage.js";

const view = document.getElementById("view");

function home() {
  view.replaceChildren(el("div", { class: "page", id: "home" },
    el("h2", {}, "Lineage"),
    el("p", {}, "Search a dataset, job or run above, or open the ",
      el("a", { href: "#/freshness" }, "freshness"), " page."),
    el("p", { class: "small" }, "Links: #/node/<id>?dir=upstream&asOf=<ms>, #/run/<runId>.")));
  view.dataset.state = "ready";
  status("");
}

function showLogin(show) {
  document.getElementById("login").hidden = !show;
  document.getElementById("logout").hidden = show;
}

async function route() {
  const r = parseRoute(location.hash);
  showLogin(!token.get());
  if (!token.get()) {
    view.replaceChildren(el("div", { class: "page" }, el("p", {}, "Sign in with an API token ",
      "(lineage serve token add NAME --role reader).")));
    view.dataset.state = "login";
    return;
  }
  try {
    if (r.name === "node" && r.arg) await new NodePage(view, r.params, r.arg).reload();
    else if (r.name === "run" && r.arg) await runPage(view, r.arg);
    else if (r.name === "freshness") await freshnessPage(view);
    else home();
  } catch (e) {
    view.dataset.state = "error";
    status(e.message, true);
    if (e.status === 401) showLogin(true);
  }
}

function hitLink(hit) {
  return hit.label === "Run" ? link("run", hit.uid) : link("node", hit.uid);
}

function setupSearch() {
  const input = document.getElementById("search");
  const list = document.getElementById("results");
  let timer = null, seq = 0;
  const choose = (hit) => {
    list.hidden = true;
    input.value = "";
    location.hash = hitLink(hit);
  };
  const search = async () => {
    const q = input.value.trim(), mine = ++seq;
    if (!q) { list.hidden = true; return; }
    try {
      const hits = await api("search", { q, limit: 8 });
      if (mine !== seq) return;
      list.replaceChildren(...hits.map((h) => el("li", { "data-uid": h.uid, onclick: () => choose(h) },
        el("span", { class: "badge" }, h.label === "Dataset" ? h.kind || "dataset" : h.label.toLowerCase()),
        el("span", { class: "mono" }, h.uid), h.state ? el("span", { class: `badge ${h.state}` }, h.state) : "")),
        ...(hits.length ? [] : [el("li", { class: "small" }, "nothing found")]));
      list.hidden = false;
      list.dataset.query = q;
    } catch (e) {
      status(e.message, true);
    }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") list.hidden = true;
    const first = list.querySelector("li[data-uid]");
    if (e.key === "Enter" && first) first.click();
  });
  document.addEventListener("click", (e) => { if (!list.contains(e.target)) list.hidden = true; });
}

function setupLogin() {
  document.getElementById("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const field = document.getElementById("token");
    if (field.value.trim()) token.set(field.value);
    field.value = "";
    route();
  });
  document.getElementById("logout").addEventListener("click", () => { token.clear(); route(); });
}

setupSearch();
setupLogin();
window.addEventListener("hashchange", route);
route();
