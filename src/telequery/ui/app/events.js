// The matching events, newest first: a page at a time with the API's cursor (older with
// `offset`, newer with `offsetDirection: "prev"`), each row expanding to its full JSON.
import { html, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { selection } from "./builder.js";
import { fmtInt, fmtMs, timeframe, when } from "./state.js";
import { activate, Failure, JsonView, Loading, useQuery } from "./ui.js";

const PAGE = 50;

export function EventList({ q }) {
  const [page, setPage] = useState({ index: 0, offset: null, dir: null, key: JSON.stringify(q) });
  const key = JSON.stringify(q);
  const cur = page.key === key ? page : { index: 0, offset: null, dir: null, key };
  const tf = timeframe(q);
  const state = useQuery((signal) => api.telemetry(tf, selection(q.parameters), {
    view: "events", limit: PAGE,
    ...(cur.offset ? { offset: cur.offset } : {}), ...(cur.dir ? { offsetDirection: cur.dir } : {}),
  }, signal), [key, cur.index, cur.offset, cur.dir]);
  if (state.error) return html`<${Failure} error=${state.error}/>`;
  if (!state.data) return html`<${Loading} what="events"/>`;
  const { events = [], count = 0 } = state.data.events || {};
  const first = cur.index * PAGE;
  const go = (dir) => {
    if (dir === "next") setPage({ key, index: cur.index + 1, offset: events[events.length - 1].$metadata.id, dir: null });
    else if (cur.index <= 1) setPage({ key, index: 0, offset: null, dir: null });
    else setPage({ key, index: cur.index - 1, offset: events[0].$metadata.id, dir: "prev" });
  };
  return html`<div class="panel" data-testid="events">
    <div class="pager">
      <span data-testid="showing">${events.length
        ? `Showing ${fmtInt(first + 1)}–${fmtInt(first + events.length)} of ${fmtInt(count)} events`
        : `No events (of ${fmtInt(count)})`}</span>
      <button aria-label="Newer events" disabled=${cur.index === 0} onClick=${() => go("prev")}>← Newer</button>
      <button aria-label="Older events" disabled=${first + events.length >= count} onClick=${() => go("next")}>Older →</button>
    </div>
    <${EventTable} events=${events}/>
  </div>`;
}

export function EventTable({ events }) {
  const [open, setOpen] = useState(new Set());
  const toggle = (id) => setOpen((s) => { const n = new Set(s); n.has(id) ? n.delete(id) : n.add(id); return n; });
  return html`<table class="events" aria-label="Events"><thead><tr><th>time</th><th>service</th><th>level</th>
      <th>type</th><th>message</th><th class="num">duration</th></tr></thead><tbody>
    ${events.map((e) => {
      const m = e.$metadata || {};
      const id = m.id;
      return html`<tr class="click" key=${id} aria-expanded=${open.has(id)} ...${activate(() => toggle(id))}>
          <td class="nowrap">${when(e.timestamp)}</td><td>${m.service}</td>
          <td class=${m.level === "error" || m.status === "error" ? "err" : ""}>${m.level || m.status || ""}</td>
          <td>${m.type}</td>
          <td class="msg">${m.message || m.spanName}${m.error ? html` <span class="err">${m.error}</span>` : ""}
            ${e.$content ? html` <span class="badge" title="has prompt/completion content">content</span>` : ""}</td>
          <td class="num">${m.duration != null ? fmtMs(m.duration) : ""}</td></tr>
        ${open.has(id) && html`<tr class="detail" key=${id + "-json"}><td colspan="6"><${JsonView} value=${e}/></td></tr>`}`;
    })}</tbody></table>`;
}
