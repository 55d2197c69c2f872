// The explorer's shell: token, query bar, tabs, saved queries and the empty-org
// onboarding. State lives in the URL (state.js); each tab is its own component, so
// leaving a tab unmounts it and cancels its requests.
import { html, render, useEffect, useMemo, useState } from "/ui/vendor/htm/standalone.module.js";
import { Agents } from "./agents.js";
import * as api from "./api.js";
import { apiParams, Filters, Needle, Shape, TimeRange } from "./builder.js";
import { Explore } from "./explore.js";
import { Patterns } from "./patterns.js";
import { SavedQueries } from "./saved.js";
import { defaultQuery, readHash, shortKey, timeframe, writeHash } from "./state.js";
import { Tail } from "./tail.js";
import { traceFilter, Traces } from "./traces.js";
import { CopyButton } from "./ui.js";

const TABS = [["explore", "Explore"], ["traces", "Traces"], ["agents", "Agent runs"],
              ["patterns", "Log patterns"], ["tail", "Live tail"]];

function App() {
  const start = useMemo(readHash, []);
  const [token, setToken] = useState(() => {
    if (start.token) api.auth.set(start.token);
    return api.auth.token;
  });
  const [who, setWho] = useState({ state: "checking" });
  const [checks, setChecks] = useState(0);  // "check again" on the onboarding panel
  const [tab, setTab] = useState(TABS.some(([k]) => k === start.tab) ? start.tab : "explore");
  const [q, setQState] = useState(start.q);
  const [draft, setDraft] = useState(start.q);
  const [fields, setFields] = useState(new Map());
  const [openTrace, setOpenTrace] = useState(null);
  const [openRun, setOpenRun] = useState(null);
  const [patternType, setPatternType] = useState("message");
  const [showSaved, setShowSaved] = useState(false);

  const setQ = (next, toTab) => {
    setQState(next); setDraft(next);
    if (toTab) setTab(toTab);
  };
  // The window and compare apply at once, keeping any unapplied edits of the draft.
  const setWindow = (w) => { setQState({ ...q, ...w }); setDraft({ ...draft, ...w }); };
  useEffect(() => writeHash(tab, q), [tab, q]);

  // Who the token is; then, beside the tab's own queries (not before them: first render
  // is what a user waits for), whether its org has any data at all (else: onboarding).
  useEffect(() => {
    if (!token) { setWho({ state: "no-token" }); return undefined; }
    const ctl = new AbortController();
    setWho({ state: "checking" });
    (async () => {
      const me = await api.whoami(ctl.signal);
      setWho({ state: "ready", org: me.org, scopes: me.scopes });
      const now = Date.now();
      const r = await api.telemetry({ from: now - 92 * 86400e3, to: now },
        { calculations: [{ operator: "count", alias: "count" }] }, { view: "calculations", ignoreSeries: true }, ctl.signal);
      if (!(r.calculations[0]?.aggregates?.[0]?.value > 0)) setWho({ state: "empty", org: me.org, scopes: me.scopes });
    })().catch((e) => { if (e.name !== "AbortError") setWho({ state: "error", error: e }); });
    return () => ctl.abort();
  }, [token, checks]);

  // Field names for every suggestion box (one list per time range), fetched once the
  // page has had a moment to show its data: suggestions can wait, the first chart not.
  const tf = useMemo(() => timeframe(q), [q]);
  const tfKey = q.range === "custom" ? `${q.from}-${q.to}` : q.range;
  useEffect(() => {
    if (who.state !== "ready") return undefined;
    const ctl = new AbortController();
    const t = setTimeout(() => api.keys(tf, ctl.signal)
      .then((ks) => setFields(new Map(ks.map((k) => [k.key, k.type])))).catch(() => {}), 1500);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [who.state, tfKey]);

  const run = () => setQ({ ...draft });
  const ready = who.state === "ready";
  const showEvents = (trace) => setQ({ ...q, view: "events", range: "custom", from: trace.from, to: trace.to,
    parameters: { ...q.parameters, filters: [traceFilter(trace.traceId)], filterCombination: "and" } }, "explore");

  let content;
  if (who.state === "no-token") content = html`<${TokenPanel}/>`;
  else if (who.state === "checking") content = html`<div class="panel loading" role="status">Checking the token…</div>`;
  else if (who.state === "error") content = html`<div class="panel error" role="alert" data-testid="auth-error">${who.error.message}</div>`;
  else if (who.state === "empty") content = html`<${Onboarding} token=${token} org=${who.org} onRetry=${() => setChecks((n) => n + 1)}/>`;
  else if (tab === "explore") content = html`<${Explore} q=${q} setQ=${setQ}/>`;
  else if (tab === "traces") content = html`<${Traces} q=${q} openTrace=${openTrace} onOpen=${setOpenTrace} showEvents=${showEvents}/>`;
  else if (tab === "agents") content = html`<${Agents} q=${q} setQ=${setQ} openRun=${openRun} onOpen=${setOpenRun}/>`;
  else if (tab === "patterns") content = html`<${Patterns} q=${q} setQ=${setQ} patternType=${patternType} setPatternType=${setPatternType}/>`;
  else content = html`<${Tail} q=${q}/>`;

  return html`
    <header>
      <h1>telequery</h1>
      <form class="group" onSubmit=${(e) => e.preventDefault()}>
        <label class="lbl" for="tq-token">API token</label>
        <input id="tq-token" type="password" autocomplete="off" aria-label="API token" placeholder="paste a token" size="24" defaultValue=${token}
          onChange=${(e) => { api.auth.set(e.target.value.trim()); setToken(api.auth.token); }}/></form>
      ${who.org && html`<span class="dim" data-testid="org">org <strong>${who.org}</strong></span>`}
      <span class="spacer"></span>
      ${ready && html`<button aria-label="Saved queries" aria-expanded=${showSaved} onClick=${() => setShowSaved(!showSaved)}>Saved queries</button>`}
      <a href="/docs" class="dim">API docs</a>
    </header>
    ${ready && html`<div class="querybar" role="search" aria-label="Query">
      <div class="row">
        <${TimeRange} q=${draft} onChange=${(d) => setWindow({ range: d.range, from: d.from, to: d.to })}/>
        <label><input type="checkbox" aria-label="Compare to previous period" checked=${q.compare}
          onChange=${(e) => setWindow({ compare: e.target.checked })}/> Compare to previous period</label>
        <${Needle} params=${draft.parameters} onChange=${(p) => setDraft({ ...draft, parameters: p })} onRun=${run}/>
        <button class="primary" aria-label="Run query" onClick=${run}>Run query</button>
        <button aria-label="Reset query" onClick=${() => setQ({ ...defaultQuery(), range: q.range, from: q.from, to: q.to })}>Reset</button>
      </div>
      <${Filters} params=${draft.parameters} fields=${fields} tf=${tf} onChange=${(p) => setDraft({ ...draft, parameters: p })}/>
      ${tab === "explore" && html`<${Shape} params=${draft.parameters} fields=${fields} onChange=${(p) => setDraft({ ...draft, parameters: p })}/>`}
      ${JSON.stringify(draft) !== JSON.stringify(q) && html`<div class="dim">Edited: press Run query (or Enter in Search) to apply.</div>`}
    </div>
    ${showSaved && html`<${SavedQueries} params=${apiParams(q.parameters)} onOpen=${(s) => { setQ({ ...q, parameters: { ...defaultQuery().parameters, ...s.parameters } }, "explore"); setShowSaved(false); }}/>`}
    <nav role="tablist" aria-label="Views">
      ${TABS.map(([k, label]) => html`<button role="tab" aria-selected=${tab === k} aria-label=${label}
        class=${tab === k ? "active" : ""} onClick=${() => setTab(k)}>${label}</button>`)}
    </nav>`}
    <datalist id="tq-keys">${[...fields.keys()].map((k) => html`<option value=${k}>${shortKey(k)}</option>`)}</datalist>
    <main>${content}</main>`;
}

function TokenPanel() {
  return html`<div class="panel" data-testid="token-panel"><h2>Paste an API token above</h2>
    <p><code>make demo</code> prints one and saves it in <code>.demo-data/demo-token.txt</code>; otherwise
    <code>telequery token create --org ORG --scopes ingest,query</code>. The token stays in this browser.</p></div>`;
}

function Onboarding({ token, org, onRetry }) {
  const origin = location.origin;
  const curl = `curl -X POST ${origin}/v1/events \\
  -H "Authorization: Bearer ${token}" \\
  -H "Content-Type: application/x-ndjson" \\
  --data-binary '{"message":"hello from curl","level":"info","service.name":"my-service"}'`;
  const env = `OTEL_EXPORTER_OTLP_ENDPOINT=${origin}
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${token}"
OTEL_SERVICE_NAME=my-service`;
  return html`<div class="panel onboarding" data-testid="onboarding">
    <h2>Send your first telemetry</h2>
    <p>Org <strong>${org}</strong> has no events in the last 92 days. Point any OpenTelemetry SDK or collector
      at this server (OTLP/HTTP, protobuf or JSON): traces go to <code>${origin}/v1/traces</code>, logs to
      <code>${origin}/v1/logs</code>; NDJSON lines to <code>${origin}/v1/events</code>.</p>
    <h3>Environment variables for an OTel SDK</h3>
    <pre class="copy">${env}</pre><${CopyButton} text=${env} label="Copy environment variables"/>
    <h3>Or try it with curl</h3>
    <pre class="copy">${curl}</pre><${CopyButton} text=${curl} label="Copy curl command"/>
    <p><button onClick=${onRetry}>I sent something: check again</button></p>
  </div>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the static "Loading" placeholder
render(html`<${App}/>`, root);
