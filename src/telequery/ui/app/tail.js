// Live tail: the server's push mechanism (POST telemetry/live-tail, then its WebSocket),
// with the page's current filters and search; pause keeps receiving and counts what
// waits, resume shows it, clear empties the list.
import { html, useEffect, useRef, useState } from "/ui/vendor/htm/standalone.module.js";
import * as api from "./api.js";
import { selection } from "./builder.js";
import { EventTable } from "./events.js";

const KEEP = 500;
const HEARTBEAT_MS = 20000;

export function Tail({ q }) {
  const [events, setEvents] = useState([]);
  const [status, setStatus] = useState("connecting");
  const [paused, setPaused] = useState(false);
  const [dropped, setDropped] = useState(0);
  const [waiting, setWaiting] = useState(0);  // held while paused (the ref is not rendered)
  const held = useRef([]);
  const pausedRef = useRef(false);
  const sel = JSON.stringify(selection(q.parameters));
  useEffect(() => {
    let socket = null;
    let beat = null;
    let closed = false;
    const ctl = new AbortController();
    setEvents([]); held.current = []; setWaiting(0); setStatus("connecting");
    api.liveTail(JSON.parse(sel), ctl.signal).then((url) => {
      if (closed) return;
      socket = new WebSocket(url);
      socket.onopen = () => setStatus("live");
      socket.onclose = () => { if (!closed) setStatus("closed by the server"); };
      socket.onerror = () => setStatus("connection error");
      socket.onmessage = (msg) => {
        const m = JSON.parse(msg.data);
        if (m.type === "dropped") { setDropped((d) => d + m.count); return; }
        if (m.type !== "event") return;
        const { type, ...event } = m;
        void type;
        if (pausedRef.current) {
          held.current.unshift(event);
          held.current.length = Math.min(held.current.length, KEEP);
          setWaiting(held.current.length);
          return;
        }
        setEvents((list) => [event, ...list].slice(0, KEEP));
      };
      beat = setInterval(() => api.heartbeat().catch(() => {}), HEARTBEAT_MS);
    }).catch((e) => { if (e.name !== "AbortError") setStatus("could not start: " + e.message); });
    return () => { closed = true; ctl.abort(); clearInterval(beat); socket?.close(); };
  }, [sel]);
  const pause = () => { pausedRef.current = true; setPaused(true); };
  const resume = () => {
    pausedRef.current = false; setPaused(false);
    const shown = held.current;
    held.current = []; setWaiting(0);
    setEvents((list) => [...shown, ...list].slice(0, KEEP));
  };
  return html`<section data-tab="tail" aria-label="Live tail"><div class="panel">
    <div class="pager"><h2>Live tail</h2>
      <span role="status" data-testid="tail-status" class=${status === "live" ? "ok" : "dim"}>${status === "live" ? (paused ? "paused" : "● live") : status}</span>
      ${paused ? html`<button aria-label="Resume live tail" onClick=${resume}>Resume${waiting ? ` (${waiting} waiting)` : ""}</button>`
        : html`<button aria-label="Pause live tail" onClick=${pause}>Pause</button>`}
      <button aria-label="Clear live tail" onClick=${() => { setEvents([]); held.current = []; setWaiting(0); setDropped(0); }}>Clear</button>
      <span class="dim">${events.length} shown (newest first, last ${KEEP} kept)${dropped ? `; ${dropped} dropped by the server (slow reader)` : ""}; uses the filters and search above</span></div>
    ${events.length ? html`<${EventTable} events=${events}/>` : html`<div class="empty">Waiting for events that match…</div>`}
  </div></section>`;
}
