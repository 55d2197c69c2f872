// Saved queries: the Workers Observability API's own (GET/POST /queries, PATCH and
// DELETE /queries/{id}), so a query saved here is one an SDK lists, and back.
import { html, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { when } from "./state.js";
import { Failure, Loading, useQuery } from "./ui.js";

export function SavedQueries({ params, onOpen }) {
  const [version, setVersion] = useState(0);
  const [name, setName] = useState("");
  const [renaming, setRenaming] = useState(null);
  const [error, setError] = useState(null);
  const list = useQuery((signal) => api.saved.list(signal), [version]);
  const act = async (f) => {
    setError(null);
    try { await f(); setVersion((v) => v + 1); } catch (e) { setError(e); }
  };
  const save = () => name.trim() && act(async () => { await api.saved.create(name.trim(), params); setName(""); });
  return html`<div class="panel saved" aria-label="Saved queries" data-testid="saved">
    <div class="pager"><h2>Saved queries</h2>
      <label class="lbl" for="tq-save-name">Name</label>
      <input id="tq-save-name" aria-label="Saved query name" placeholder="name this query" value=${name}
        onInput=${(e) => setName(e.target.value)} onKeyDown=${(e) => e.key === "Enter" && save()}/>
      <button aria-label="Save current query" disabled=${!name.trim()} onClick=${save}>Save current query</button></div>
    ${error && html`<${Failure} error=${error}/>`}
    ${list.error ? html`<${Failure} error=${list.error}/>` : !list.data ? html`<${Loading} what="saved queries"/>` :
      list.data.length === 0 ? html`<div class="empty">No saved queries yet.</div>` : html`
      <table aria-label="Saved query list"><thead><tr><th>name</th><th>updated</th><th></th></tr></thead><tbody>
      ${list.data.map((s) => html`<tr key=${s.id}>
        <td>${renaming?.id === s.id
          ? html`<input aria-label="New name" value=${renaming.name} onInput=${(e) => setRenaming({ ...renaming, name: e.target.value })}
              onKeyDown=${(e) => e.key === "Enter" && act(async () => { await api.saved.rename(s.id, renaming.name); setRenaming(null); })}/>`
          : s.name}</td>
        <td class="dim">${when(Date.parse(s.updated))}</td>
        <td><button aria-label=${"Open " + s.name} onClick=${() => onOpen(s)}>Open</button>
          ${renaming?.id === s.id
            ? html`<button aria-label="Save name" onClick=${() => act(async () => { await api.saved.rename(s.id, renaming.name); setRenaming(null); })}>Save name</button>`
            : html`<button aria-label=${"Rename " + s.name} onClick=${() => setRenaming({ id: s.id, name: s.name })}>Rename</button>`}
          <button aria-label=${"Delete " + s.name} onClick=${() => act(() => api.saved.remove(s.id))}>Delete</button></td></tr>`)}
      </tbody></table>`}
  </div>`;
}
