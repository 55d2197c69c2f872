// The query builder: time range, filters (AND/OR groups) with field and value
// suggestions, needle search, and on the Explore tab calculations, group-bys, havings,
// order and limit. It edits a draft; "Run query" (or Enter) makes it the page's query.
import { html, useEffect, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { calcAlias, FILTER_OPS, NO_VALUE, OPERATORS, RANGES, shortKey, timeframe } from "./state.js";

const toLocalInput = (ms) => {
  if (ms == null) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
};
const fromLocalInput = (s) => (s ? new Date(s).getTime() : null);

export function TimeRange({ q, onChange }) {
  const setRange = (range) => {
    if (range === "custom") {
      const tf = timeframe(q);
      onChange({ ...q, range, from: tf.from, to: tf.to });
    } else onChange({ ...q, range, from: null, to: null });
  };
  return html`<span class="group">
    <label class="lbl" for="tq-range">Time range</label>
    <select id="tq-range" aria-label="Time range" value=${q.range} onChange=${(e) => setRange(e.target.value)}>
      ${RANGES.map(([k, label]) => html`<option value=${k}>${label}</option>`)}
      <option value="custom">Custom (from / to)</option>
    </select>
    ${q.range === "custom" && html`
      <input type="datetime-local" aria-label="From" value=${toLocalInput(q.from)}
        onChange=${(e) => onChange({ ...q, from: fromLocalInput(e.target.value) })}/>
      <input type="datetime-local" aria-label="To" value=${toLocalInput(q.to)}
        onChange=${(e) => onChange({ ...q, to: fromLocalInput(e.target.value) })}/>`}
  </span>`;
}

/** A datalist of this field's most frequent values, fetched when the field is picked. */
function useValues(tf, key, type) {
  const [vals, setVals] = useState([]);
  useEffect(() => {
    if (!key || type === "boolean") { setVals([]); return undefined; }
    const ctl = new AbortController();
    const t = setTimeout(() => api.values(tf, key, type || "string", ctl.signal)
      .then((r) => setVals(r.map((v) => String(v.value))))
      .catch(() => setVals([])), 150);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [key, type, tf.from, tf.to]);
  return vals;
}

let seq = 0;
function FilterRow({ f, fields, tf, onChange, onRemove }) {
  const [id] = useState(() => "tq-v" + (++seq));
  const type = fields.get(f.key) || f.type || "string";
  const vals = useValues(tf, f.key, type);
  return html`<div class="filter" role="group" aria-label="Filter">
    <input list="tq-keys" aria-label="Filter field" placeholder="field" value=${f.key}
      onInput=${(e) => onChange({ ...f, key: e.target.value, type: fields.get(e.target.value) || "string" })}/>
    <select aria-label="Filter operator" value=${f.operation} onChange=${(e) => onChange({ ...f, operation: e.target.value })}>
      ${FILTER_OPS.map(([op, label]) => html`<option value=${op}>${label}</option>`)}
    </select>
    ${!NO_VALUE.has(f.operation) && html`<input list=${id} aria-label="Filter value" placeholder="value"
      value=${f.value ?? ""} onInput=${(e) => onChange({ ...f, value: e.target.value })}/>
      <datalist id=${id}>${vals.map((v) => html`<option value=${v}/>`)}</datalist>`}
    <button class="icon" aria-label="Remove filter" title="Remove filter" onClick=${onRemove}>×</button>
  </div>`;
}

function Combination({ value, onChange, label }) {
  return html`<select class="comb" aria-label=${label} value=${value || "and"} onChange=${(e) => onChange(e.target.value)}>
    <option value="and">all of (AND)</option><option value="or">any of (OR)</option></select>`;
}

/** Top-level filters and one level of nested groups, each with its own AND/OR. */
export function Filters({ params, fields, tf, onChange }) {
  const list = params.filters || [];
  const set = (filters) => onChange({ ...params, filters });
  const put = (i, f) => set(list.map((x, j) => (j === i ? f : x)));
  const drop = (i) => set(list.filter((_, j) => j !== i));
  const blank = () => ({ key: "", operation: "eq", type: "string", value: "" });
  return html`<div class="filters">
    <span class="lbl">Filter</span>
    <${Combination} label="Combine filters" value=${params.filterCombination}
      onChange=${(v) => onChange({ ...params, filterCombination: v })}/>
    ${list.map((f, i) => f.kind === "group"
      ? html`<div class="fgroup" role="group" aria-label="Filter group">
          <${Combination} label="Combine group" value=${f.filterCombination} onChange=${(v) => put(i, { ...f, filterCombination: v })}/>
          ${f.filters.map((g, k) => html`<${FilterRow} key=${k} f=${g} fields=${fields} tf=${tf}
              onChange=${(n) => put(i, { ...f, filters: f.filters.map((x, j) => (j === k ? n : x)) })}
              onRemove=${() => put(i, { ...f, filters: f.filters.filter((_, j) => j !== k) })}/>`)}
          <button onClick=${() => put(i, { ...f, filters: [...f.filters, blank()] })}>+ condition</button>
          <button class="icon" aria-label="Remove group" onClick=${() => drop(i)}>×</button></div>`
      : html`<${FilterRow} key=${i} f=${f} fields=${fields} tf=${tf} onChange=${(n) => put(i, n)} onRemove=${() => drop(i)}/>`)}
    <button aria-label="Add filter" onClick=${() => set([...list, blank()])}>+ filter</button>
    <button aria-label="Add filter group" onClick=${() => set([...list, { kind: "group", filterCombination: "or", filters: [blank()] }])}>+ group</button>
  </div>`;
}

export function Needle({ params, onChange, onRun }) {
  const n = params.needle || { value: "" };
  const set = (patch) => {
    const next = { ...n, ...patch };
    onChange({ ...params, needle: next.value ? next : undefined });
  };
  return html`<span class="group">
    <label class="lbl" for="tq-needle">Search</label>
    <input id="tq-needle" aria-label="Search" placeholder="text in any field" size="28" value=${n.value || ""}
      onInput=${(e) => set({ value: e.target.value })} onKeyDown=${(e) => e.key === "Enter" && onRun()}/>
    <label><input type="checkbox" aria-label="Regular expression" checked=${!!n.isRegex}
      onChange=${(e) => set({ isRegex: e.target.checked })}/> regex</label>
    <label><input type="checkbox" aria-label="Match case" checked=${!!n.matchCase}
      onChange=${(e) => set({ matchCase: e.target.checked })}/> match case</label>
  </span>`;
}

/** Calculations, group-bys, havings, order and limit (the Explore tab's part). */
export function Shape({ params, fields, onChange }) {
  const calcs = params.calculations || [];
  const setCalcs = (c) => onChange({ ...params, calculations: c });
  const groups = params.groupBys || [];
  const havings = params.havings || [];
  const aliases = calcs.map(calcAlias);
  const orderChoices = [...aliases, ...groups.map((g) => g.value)];
  const typeOf = (k) => fields.get(k) || "number";
  return html`<div class="shape">
    <div class="row"><span class="lbl">Calculations</span>
      ${calcs.map((c, i) => html`<span class="calc" role="group" aria-label="Calculation">
        <select aria-label="Calculation operator" value=${c.operator} onChange=${(e) => setCalcs(calcs.map((x, j) => (j === i ? { ...x, operator: e.target.value } : x)))}>
          ${OPERATORS.map((o) => html`<option value=${o}>${o}</option>`)}</select>
        <input list="tq-keys" aria-label="Calculation field" placeholder=${c.operator === "count" ? "(events)" : "field"} size="22"
          value=${c.key || ""} onInput=${(e) => setCalcs(calcs.map((x, j) => (j === i ? { ...x, key: e.target.value || undefined, keyType: e.target.value ? typeOf(e.target.value) : undefined } : x)))}/>
        ${calcs.length > 1 && html`<button class="icon" aria-label="Remove calculation" onClick=${() => setCalcs(calcs.filter((_, j) => j !== i))}>×</button>`}
      </span>`)}
      <button aria-label="Add calculation" onClick=${() => setCalcs([...calcs, { operator: "p99", key: "$metadata.duration", keyType: "number" }])}>+ calculation</button>
    </div>
    <div class="row"><span class="lbl">Group by</span>
      ${groups.map((g, i) => html`<span class="chip">${shortKey(g.value)}
        <button class="icon" aria-label=${"Remove group by " + g.value} onClick=${() => onChange({ ...params, groupBys: groups.filter((_, j) => j !== i) })}>×</button></span>`)}
      <input list="tq-keys" aria-label="Group by" placeholder="add a field" size="22"
        onChange=${(e) => { if (e.target.value) { onChange({ ...params, groupBys: [...groups, { type: fields.get(e.target.value) || "string", value: e.target.value }] }); e.target.value = ""; } }}/>
    </div>
    <div class="row"><span class="lbl">Having</span>
      ${havings.map((h, i) => html`<span class="calc" role="group" aria-label="Having">
        <select aria-label="Having calculation" value=${h.key} onChange=${(e) => onChange({ ...params, havings: havings.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)) })}>
          ${aliases.map((a) => html`<option value=${a}>${a}</option>`)}</select>
        <select aria-label="Having operator" value=${h.operation} onChange=${(e) => onChange({ ...params, havings: havings.map((x, j) => (j === i ? { ...x, operation: e.target.value } : x)) })}>
          ${["gt", "gte", "lt", "lte", "eq", "neq"].map((o) => html`<option value=${o}>${FILTER_OPS.find(([k]) => k === o)[1]}</option>`)}</select>
        <input type="number" aria-label="Having value" size="8" value=${h.value} onInput=${(e) => onChange({ ...params, havings: havings.map((x, j) => (j === i ? { ...x, value: Number(e.target.value) } : x)) })}/>
        <button class="icon" aria-label="Remove having" onClick=${() => onChange({ ...params, havings: havings.filter((_, j) => j !== i) })}>×</button></span>`)}
      <button aria-label="Add having" onClick=${() => onChange({ ...params, havings: [...havings, { key: aliases[0], operation: "gt", value: 0 }] })}>+ having</button>
      <label class="lbl" for="tq-order">Order by</label>
      <select id="tq-order" aria-label="Order by" value=${params.orderBy?.value || ""} onChange=${(e) => onChange({ ...params, orderBy: e.target.value ? { value: e.target.value, order: params.orderBy?.order || "desc" } : undefined })}>
        <option value="">(first calculation)</option>
        ${orderChoices.map((a) => html`<option value=${a}>${shortKey(a)}</option>`)}</select>
      <select aria-label="Order direction" value=${params.orderBy?.order || "desc"} onChange=${(e) => onChange({ ...params, orderBy: { value: params.orderBy?.value || aliases[0], order: e.target.value } })}>
        <option value="desc">descending</option><option value="asc">ascending</option></select>
      <label class="lbl" for="tq-limit">Limit</label>
      <input id="tq-limit" type="number" min="1" max="100" aria-label="Limit" size="4" value=${params.limit ?? 10}
        onChange=${(e) => onChange({ ...params, limit: Math.max(1, Math.min(100, Number(e.target.value) || 10)) })}/>
    </div>
  </div>`;
}

/** Turn the builder's draft into API parameters: aliases set, empty rows dropped. */
export function apiParams(params) {
  const clean = (list) => (list || []).flatMap((f) => {
    if (f.kind === "group") {
      const inner = clean(f.filters);
      return inner.length ? [{ ...f, filters: inner }] : [];
    }
    if (!f.key) return [];
    const out = { key: f.key, operation: f.operation, type: f.type || "string" };
    if (!NO_VALUE.has(f.operation)) out.value = f.value ?? "";
    return [out];
  });
  const p = { ...params, filters: clean(params.filters) };
  p.calculations = (params.calculations || [{ operator: "count" }]).map((c) => ({
    operator: c.operator, ...(c.key ? { key: c.key, keyType: c.keyType || "number" } : {}), alias: calcAlias(c) }));
  if (!p.needle?.value) delete p.needle;
  if (!p.havings?.length) delete p.havings;
  if (!p.orderBy?.value) delete p.orderBy;
  return p;
}

/** Only what narrows events (filters, needle): what the other tabs share. */
export function selection(params) {
  const p = apiParams(params);
  return { filters: p.filters, filterCombination: p.filterCombination || "and",
           ...(p.needle ? { needle: p.needle } : {}) };
}
