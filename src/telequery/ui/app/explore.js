// Explore: the query's results as a chart per calculation (one line per group, the
// previous window dashed), the aggregate table (click a row to filter on it), a
// distribution, or the matching events with paging both ways.
import { html, useMemo } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { apiParams } from "./builder.js";
import { groupKey, Histogram, TimeChart, toSeries } from "./charts.js";
import { EventList } from "./events.js";
import { calcAlias, change, fmtValue, leaf, shortKey, timeframe, unitOf } from "./state.js";
import { activate, Failure, Loading, useQuery } from "./ui.js";

export function Explore({ q, setQ }) {
  const views = [["chart", "Chart and table"], ["distribution", "Distribution"], ["events", "Events"]];
  return html`<section data-tab="explore" aria-label="Explore results">
    <div class="subtabs" role="tablist" aria-label="Result view">
      ${views.map(([v, label]) => html`<button role="tab" aria-selected=${q.view === v}
        class=${q.view === v ? "active" : ""} onClick=${() => setQ({ ...q, view: v })}>${label}</button>`)}
    </div>
    ${q.view === "events" ? html`<${EventList} q=${q}/>`
      : q.view === "distribution" ? html`<${Distribution} q=${q}/>`
        : html`<${Calculations} q=${q} setQ=${setQ}/>`}
  </section>`;
}

function Calculations({ q, setQ }) {
  const params = apiParams(q.parameters);
  const state = useQuery((signal) => api.telemetry(timeframe(q), params,
    { view: "calculations", compare: q.compare }, signal), [JSON.stringify(q)]);
  if (state.error) return html`<${Failure} error=${state.error}/>`;
  if (!state.data) return html`<${Loading} what="calculations"/>`;
  const r = state.data;
  const calcs = r.calculations || [];
  const total = calcs[0]?.aggregates?.reduce((a, x) => a + (x.count || 0), 0) || 0;
  if (!total) {
    return html`<div class="panel empty" data-testid="no-results">No events match this query in the time range.
      Widen the time range or remove a filter.</div>`;
  }
  const addFilters = (groups) => setQ({ ...q, view: "chart", parameters: { ...q.parameters,
    filters: [...(q.parameters.filters || []), ...groups.map((g) => leaf(g.key, g.value,
      typeof g.value === "number" ? "number" : typeof g.value === "boolean" ? "boolean" : "string"))] } });
  return html`
    ${calcs.map((c, i) => html`<${CalcChart} key=${i} calc=${c} prev=${r.compare?.[i]}
        spec=${params.calculations[i]}/>`)}
    <${AggregateTable} calcs=${calcs} prev=${r.compare} specs=${params.calculations}
      groupBys=${params.groupBys || []} onPick=${addFilters}/>`;
}

function CalcChart({ calc, prev, spec }) {
  const unit = unitOf(spec);
  // Rebuilt only with a new answer: a re-render of the page (typing in the query bar)
  // would otherwise draw the chart again.
  const { xs, series } = useMemo(() => toSeries(calc, prev), [calc, prev]);
  return html`<div class="panel"><${TimeChart} title=${calcAlias(spec)} unit=${unit} xs=${xs} series=${series}/></div>`;
}

function AggregateTable({ calcs, prev, specs, groupBys, onPick }) {
  const rows = calcs[0]?.aggregates || [];
  const lookup = (list, groups) => list?.find((a) => groupKey(a.groups) === groupKey(groups));
  return html`<div class="panel"><h2>Aggregates <span class="dim">(${rows.length} group${rows.length === 1 ? "" : "s"}${groupBys.length ? "; click a row to filter on it" : ""})</span></h2>
    <table class="agg" aria-label="Aggregate table"><thead><tr>
      ${groupBys.map((g) => html`<th>${shortKey(g.value)}</th>`)}
      ${specs.map((s) => html`<th class="num">${calcAlias(s)}${unitOf(s) && unitOf(s) !== "events" ? ` (${unitOf(s)})` : ""}</th>
        ${prev && html`<th class="num">previous</th><th class="num">change</th>`}`)}
    </tr></thead><tbody>
    ${rows.map((row) => html`<tr class=${groupBys.length ? "click" : ""} ...${groupBys.length ? activate(() => onPick(row.groups || [])) : {}}>
      ${groupBys.map((g) => html`<td>${String((row.groups || []).find((x) => x.key === g.value)?.value ?? "(none)")}</td>`)}
      ${calcs.map((c, i) => {
        const now = lookup(c.aggregates, row.groups)?.value;
        const before = prev ? lookup(prev[i]?.aggregates, row.groups)?.value : null;
        const pct = change(now, before);
        return html`<td class="num" data-calc=${calcAlias(specs[i])}>${fmtValue(now, unitOf(specs[i]))}</td>
          ${prev && html`<td class="num dim">${fmtValue(before, unitOf(specs[i]))}</td>
            <td class=${"num " + (pct > 0 ? "up" : pct < 0 ? "down" : "")}>${pct == null ? "–" : `${pct > 0 ? "+" : ""}${pct.toFixed(1)}%`}</td>`}`;
      })}
    </tr>`)}
    </tbody></table></div>`;
}

function Distribution({ q }) {
  const params = apiParams(q.parameters);
  const first = params.calculations.find((c) => c.key) || { key: "$metadata.duration", operator: "avg" };
  const p = { ...params, calculations: [{ operator: "count", key: first.key, keyType: "number", alias: "distribution" }],
              groupBys: [] };
  const state = useQuery((signal) => api.telemetry(timeframe(q), p,
    { view: "calculations", chartType: "distribution" }, signal), [JSON.stringify(q)]);
  if (state.error) return html`<${Failure} error=${state.error}/>`;
  if (!state.data) return html`<${Loading} what="distribution"/>`;
  const d = state.data.distribution || {};
  const counts = (d.buckets || []).map((_, i) => (d.matrix?.[i] || []).reduce((a, x) => a + x, 0));
  if (!counts.some((c) => c > 0)) return html`<div class="panel empty">No values of ${shortKey(first.key)} in this range.</div>`;
  return html`<div class="panel"><${Histogram} title=${shortKey(first.key)} buckets=${d.buckets} counts=${counts}
    unit=${unitOf({ key: first.key, operator: "avg" })}/></div>`;
}
