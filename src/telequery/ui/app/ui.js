// Small shared pieces: the data hook that cancels stale requests, loading and error
// panels, the JSON viewer, a copy button.
import { html, useEffect, useState } from "/ui/vendor/htm/standalone.module.js";

/**
 * Run `load(signal)` whenever `deps` change. A newer run or leaving the view aborts the
 * older request, an answer that arrives after that is dropped, and an answer is only
 * returned for the deps it was loaded for (the render between a change and the new
 * request shows "loading", not the old answer), so a view never shows data for a query
 * it no longer has.
 */
export function useQuery(load, deps) {
  const key = JSON.stringify(deps);
  const [state, setState] = useState({ key: null, data: null, error: null });
  useEffect(() => {
    const ctl = new AbortController();
    let live = true;
    load(ctl.signal).then(
      (data) => { if (live) setState({ key, data, error: null }); },
      (error) => { if (live && error.name !== "AbortError") setState({ key, data: null, error }); });
    return () => { live = false; ctl.abort(); };
  }, [key]);
  return state.key === key ? state : { key, data: null, error: null };
}

export const Loading = ({ what }) => html`<div class="panel loading" role="status">Loading ${what}…</div>`;

export const Failure = ({ error }) => html`<div class="panel error" role="alert">
  <strong>The query failed.</strong> ${error.message}</div>`;

export function JsonView({ value }) {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}

export function CopyButton({ text, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try { await navigator.clipboard.writeText(text); } catch { /* no clipboard permission: select instead */ }
    setDone(true); setTimeout(() => setDone(false), 1500);
  };
  return html`<button aria-label=${label} onClick=${copy}>${done ? "Copied" : label}</button>`;
}

/** A clickable row that the keyboard reaches too: focusable, Enter or Space acts. */
export function activate(act) {
  return { tabIndex: 0, onClick: act,
           onKeyDown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); act(); } } };
}
