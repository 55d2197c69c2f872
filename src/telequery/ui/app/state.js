// The query a page shows, kept in the URL: the hash holds the tab and the query as
// Workers Observability `parameters` plus the few things the API takes beside them
// (time range, compare, result view), so a link reproduces the view and a saved query
// is the same object the API stores.

export const RANGES = [
  ["15m", "Last 15 minutes", 15 * 60e3], ["1h", "Last hour", 3600e3],
  ["6h", "Last 6 hours", 6 * 3600e3], ["24h", "Last 24 hours", 86400e3],
  ["3d", "Last 3 days", 3 * 86400e3], ["7d", "Last 7 days", 7 * 86400e3],
  ["30d", "Last 30 days", 30 * 86400e3],
];

export const OPERATORS = ["count", "uniq", "sum", "avg", "min", "max", "median",
                          "p90", "p95", "p99", "p999", "stddev", "variance"];
export const FILTER_OPS = [["eq", "="], ["neq", "!="], ["gt", ">"], ["gte", ">="], ["lt", "<"],
                           ["lte", "<="], ["includes", "contains"],
                           ["not_includes", "does not contain"], ["starts_with", "starts with"],
                           ["ends_with", "ends with"], ["regex", "matches regex"],
                           ["in", "in (a,b)"], ["not_in", "not in (a,b)"], ["exists", "exists"],
                           ["is_null", "does not exist"]];
export const NO_VALUE = new Set(["exists", "is_null"]);

export function defaultQuery() {
  return {
    range: "24h", from: null, to: null, compare: false, view: "chart",
    parameters: {
      calculations: [{ operator: "count" }], groupBys: [], filters: [],
      filterCombination: "and", havings: [], limit: 10,
    },
  };
}

/** Epoch-ms window of a query: a preset relative to now, or the absolute from/to. */
export function timeframe(q, now = Date.now()) {
  if (q.range === "custom" && q.from != null && q.to != null) return { from: q.from, to: q.to };
  const r = RANGES.find(([k]) => k === q.range) || RANGES[3];
  return { from: now - r[2], to: now };
}

/** The alias a calculation is shown and referred to by (havings, order). */
export function calcAlias(c) {
  if (c.alias) return c.alias;
  if (c.operator === "count" && !c.key) return "count";
  return `${c.operator}(${shortKey(c.key || "")})`;
}

export const shortKey = (k) => k.replace(/^\$metadata\./, "").replace(/^\$workers\./, "workers.");

/** The unit a field's numbers are in, for axes and cells. */
export function unitOf(c) {
  const k = (c.key || "").toLowerCase();
  if (c.operator === "count" || c.operator === "uniq") return c.key && c.operator === "uniq" ? "distinct" : "events";
  if (c.operator === "variance") return "";
  if (k.includes("cost") || k.includes("usd")) return "USD";
  if (k.includes("token")) return "tokens";
  if (k.includes("duration") || k.endsWith("ms") || k.includes("time_ms") || k.includes("timems")) return "ms";
  return "";
}

export function fmtValue(v, unit) {
  if (v == null || Number.isNaN(v)) return "–";
  if (unit === "USD") return "$" + Number(v).toLocaleString(undefined, { maximumFractionDigits: v < 1 ? 4 : 2 });
  const s = Number(v).toLocaleString(undefined, { maximumFractionDigits: Math.abs(v) < 10 ? 2 : 1 });
  return unit && unit !== "events" && unit !== "distinct" ? `${s} ${unit}` : s;
}

/** Percent change, only when the previous value is non-zero (else nothing to compare). */
export function change(now, prev) {
  if (prev == null || prev === 0 || now == null) return null;
  return 100 * (now - prev) / Math.abs(prev);
}

// -- URL -----------------------------------------------------------------------------
export function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  let q = defaultQuery();
  try {
    if (h.get("q")) q = { ...q, ...JSON.parse(h.get("q")) };
  } catch { /* a hand-edited link: fall back to the default query */ }
  q.parameters = { ...defaultQuery().parameters, ...q.parameters };
  return { tab: h.get("tab") || "explore", q, token: h.get("token"),
           trace: h.get("trace"), run: h.get("run") };
}

export function writeHash(tab, q, extra = {}) {
  const h = new URLSearchParams({ tab, q: JSON.stringify(q) });
  for (const [k, v] of Object.entries(extra)) if (v) h.set(k, v);
  const next = "#" + h.toString();
  if (next !== location.hash) history.replaceState(null, "", next);
}

// -- formatting ------------------------------------------------------------------------
export const when = (ms) => {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
export const fmtMs = (ms) => ms == null ? "–" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Number(ms).toFixed(ms < 10 ? 2 : 0)} ms`;
export const fmtInt = (n) => n == null ? "–" : Math.round(n).toLocaleString();
export const fmtUsd = (n) => n == null ? "–" : "$" + Number(n).toLocaleString(undefined, { maximumFractionDigits: n < 1 ? 4 : 2 });

const PALETTE = ["#4aa3ff", "#f5a524", "#5ad17a", "#c678dd", "#ff7b72", "#56d4dd", "#e5c07b",
                 "#98c379", "#d19a66", "#61afef", "#ff9ecd", "#b5bd68"];
export function colorOf(name, i) {
  if (i != null) return PALETTE[i % PALETTE.length];
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

/** A filter leaf in the API's shape, from a field name, its type and a value. */
export function leaf(key, value, type = "string", operation = "eq") {
  return { key, operation, type, value };
}
