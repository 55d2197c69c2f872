// Log patterns: each with its count, share of the window's logs (or errors), a sparkline,
// how it compares with the previous window (new ones marked), and a click-through to
// exactly its events (the stored templates it covers).
import { html } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { selection } from "./builder.js";
import { Sparkline } from "./charts.js";
import { change, fmtInt, leaf, timeframe } from "./state.js";
import { Failure, Loading, useQuery } from "./ui.js";

const TEMPLATE = { message: "$metadata.messageTemplate", error: "$metadata.errorTemplate" };

export function Patterns({ q, setQ, patternType, setPatternType }) {
  const tf = timeframe(q);
  const prevTf = { from: tf.from - (tf.to - tf.from), to: tf.from };
  const sel = selection(q.parameters);
  const total = { ...sel, filters: [...sel.filters, { key: TEMPLATE[patternType], operation: "exists", type: "string" }],
                  filterCombination: "and", calculations: [{ operator: "count", alias: "count" }] };
  if ((sel.filterCombination || "and") === "or" && sel.filters.length) {
    total.filters = [{ kind: "group", filterCombination: "or", filters: sel.filters }, total.filters[total.filters.length - 1]];
  }
  const state = useQuery((signal) => Promise.all([
    api.telemetry(tf, sel, { view: "patterns", patternType, limit: 100 }, signal),
    api.telemetry(prevTf, sel, { view: "patterns", patternType, limit: 1000, ignoreSeries: true }, signal),
    api.telemetry(tf, total, { view: "calculations", ignoreSeries: true }, signal),
  ]), [JSON.stringify(q), patternType]);
  const show = (p) => setQ({ ...q, view: "events", parameters: { ...q.parameters, filters: [
    ...(q.parameters.filters || []),
    leaf(TEMPLATE[patternType], p.templates, "string", "in"), leaf("$metadata.service", p.service)] } },
  "explore");
  let body;
  if (state.error) body = html`<${Failure} error=${state.error}/>`;
  else if (!state.data) body = html`<${Loading} what="patterns"/>`;
  else {
    const [now, before, count] = state.data;
    const all = count.calculations[0]?.aggregates?.[0]?.value || 0;
    const prev = new Map(before.patterns.map((p) => [p.service + "\u0000" + p.pattern, p.count]));
    body = now.patterns.length === 0 ? html`<div class="empty">No ${patternType === "error" ? "errors" : "log messages"} in this range.</div>` : html`
      <table aria-label="Log patterns"><thead><tr><th class="num">count</th><th class="num">share</th><th>window</th>
        <th class="num">vs previous</th><th>service</th><th>pattern</th><th></th></tr></thead><tbody>
      ${now.patterns.map((p) => {
        const was = prev.get(p.service + "\u0000" + p.pattern);
        const pct = change(p.count, was);
        return html`<tr key=${p.service + p.pattern}>
          <td class="num">${fmtInt(p.count)}</td><td class="num">${all ? (100 * p.count / all).toFixed(1) + "%" : "–"}</td>
          <td><${Sparkline} values=${(p.series || []).map((b) => b.data.count)}/></td>
          <td class="num">${was == null ? html`<span class="badge new">new</span>` : pct == null ? "–" : `${pct > 0 ? "+" : ""}${pct.toFixed(0)}%`}</td>
          <td>${p.service}</td><td><code class="pattern">${p.pattern}</code></td>
          <td><button aria-label=${"Show events of pattern " + p.pattern} onClick=${() => show(p)}>events</button></td></tr>`;
      })}</tbody></table>`;
  }
  return html`<section data-tab="patterns" aria-label="Log patterns"><div class="panel">
    <div class="pager"><h2>Log patterns</h2>
      <label class="lbl" for="tq-ptype">Pattern of</label>
      <select id="tq-ptype" aria-label="Pattern type" value=${patternType} onChange=${(e) => setPatternType(e.target.value)}>
        <option value="message">log messages</option><option value="error">errors</option></select>
      <span class="dim">share: of the window's ${patternType === "error" ? "errors" : "log events"}; new: not seen in the previous window of the same length</span></div>
    ${body}</div></section>`;
}
