// Traces: the list (newest first, paged both ways) and a trace's waterfall with a time
// axis, nesting, service colours and error marks, beside the selected span's details.
import { html, useEffect, useRef, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { ListPager, useCursorList } from "./lists.js";
import { colorOf, fmtMs, fmtUsd, leaf, when } from "./state.js";
import { activate, Failure, JsonView, Loading, useQuery } from "./ui.js";

export function Traces({ q, openTrace, onOpen, showEvents }) {
  const list = useCursorList(q, "traces");
  const { state } = list;
  return html`<section data-tab="traces" aria-label="Traces">
    ${openTrace && html`<${TraceView} key=${openTrace.traceId} trace=${openTrace} onClose=${() => onOpen(null)} showEvents=${showEvents}/>`}
    ${state.error ? html`<${Failure} error=${state.error}/>` : !state.data ? html`<${Loading} what="traces"/>` : html`
    <div class="panel"><${ListPager} title="Traces" noun="traces" items=${state.data.traces} cursor=${(t) => t.traceId} list=${list}/>
    <table aria-label="Trace list"><thead><tr><th>start</th><th>root</th><th>services</th><th class="num">spans</th>
      <th class="num">duration</th><th>errors</th></tr></thead><tbody>
    ${state.data.traces.map((t) => html`<tr class=${"click" + (openTrace?.traceId === t.traceId ? " selected" : "")} key=${t.traceId}
        data-trace=${t.traceId} ...${activate(() => onOpen({ traceId: t.traceId, from: t.traceStartMs, to: t.traceEndMs + 1 }))}>
      <td class="nowrap">${when(t.traceStartMs)}</td><td>${t.rootSpanName}${t.hasRoot ? "" : html` <span class="dim" title="the root span never arrived">(no root)</span>`}</td>
      <td>${t.service.join(", ")}</td><td class="num">${t.spans}</td><td class="num">${fmtMs(t.traceDurationMs)}</td>
      <td class="err">${t.errors.length ? `⚠ ${t.errors.join("; ")}` : ""}</td></tr>`)}
    </tbody></table></div>`}
  </section>`;
}

/** Spans in tree order (children after their parent, by start), with their depth. */
function treeOrder(spans, rootId = null) {
  const ids = new Set(spans.map((s) => s.spanId));
  const kids = new Map();
  for (const s of spans) {
    const parent = s.parentSpanId && ids.has(s.parentSpanId) ? s.parentSpanId : null;
    if (!kids.has(parent)) kids.set(parent, []);
    kids.get(parent).push(s);
  }
  for (const list of kids.values()) list.sort((a, b) => a.startTimeMs - b.startTimeMs);
  const out = [];
  const walk = (s, depth) => {
    out.push({ ...s, depth });
    for (const c of kids.get(s.spanId) || []) walk(c, depth + 1);
  };
  const roots = rootId ? spans.filter((s) => s.spanId === rootId) : kids.get(null) || [];
  roots.forEach((r) => walk(r, 0));
  return out;
}

export function TraceView({ trace, onClose, showEvents, rootSpanId = null, title = "Trace", summary = null }) {
  const el = useRef(null);
  const state = useQuery((signal) => api.traceDetail(trace.traceId, trace.from, trace.to, signal),
                         [trace.traceId, trace.from, trace.to]);
  const [picked, setPicked] = useState(null);
  useEffect(() => { el.current?.scrollIntoView({ block: "start" }); }, [trace.traceId]);
  let body;
  if (state.error) body = html`<${Failure} error=${state.error}/>`;
  else if (!state.data) body = html`<${Loading} what="trace"/>`;
  else {
    const spans = treeOrder(state.data.spans, rootSpanId);
    const sel = spans.find((s) => s.spanId === picked) || spans[0];
    body = html`<div class="trace-grid">
      <${Waterfall} spans=${spans} selected=${sel?.spanId} onPick=${setPicked}/>
      ${sel && html`<${SpanDetail} span=${sel}/>`}</div>`;
  }
  return html`<div class="panel trace" ref=${el} data-testid="trace-view" aria-label=${title + " " + trace.traceId}>
    <div class="pager"><h2>${title} <code>${trace.traceId}</code>
      ${state.data && html` <span class="dim">${state.data.spans.length} spans${state.data.truncated ? " (truncated)" : ""}</span>`}</h2>
      ${showEvents && html`<button onClick=${() => showEvents(trace)}>Events of this trace</button>`}
      <button aria-label="Close trace" onClick=${onClose}>Close</button></div>
    ${summary}
    ${body}</div>`;
}

function Waterfall({ spans, selected, onPick }) {
  if (!spans.length) return html`<div class="empty">No spans of this trace in the time range.</div>`;
  const t0 = Math.min(...spans.map((s) => s.startTimeMs));
  const t1 = Math.max(...spans.map((s) => s.endTimeMs ?? s.startTimeMs));
  const total = Math.max(1, t1 - t0);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return html`<div class="waterfall" role="tree" aria-label="Waterfall">
    <div class="wf-axis"><div class="wf-name dim">span (service)</div><div class="wf-track">
      ${ticks.map((f) => html`<span class="tick" style=${`left:${f * 100}%`}>${fmtMs(f * total)}</span>`)}</div></div>
    ${spans.map((s) => {
      const left = (100 * (s.startTimeMs - t0)) / total;
      const width = Math.max(0.4, (100 * (s.durationMs || 0)) / total);
      const err = s.status === "error";
      const m = s.event?.$metadata || {};
      return html`<div role="treeitem" aria-level=${s.depth + 1} aria-selected=${s.spanId === selected}
          class=${"wf-row" + (s.spanId === selected ? " selected" : "")} data-span=${s.spanId} ...${activate(() => onPick(s.spanId))}>
        <div class="wf-name" style=${`padding-left:${4 + 14 * s.depth}px`} title=${s.name}>
          ${err && html`<span class="err" title="error">⚠ </span>`}${s.name}
          <span class="dim"> ${s.service}</span>${m.model ? html` <span class="badge">${m.model}</span>` : ""}
          ${s.event?.source?.["gen_ai.usage.cost"] != null ? html` <span class="badge" title="cost of this call">${fmtUsd(s.event.source["gen_ai.usage.cost"])}</span>` : ""}</div>
        <div class="wf-track">
          ${ticks.map((f) => html`<span class="grid" style=${`left:${f * 100}%`}></span>`)}
          <span class=${"wf-bar" + (err ? " error" : "")} style=${`left:${left}%;width:${width}%;background:${err ? "" : colorOf(s.service)}`}
            title=${`${s.name}: ${fmtMs(s.durationMs)}`}></span>
          <span class="wf-dur" style=${`left:${Math.min(left + width, 88)}%`}>${fmtMs(s.durationMs)}</span></div></div>`;
    })}
  </div>`;
}

function SpanDetail({ span }) {
  const e = span.event || {};
  const m = e.$metadata || {};
  const attrs = Object.entries(e.source || {}).sort(([a], [b]) => a.localeCompare(b));
  const genai = [["operation", m.operation], ["agent", m.agentName], ["model", m.model], ["provider", m.provider],
    ["input tokens", m.inputTokens], ["output tokens", m.outputTokens], ["tool", m.toolName],
    ["cost", e.source?.["gen_ai.usage.cost"] != null ? fmtUsd(e.source["gen_ai.usage.cost"]) : null]]
    .filter(([, v]) => v != null && v !== "");
  const events = e.$content?.["telequery.gen_ai.events"] ?? e.source?.["telequery.gen_ai.events"];
  return html`<aside class="span-detail" aria-label="Span details" data-testid="span-detail">
    <h3>${span.name}</h3>
    <dl>
      <dt>service</dt><dd>${span.service}</dd><dt>kind</dt><dd>${span.kind || "–"}</dd>
      <dt>status</dt><dd class=${span.status === "error" ? "err" : ""}>${span.status}${span.error ? ": " + span.error : ""}</dd>
      <dt>start</dt><dd>${when(span.startTimeMs)}</dd><dt>duration</dt><dd>${fmtMs(span.durationMs)}</dd>
      <dt>span id</dt><dd><code>${span.spanId}</code></dd>
      <dt>parent</dt><dd><code>${span.parentSpanId || "(root)"}</code>${span.orphan ? " (not in this trace)" : ""}</dd>
      ${genai.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}
    </dl>
    <h4>Attributes <span class="dim">(${attrs.length})</span></h4>
    <table class="attrs"><tbody>${attrs.map(([k, v]) => html`<tr><td class="dim">${k}</td><td>${typeof v === "object" ? JSON.stringify(v) : String(v)}</td></tr>`)}</tbody></table>
    <h4>Events</h4>${events ? html`<${JsonView} value=${typeof events === "string" ? safeParse(events) : events}/>` : html`<div class="dim">none recorded</div>`}
    <h4>Links</h4>${e.links?.length ? html`<${JsonView} value=${e.links}/>` : html`<div class="dim">none</div>`}
    ${e.$content && html`<h4>Content</h4><${JsonView} value=${e.$content}/>`}
    <details><summary>Event JSON</summary><${JsonView} value=${e}/></details>
  </aside>`;
}

function safeParse(s) { try { return JSON.parse(s); } catch { return s; } }

/** A filter leaf selecting one trace's events. */
export const traceFilter = (traceId) => leaf("$metadata.traceId", traceId);
