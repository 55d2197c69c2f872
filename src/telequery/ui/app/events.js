// The matching events, newest first: a page at a time with the API's cursor (older with
// `offset`, newer with `offsetDirection: "prev"`), each row expanding to its full JSON.
import { html, useState } from "/ui/vendor/htm/standalone.module.js";
import { ListPager, useCursorList } from "./lists.js";
import { fmtMs, when } from "./state.js";
import { activate, Failure, JsonView, Loading } from "./ui.js";

export function EventList({ q }) {
  const list = useCursorList(q, "events");
  const { state } = list;
  if (state.error) return html`<${Failure} error=${state.error}/>`;
  if (!state.data) return html`<${Loading} what="events"/>`;
  const { events = [], count = 0 } = state.data.events || {};
  return html`<div class="panel" data-testid="events">
    <${ListPager} title="Events" noun="events" items=${events} total=${count}
      cursor=${(e) => e.$metadata.id} list=${list}/>
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
