// The event, trace and agent-run lists: a view of telemetry/query paged with the API's cursor
// (older: `offset` = the last item's cursor; newer: the first item's, with
// `offsetDirection: "prev"`), back to the first page whenever the query changes.
import { html, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { selection } from "./builder.js";
import { fmtInt, timeframe } from "./state.js";
import { useQuery } from "./ui.js";

const PAGE = 50;
const FIRST = { index: 0, offset: null, dir: null };

export function useCursorList(q, view) {
  const key = JSON.stringify(q);
  const [page, setPage] = useState({ key, ...FIRST });
  const cur = page.key === key ? page : { key, ...FIRST };
  const state = useQuery((signal) => api.telemetry(timeframe(q), selection(q.parameters), {
    view, limit: PAGE, ...(cur.offset ? { offset: cur.offset } : {}),
    ...(cur.dir ? { offsetDirection: cur.dir } : {}) }, signal), [key, cur.index, cur.offset, cur.dir]);
  return { state, page: cur, setPage: (p) => setPage({ key, ...p }) };
}

/** The list's heading: "Showing traces 51–100, newest first" (or, when the API gives the
 * ``total``, "Showing 51–100 of 12,000 events"), newer / older. */
export function ListPager({ title, noun, items, cursor, list, total = null }) {
  const { page, setPage } = list;
  const first = page.index * PAGE;
  const range = `${fmtInt(first + 1)}–${fmtInt(first + items.length)}`;
  const older = total == null ? items.length === PAGE : first + items.length < total;
  return html`<div class="pager"><h2>${title}</h2>
    <span data-testid="showing">${!items.length ? `No ${noun} match in this time range`
      : total == null ? `Showing ${noun} ${range}, newest first` : `Showing ${range} of ${fmtInt(total)} ${noun}`}</span>
    <button aria-label=${"Newer " + noun} disabled=${page.index === 0}
      onClick=${() => setPage(page.index <= 1 ? FIRST : { index: page.index - 1, offset: cursor(items[0]), dir: "prev" })}>← Newer</button>
    <button aria-label=${"Older " + noun} disabled=${!older}
      onClick=${() => setPage({ index: page.index + 1, offset: cursor(items[items.length - 1]), dir: null })}>Older →</button></div>`;
}
