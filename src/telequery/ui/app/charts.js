// Charts: uPlot (vendored, global `uPlot`) for time series, with labelled axes, units,
// a legend with hover values, and the previous window overlaid dashed; small SVGs for
// sparklines and histograms.
import { html, useEffect, useRef } from "/ui/vendor/htm/standalone.module.js";
import { colorOf, fmtValue } from "./state.js";

export const groupKey = (groups) => JSON.stringify((groups || []).map((g) => [g.key, g.value]));
const groupLabel = (groups, none) => (groups || []).map((g) => String(g.value)).join(" · ") || none;

/** uPlot's columns from a calculation's answer: one x (epoch seconds), one value list per
 * group (labelled ``none`` when the group has no value); the previous window's
 * buckets (same count, same width) are drawn at the current window's times, dashed. */
export function toSeries(calc, prev = null, none = "all events") {
  const times = (calc.series || []).map((b) => Date.parse(b.time) / 1000);
  const groups = new Map();
  (calc.aggregates || []).forEach((a) => groups.set(groupKey(a.groups), a.groups));
  const line = (buckets, key) => buckets.map((b) => {
    const d = b.data.find((x) => groupKey(x.groups) === key);
    return d ? d.value : 0;
  });
  const series = [];
  [...groups.entries()].forEach(([key, g], i) => {
    series.push({ label: groupLabel(g, none), values: line(calc.series || [], key), color: colorOf(null, i) });
    if (prev) {
      const pv = line(prev.series || [], key);
      series.push({ label: "previous: " + groupLabel(g, none), values: times.map((_, j) => pv[j] ?? null),
                    color: colorOf(null, i), dashed: true });
    }
  });
  return { xs: times, series };
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
/** Axis ticks: short (12k, $1.5, 250 ms), the unit in the axis label. */
const tick = (v, unit) => (unit === "USD" ? "$" : "") + compact.format(v);

const AXIS = { stroke: "#8b96a3", grid: { stroke: "#2a313b", width: 1 }, ticks: { stroke: "#2a313b" } };

/**
 * series: [{label, points: [[epochSec, value]...], dashed?, color?}] sharing one x axis.
 * Compare series carry the current window's times (shifted by the caller).
 */
export function TimeChart({ title, unit, xs, series, height = 220 }) {
  const el = useRef(null);
  useEffect(() => {
    if (!el.current) return undefined;
    const width = Math.max(300, el.current.clientWidth || 800);
    const opts = {
      width, height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { ...AXIS, label: "time (local)", labelSize: 18, labelFont: "12px system-ui" },
        { ...AXIS, label: unit || "value", labelSize: 18, labelFont: "12px system-ui", size: 70,
          values: (u, ticks) => ticks.map((t) => tick(t, unit)) },
      ],
      series: [{ label: "time", value: (u, v) => v == null ? "–" : new Date(v * 1000).toLocaleString() },
        ...series.map((s, i) => ({
          label: s.label, stroke: s.color || colorOf(null, i), width: 1.5,
          dash: s.dashed ? [6, 4] : undefined,
          value: (u, v) => fmtValue(v, unit),
        }))],
    };
    const data = [xs, ...series.map((s) => s.values)];
    const plot = new uPlot(opts, data, el.current);
    const resize = () => plot.setSize({ width: Math.max(300, el.current.clientWidth), height });
    window.addEventListener("resize", resize);
    return () => { window.removeEventListener("resize", resize); plot.destroy(); };
  }, [xs, series, unit, height]);
  // Each line's total, on the element: what a reader (or a test) checks the chart against.
  const totals = JSON.stringify(Object.fromEntries(series.map((s) => [s.label, s.values.reduce((a, v) => a + (v || 0), 0)])));
  return html`<figure class="chart" aria-label=${"Chart: " + title} data-totals=${totals}>
    <figcaption>${title}${unit ? html` <span class="dim">(${unit})</span>` : ""}</figcaption>
    <div ref=${el} class="plot"></div></figure>`;
}

/** A sparkline of counts (the window's buckets), as a tiny SVG. */
export function Sparkline({ values, color = "#4aa3ff", width = 120, height = 24 }) {
  const max = Math.max(1, ...values);
  const n = Math.max(1, values.length - 1);
  const pts = values.map((v, i) => `${(i / n) * width},${height - (v / max) * (height - 2) - 1}`).join(" ");
  return html`<svg class="spark" width=${width} height=${height} role="img"
    aria-label=${`sparkline, max ${max}`}><polyline points=${pts} fill="none" stroke=${color} stroke-width="1.5"/></svg>`;
}

/** A histogram: bars per value bucket, labelled axes. */
export function Histogram({ title, buckets, counts, unit }) {
  // Drawn at about its on-screen size (the panel is ~1,200-1,900 px wide), so text stays
  // text-sized; the right margin leaves room for the last rotated label.
  const w = 1400, h = 220, left = 60, right = 60, bottom = 90, top = 14;
  const max = Math.max(1, ...counts);
  const bw = (w - left - right) / Math.max(1, counts.length);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  return html`<figure class="chart" aria-label=${"Distribution: " + title}>
    <figcaption>${title} <span class="dim">(distribution${unit ? ", " + unit : ""})</span></figcaption>
    <svg viewBox=${`0 ${-top} ${w} ${h + bottom + top}`} width="100%" style="max-height:340px" role="img">
      ${ticks.map((t) => html`<g>
        <line x1=${left} x2=${w - right} y1=${h - (t / max) * h} y2=${h - (t / max) * h} stroke="#2a313b"/>
        <text x=${left - 6} y=${h - (t / max) * h + 4} text-anchor="end" class="axis">${fmtValue(t, "")}</text></g>`)}
      ${counts.map((c, i) => html`<rect class="bar" x=${left + i * bw + 1} y=${h - (c / max) * h}
          width=${Math.max(1, bw - 2)} height=${(c / max) * h}><title>${buckets[i]}: ${fmtValue(c, "")} events</title></rect>
        <text class="axis" transform=${`translate(${left + i * bw + bw / 2},${h + 8}) rotate(40)`}>${buckets[i]}</text>`)}
      <text class="axis" x="12" y=${h / 2} transform=${`rotate(-90 12 ${h / 2})`} text-anchor="middle">events</text>
      <text class="axis" x=${(w + left - right) / 2} y=${h + bottom - 2} text-anchor="middle">${unit || "value"}</text>
    </svg></figure>`;
}
