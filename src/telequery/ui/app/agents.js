// Agent runs and LLM calls (what Langfuse users look for): cost and token charts per
// model and per agent, the runs with their tokens, cost, tool calls and errors, filters
// by agent, model, user and conversation, and a run's tree of LLM and tool calls.
import { html, useEffect, useMemo, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { selection } from "./builder.js";
import { TimeChart, toSeries } from "./charts.js";
import { ListPager, useCursorList } from "./lists.js";
import { fmtInt, fmtMs, fmtUsd, leaf, timeframe, when } from "./state.js";
import { TraceView } from "./traces.js";
import { activate, Failure, Loading, useQuery } from "./ui.js";

const RUN_FILTERS = [["$metadata.agentName", "Agent"], ["$metadata.model", "Model"],
                            ["$metadata.userId", "User"], ["$metadata.conversationId", "Conversation"]];

export function Agents({ q, setQ, openRun, onOpen }) {
  const tf = timeframe(q);
  const list = useCursorList(q, "agents");
  const runs = list.state;
  return html`<section data-tab="agents" aria-label="Agent runs">
    <${RunFilters} q=${q} setQ=${setQ} tf=${tf}/>
    ${openRun && html`<${TraceView} key=${openRun.runSpanId} trace=${openRun} rootSpanId=${openRun.runSpanId}
        title=${"Agent run " + (openRun.agentName || "")} onClose=${() => onOpen(null)} summary=${html`<${RunSummary} run=${openRun.run}/>`}/>`}
    <${CostCharts} q=${q}/>
    ${runs.error ? html`<${Failure} error=${runs.error}/>` : !runs.data ? html`<${Loading} what="agent runs"/>` : html`
    <div class="panel"><${ListPager} title="Agent runs" noun="runs" items=${runs.data.agents} cursor=${(a) => a.id} list=${list}/>
    <table aria-label="Agent run list"><thead><tr><th>start</th><th>agent</th><th>user</th><th>conversation</th>
      <th>status</th><th>models</th><th class="num">duration</th><th class="num">input tokens</th><th class="num">output tokens</th>
      <th class="num">cache read</th><th class="num">cost</th><th class="num">LLM calls</th><th class="num">tool calls</th></tr></thead><tbody>
    ${runs.data.agents.map((a) => html`<tr class=${"click" + (openRun?.runSpanId === a.runSpanId ? " selected" : "")} key=${a.id}
        data-run=${a.id} ...${activate(() => onOpen({ traceId: a.traceId, from: a.traceStartMs, to: a.traceEndMs + 1, runSpanId: a.runSpanId, agentName: a.agentName, run: a }))}>
      <td class="nowrap">${when(a.traceStartMs)}</td><td>${a.agentName || a.agentId || "–"}</td><td>${a.userId || "–"}</td>
      <td class="mono">${a.conversationId || "–"}</td>
      <td class=${a.status === "error" ? "err" : "ok"} title=${a.errors.join("; ")}>${a.status === "error" ? "⚠ error" : a.status}</td>
      <td>${a.models.join(", ")}</td><td class="num">${fmtMs(a.traceDurationMs)}</td>
      <td class="num">${fmtInt(a.inputTokens)}</td><td class="num">${fmtInt(a.outputTokens)}</td>
      <td class="num">${fmtInt(a.cacheReadTokens)}</td><td class="num" data-testid="run-cost">${fmtUsd(a.cost)}</td>
      <td class="num">${a.llmCalls}</td><td class="num">${a.toolCalls}</td></tr>`)}
    </tbody></table></div>`}
  </section>`;
}

function RunSummary({ run }) {
  const items = [["cost", fmtUsd(run.cost)], ["input tokens", fmtInt(run.inputTokens)], ["output tokens", fmtInt(run.outputTokens)],
    ["cache read", fmtInt(run.cacheReadTokens)], ["LLM calls", run.llmCalls], ["tool calls", run.toolCalls],
    ["duration", fmtMs(run.traceDurationMs)], ["user", run.userId || "–"], ["conversation", run.conversationId || "–"]];
  return html`<div class="summary" data-testid="run-summary">${items.map(([k, v]) => html`<span><span class="dim">${k}</span> <strong data-field=${k}>${v}</strong></span>`)}
    ${run.errors.length ? html`<span class="err">⚠ ${run.errors.join("; ")}</span>` : ""}</div>`;
}

/** One select per run dimension; picking a value adds (or replaces) that filter. */
function RunFilters({ q, setQ, tf }) {
  const filters = q.parameters.filters || [];
  const current = (key) => filters.find((f) => f.key === key && f.operation === "eq")?.value ?? "";
  const set = (key, value) => {
    const rest = filters.filter((f) => !(f.key === key && f.operation === "eq"));
    setQ({ ...q, parameters: { ...q.parameters, filters: value ? [...rest, leaf(key, value)] : rest } });
  };
  return html`<div class="panel runfilters" role="group" aria-label="Run filters">
    ${RUN_FILTERS.map(([key, label]) => html`<${ValuePicker} key=${key} field=${key} label=${label} tf=${tf}
      value=${current(key)} onPick=${(v) => set(key, v)}/>`)}</div>`;
}

/** Suggestions load when the box is first focused: four value scans at page load would
 * delay the runs and charts a user opened the page for. */
function ValuePicker({ field, label, tf, value, onPick }) {
  const [text, setText] = useState(value);
  const [wanted, setWanted] = useState(false);
  useEffect(() => setText(value), [value]);
  const vals = useQuery((signal) => (wanted ? api.values(tf, field, "string", signal) : Promise.resolve([])),
                        [field, wanted, tf.from - (tf.from % 60000)]);
  const id = "tq-pick-" + label.toLowerCase();
  return html`<span class="group"><label class="lbl" for=${id}>${label}</label>
    <input id=${id} list=${id + "-list"} aria-label=${label + " filter"} placeholder="any" size="18" value=${text}
      onFocus=${() => setWanted(true)} onInput=${(e) => setText(e.target.value)} onChange=${(e) => onPick(e.target.value)}/>
    <datalist id=${id + "-list"}>${(vals.data || []).map((v) => html`<option value=${String(v.value)}/>`)}</datalist></span>`;
}

const sumOf = (key, alias) => ({ operator: "sum", key, keyType: "number", alias });
// Two queries, two calculations each: by model (cost, input tokens) and by agent (cost,
// output tokens); each chart's lines are the 6 groups with the most cost.
const GROUPED = [
  ["$metadata.model", [sumOf("$metadata.cost", "cost"), sumOf("$metadata.inputTokens", "input tokens")]],
  ["$metadata.agentName", [sumOf("$metadata.cost", "cost"), sumOf("$metadata.outputTokens", "output tokens")]],
];
const CHARTS = [["Cost by model", 0, 0, "USD"], ["Cost by agent", 1, 0, "USD"],
                ["Input tokens by model", 0, 1, "tokens"], ["Output tokens by agent", 1, 1, "tokens"]];
const GROUPS = 6;

function CostCharts({ q }) {
  const tf = timeframe(q);
  const sel = selection(q.parameters);
  const state = useQuery((signal) => Promise.all(GROUPED.map(([group, calcs]) => api.telemetry(tf, {
    ...sel, calculations: calcs, groupBys: [{ type: "string", value: group }], limit: GROUPS,
  }, { view: "calculations" }, signal))), [JSON.stringify(q)]);
  // Built once per answer, not on every re-render of the page (see explore.js CalcChart).
  const charts = useMemo(() => state.data && CHARTS.map(([title, query, calc, unit]) =>
    ({ title, unit, ...toSeries(state.data[query].calculations[calc] || {}, null, "(none)") })),
  [state.data]);
  if (state.error) return html`<${Failure} error=${state.error}/>`;
  if (!charts) return html`<${Loading} what="cost and token charts"/>`;
  return html`<div class="chart-row">${charts.map(({ title, unit, xs, series }) => html`<div class="panel" key=${title}>
    <${TimeChart} title=${title} unit=${unit} xs=${xs} series=${series} height=${170}/></div>`)}</div>`;
}
