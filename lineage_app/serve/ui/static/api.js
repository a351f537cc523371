// The page's plumbing: the API token, calls to /api/v1, fragment routes, DOM helpers.
// Answers are never put into the page as HTML: el() sets text and attributes only.

const TOKEN_KEY = "lineage.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value.trim()),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// GET /api/v1/<path> with query params (arrays repeat the key); resolves to the JSON answer.
export async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, String(v));
  }
  const headers = { Accept: "application/json" };
  const t = token.get();
  if (t) headers.Authorization = `Bearer ${t}`;
  const resp = await fetch(`/api/v1/${path}?${query}`, { headers, cache: "no-store" });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    if (resp.status === 401) token.clear();
    throw new ApiError(resp.status, body.detail || `${resp.status} ${resp.statusText}`);
  }
  return body;
}

// The route of a fragment "#/node/<id>?asOf=..": {name, arg, params}. A "token" parameter
// (or a bare "#token=...") is moved to sessionStorage and dropped from the address bar.
export function parseRoute(hash) {
  let text = hash.replace(/^#/, "");
  if (text.startsWith("token=")) text = "/?" + text;
  const cut = text.indexOf("?");
  const path = cut < 0 ? text : text.slice(0, cut);
  const query = cut < 0 ? "" : text.slice(cut + 1);
  const params = new URLSearchParams(query);
  if (params.has("token")) {
    token.set(params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", `#${path || "/"}${rest ? "?" + rest : ""}`);
  }
  const [, name = "", ...arg] = (path || "/").split("/");
  return { name, arg: decodeURIComponent(arg.join("/")), params };
}

// The fragment of a route: link("node", id, {asOf: 1}) -> "#/node/<id>?asOf=1".
export function link(name, arg, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "")
    query.set(k, String(v));
  const q = query.toString();
  return `#/${name}${arg ? "/" + encodeURIComponent(arg) : ""}${q ? "?" + q : ""}`;
}

// el("td", {class: "k"}, "text", child...) -> an element; attributes starting with "on"
// are event listeners.
export function el(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "rect", "path", "text", "circle", "marker", "defs", "title"];
  const node = svg.includes(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A two-column table of [key, value] rows.
export function kvTable(rows, cls = "props") {
  return el("table", { class: cls }, rows.map(([k, v]) =>
    el("tr", {}, el("td", { class: "k" }, k), el("td", {}, v))));
}

// A table with a header row.
export function table(headers, rows) {
  return el("table", {}, el("tr", {}, headers.map((h) => el("th", {}, h))),
    rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))));
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(Number(ms)).toISOString().replace("T", " ").replace("Z", " UTC");
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function short(text, n = 12) {
  const s = String(text ?? "");
  return s.length > n ? s.slice(0, n) + "…" : s;
}

// The last path part of a dataset name ("/a/b/c.csv" -> "c.csv").
export function basename(name) {
  const s = String(name ?? "");
  return s.includes("/") ? s.slice(s.lastIndexOf("/") + 1) : s;
}

export function status(text, isError = false) {
  const bar = document.getElementById("status");
  bar.textContent = text;
  bar.className = isError ? "error" : "";
}
