"""Mixed load: dashboards querying while telemetry pours in (issue 20's workload).

Against ``telequery serve`` over a copy of the bench data (``bench.data``, N events):

1. **rest**: ``--clients`` dashboard clients cycle through the query suite
   (``bench.suite``: Workers, gateway, reports and native queries) for ``--seconds``;
2. **ingest alone**: one OTLP client posts 512-span protobuf batches as fast as they are
   acknowledged, for half that time (the unloaded ingest rate);
3. **load**: both at once for ``--seconds``, plus a probe every 2 s that ingests one span
   and times how long until a query sees it, with read-your-writes
   (``X-Telequery-Read-Your-Writes``) and without (the default: what is applied);
4. **rest after**: the dashboards alone again, over the data the load added, so that the
   slowdown from more data is told apart from the slowdown from sharing the machine.

Every client (each dashboard, the OTLP client) runs in a process of its own, as it would
in production. It reports, per query, p50/p99 at rest and under load; queries/s; ingest spans/s
acknowledged (alone and under load) and applied; the probe latencies; the freshness lag
the server reported; the server's RSS every second. Loopback only, bounded in time.

    python -m bench.load --events 1000000 --engine duckdb [--seconds 60] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import data, queries
from bench.ingest import make_request
from bench.machine import cpu_model, machine_busy_seconds, process_cpu_seconds
from bench.report import write_section
from bench.suite import SuiteQuery, suite

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Under load"
PROBE_EVERY = 2.0


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@dataclass
class Phase:
    """What one phase measured."""

    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    acked_spans: int = 0
    applied_before: float = 0.0
    applied_after: float = 0.0
    ryw_s: list[float] = field(default_factory=list)
    visible_s: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)
    # CPU over the phase, in cores: the server process, the OTLP client, the whole machine
    server_cores: float = 0.0
    ingest_client_cores: float = 0.0
    machine_cores: float = 0.0

    @property
    def queries(self) -> int:
        return sum(len(v) for v in self.latencies.values())


class Server(queries.Server):
    """``telequery serve`` over a scratch copy of the bench data (ingest mutates it)."""

    def __init__(self, size: int, engine: str, scratch: Path,
                 options: tuple[str, ...] = ()) -> None:
        base = data.data_dir(size)
        for part in ("meta", engine):
            shutil.copytree(base / part, scratch / part, symlinks=True)  # chDB: relative links
        super().__init__(size, engine, scratch, options)

    def applied(self) -> float:
        text = httpx.get(self.url + "/metrics", timeout=30).text
        for line in text.splitlines():
            if line.startswith("telequery_ingest_rows_applied_total") or \
                    line.startswith("telequery_ingest_rows_applied "):
                return float(line.split()[-1])
        return 0.0


def _dashboard(url: str, token: str, qs: list[SuiteQuery], start: int, stop: threading.Event,
               phase: Phase, lock: threading.Lock, refresh: float = 0.0) -> None:
    """Cycle through the suite: back to back, or (``refresh`` > 0) the whole suite once every
    ``refresh`` seconds, as a dashboard page on a refresh timer does."""
    with httpx.Client(base_url=url, timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        i = start
        cycle = time.monotonic()
        while not stop.is_set():
            if refresh and i != start and (i - start) % len(qs) == 0:
                if stop.wait(max(0.0, cycle + refresh - time.monotonic())):
                    break
                cycle = time.monotonic()
            q = qs[i % len(qs)]
            i += 1
            t0 = time.perf_counter()
            r = client.post(q.path, json=q.body)
            dt = time.perf_counter() - t0
            with lock:
                if r.status_code == 200:
                    phase.latencies.setdefault(q.name, []).append(dt)
                    lag = r.headers.get("x-telequery-freshness-lag-ms")
                    if lag is not None:
                        phase.lag_ms.append(float(lag))
                else:
                    phase.errors[q.name] = phase.errors.get(q.name, 0) + 1


def _ingest(url: str, token: str, bodies: list[bytes], stop: threading.Event, phase: Phase,
            lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=120, headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-protobuf"}) as client:
        i = 0
        while not stop.is_set():
            r = client.post("/v1/traces", content=bodies[i % len(bodies)])
            i += 1
            if r.status_code == 200:
                with lock:
                    phase.acked_spans += 512
            elif r.status_code == 429:
                time.sleep(float(r.headers.get("retry-after", "1")))


def _probe(url: str, token: str, stop: threading.Event, phase: Phase,
           lock: threading.Lock) -> None:
    """Every PROBE_EVERY s: ingest one span of a fresh service, then time how long until a
    count sees it, with read-your-writes and with the default."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    auth = {"Authorization": f"Bearer {token}"}
    n = 0
    with httpx.Client(base_url=url, timeout=120, headers=auth) as client:
        while not stop.wait(PROBE_EVERY):
            n += 1
            service = f"probe-{n}-{time.time_ns()}"
            req = ExportTraceServiceRequest()
            rs = req.resource_spans.add()
            rs.resource.attributes.append(KeyValue(key="service.name",
                                                   value=AnyValue(string_value=service)))
            now = time.time_ns()
            rs.scope_spans.add().spans.add(trace_id=now.to_bytes(16, "big"),
                                           span_id=n.to_bytes(8, "big"), name="probe",
                                           start_time_unix_nano=now,
                                           end_time_unix_nano=now + 1000)
            r = client.post("/v1/traces", content=req.SerializeToString(),
                            headers={"Content-Type": "application/x-protobuf"})
            if r.status_code != 200:
                continue
            acked = time.perf_counter()
            sql = {"sql": f"SELECT count(*) FROM spans WHERE service = '{service}'",
                   "from": now // 1_000_000 - 60_000}
            ryw = client.post("/api/v1/sql", json=sql,
                              headers={"X-Telequery-Read-Your-Writes": "30"})
            ryw_s = time.perf_counter() - acked
            visible_s = None
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline and not stop.is_set():
                r = client.post("/api/v1/sql", json=sql)
                if r.status_code == 200 and r.json()["rows"][0][0] >= 1:
                    visible_s = time.perf_counter() - acked
                    break
                time.sleep(0.05)
            with lock:
                if ryw.status_code == 200 and ryw.json()["rows"][0][0] >= 1:
                    phase.ryw_s.append(ryw_s)
                if visible_s is not None:
                    phase.visible_s.append(visible_s)


def _client(kind: str, url: str, token: str, work: Any, start: int, ready: Any, go: Any,
            stop: Any, out: Any, refresh: float) -> None:
    """One client in a process of its own (a dashboard, or the OTLP client), as in
    production: clients sharing the benchmark's GIL would slow each other, not the server
    (the ingest client among three dashboard threads measured the client's GIL)."""
    phase, lock = Phase(), threading.Lock()
    ready.set()
    go.wait()
    cpu0 = time.process_time()
    if kind == "dashboard":
        _dashboard(url, token, work, start, stop, phase, lock, refresh)
    else:
        _ingest(url, token, work, stop, phase, lock)
    out.put({"latencies": phase.latencies, "errors": phase.errors, "lag_ms": phase.lag_ms,
             "acked_spans": phase.acked_spans, "kind": kind,
             "cpu_s": time.process_time() - cpu0})


def run_phase(server: Server, token: str, qs: list[SuiteQuery], bodies: list[bytes],
              seconds: float, *, dashboards: int, ingest: bool, probe: bool,
              refresh: float = 0.0) -> Phase:
    mp = multiprocessing.get_context("spawn")
    phase, lock = Phase(seconds=seconds), threading.Lock()
    go, stop, out = mp.Event(), mp.Event(), mp.Queue()  # stop: the clients and the probe
    clients = [("dashboard", qs, k * 5) for k in range(dashboards)]
    if ingest:
        clients.append(("ingest", bodies, 0))
    procs, readies = [], []
    for kind, work, start in clients:
        ready = mp.Event()
        procs.append(mp.Process(target=_client, args=(kind, server.url, token, work, start,
                                                      ready, go, stop, out,
                                                      refresh)))
        readies.append(ready)
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(120)
    threads = []
    if probe:
        threads.append(threading.Thread(target=_probe, args=(server.url, token, stop, phase,
                                                             lock)))
    phase.applied_before = server.applied()
    t0 = time.monotonic()
    server_cpu, machine_cpu = process_cpu_seconds(server.proc.pid), machine_busy_seconds()
    go.set()
    for t in threads:
        t.start()
    while time.monotonic() - t0 < seconds:
        phase.rss.append((time.monotonic() - t0, server.rss()))
        time.sleep(1.0)
    stop.set()
    elapsed = time.monotonic() - t0
    phase.server_cores = (process_cpu_seconds(server.proc.pid) - server_cpu) / elapsed
    phase.machine_cores = (machine_busy_seconds() - machine_cpu) / elapsed
    results = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(60)
    for t in threads:
        t.join(300)
    phase.seconds = time.monotonic() - t0
    phase.applied_after = server.applied()
    for r in results:
        for name, xs in r["latencies"].items():
            phase.latencies.setdefault(name, []).extend(xs)
        for name, n in r["errors"].items():
            phase.errors[name] = phase.errors.get(name, 0) + n
        phase.lag_ms.extend(r["lag_ms"])
        phase.acked_spans += r["acked_spans"]
        if r["kind"] == "ingest":
            phase.ingest_client_cores = r["cpu_s"] / elapsed
    return phase


def settle(server: Server, seconds: float) -> list[tuple[float, int]]:
    """RSS every second while idle after the load."""
    out, t0 = [], time.monotonic()
    while time.monotonic() - t0 < seconds:
        out.append((time.monotonic() - t0, server.rss()))
        time.sleep(1.0)
    return out


def run(size: int, engine: str, seconds: float, dashboards: int,
        options: tuple[str, ...] = (), refresh: float = 0.0) -> dict[str, Any]:
    # In a child process: an in-process engine (chDB) would keep the data directory open
    # in this one, and the server below must open its copy alone.
    subprocess.run([sys.executable, "-c", f"from bench import data; "
                    f"data.ensure({size}, engines=({engine!r},))"], check=True, cwd=REPO)
    token = data.token(size)
    qs = suite(None)
    t0_ns = int(data.END.timestamp() * 1e9) - 3_600 * 10**9
    bodies = [make_request(seed, t0_ns).SerializeToString() for seed in range(64)]
    with tempfile.TemporaryDirectory(prefix="tq-load-", dir=data.ROOT) as tmp:
        server = Server(size, engine, Path(tmp), options)
        try:
            rss_start = server.rss()
            for q in qs:  # warm every query once
                httpx.post(server.url + q.path, json=q.body, timeout=120,
                           headers={"Authorization": f"Bearer {token}"})
            print(f"  rest: {dashboards} dashboards, {seconds:.0f} s", flush=True)
            rest = run_phase(server, token, qs, bodies, seconds, dashboards=dashboards,
                             ingest=False, probe=False, refresh=refresh)
            print(f"  ingest alone: {seconds / 2:.0f} s", flush=True)
            alone = run_phase(server, token, qs, bodies, seconds / 2, dashboards=0,
                              ingest=True, probe=False)
            print(f"  load: {dashboards} dashboards + ingest + probe, {seconds:.0f} s",
                  flush=True)
            load = run_phase(server, token, qs, bodies, seconds, dashboards=dashboards,
                             ingest=True, probe=True, refresh=refresh)
            after = settle(server, 45)  # the idle trim starts after 30 s idle
            print(f"  rest after: {dashboards} dashboards, {seconds:.0f} s", flush=True)
            rest_after = run_phase(server, token, qs, bodies, seconds, dashboards=dashboards,
                                   ingest=False, probe=False, refresh=refresh)
        finally:
            server.stop()
    return {"size": size, "engine": engine, "dashboards": dashboards, "queries": qs,
            "refresh": refresh,
            "options": options,
            "rest": rest, "alone": alone, "load": load, "after": after,
            "rest_after": rest_after,
            "rss_start": rss_start}


def _rss_at(samples: list[tuple[float, int]], t: float) -> int:
    return next((x for at, x in samples if at >= t), samples[-1][1])


def report(r: dict[str, Any]) -> str:
    rest, alone, load, later = r["rest"], r["alone"], r["load"], r["rest_after"]
    mib = 1 << 20
    opts = f", `serve {' '.join(r['options'])}`" if r.get("options") else ""
    if r.get("refresh"):
        opts += f", each refreshing the suite every {r['refresh']:g} s"
    out = [f"### {r['engine']}, {r['size']:,} events ({r['dashboards']} dashboard clients, "
           f"{load.seconds:.0f} s per phase{opts})", "",
           "| query | rest p50 ms | rest p99 ms | load p50 ms | load p99 ms | p50 x | p99 x "
           "| rest after p50 ms | rest after p99 ms | p50 x after | p99 x after |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for q in r["queries"]:
        a, b = rest.latencies.get(q.name, []), load.latencies.get(q.name, [])
        if not a or not b:
            continue
        p50a, p99a, p50b, p99b = (_pct(a, .5) * 1e3, _pct(a, .99) * 1e3, _pct(b, .5) * 1e3,
                                  _pct(b, .99) * 1e3)
        c = later.latencies.get(q.name, [])
        p50c, p99c = _pct(c, .5) * 1e3, _pct(c, .99) * 1e3
        out.append(f"| {q.name} | {p50a:,.0f} | {p99a:,.0f} | {p50b:,.0f} | {p99b:,.0f} "
                   f"| {p50b / p50a:.2f} | {p99b / p99a:.2f} | {p50c:,.0f} | {p99c:,.0f} "
                   f"| {p50b / p50c:.2f} | {p99b / p99c:.2f} |")
    ingest_alone = alone.acked_spans / alone.seconds
    ingest_load = load.acked_spans / load.seconds
    applied = (load.applied_after - load.applied_before) / load.seconds
    peak = max(x for _, x in load.rss) if load.rss else 0
    out += ["",
            f"- queries/s: {rest.queries / rest.seconds:.2f} at rest, "
            f"{load.queries / load.seconds:.2f} under load, "
            f"{later.queries / later.seconds:.2f} at rest after "
            f"(errors: rest {sum(rest.errors.values())}, load {sum(load.errors.values())})",
            f"- ingest acknowledged: {ingest_alone:,.0f} spans/s alone, {ingest_load:,.0f} "
            f"under load ({ingest_load / ingest_alone:.0%}); applied under load "
            f"{applied:,.0f} spans/s",
            f"- a probe span visible to a read-your-writes query: p50 "
            f"{_pct(load.ryw_s, .5) * 1e3:,.0f} ms, max {max(load.ryw_s, default=0) * 1e3:,.0f} "
            f"ms ({len(load.ryw_s)} probes); to a default query: p50 "
            f"{_pct(load.visible_s, .5) * 1e3:,.0f} ms, max "
            f"{max(load.visible_s, default=0) * 1e3:,.0f} ms",
            f"- CPU in cores (of {os.cpu_count()}): ingest alone: server "
            f"{alone.server_cores:.2f}, OTLP client {alone.ingest_client_cores:.2f}, machine "
            f"{alone.machine_cores:.2f}; dashboards at rest: server {rest.server_cores:.2f}, "
            f"machine {rest.machine_cores:.2f}; under load: server {load.server_cores:.2f}, "
            f"OTLP client {load.ingest_client_cores:.2f}, machine {load.machine_cores:.2f}",
            f"- freshness lag the server reported under load: p50 "
            f"{_pct(load.lag_ms, .5):,.0f} ms, p99 {_pct(load.lag_ms, .99):,.0f} ms",
            f"- server RSS: {r['rss_start'] / mib:,.0f} MiB at start, peak {peak / mib:,.0f} "
            f"MiB under load, {_rss_at(r['after'], 20) / mib:,.0f} MiB 20 s after and "
            f"{r['after'][-1][1] / mib:,.0f} MiB 45 s after "
            + ("(idle: the store gives its cache back after 30 s)" if r["engine"] == "duckdb"
               else "(chDB's caches are not trimmed)") if r["after"] else "",
            "- RSS under load, every 5 s (MiB): " + ", ".join(
                f"{x / mib:,.0f}" for t, x in load.rss if int(t) % 5 == 0)]
    return "\n".join(line for line in out if line is not None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append")
    parser.add_argument("--engine", action="append", choices=("duckdb", "chdb"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--query-nice", type=int, default=0,
                        help="serve --query-nice: queries at a lower CPU priority than ingest")
    parser.add_argument("--refresh", type=float, default=0.0,
                        help="each dashboard runs the suite once every this many seconds "
                             "(a dashboard on a refresh timer); default: back to back")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="also dump the raw numbers here")
    args = parser.parse_args(argv)
    texts, raw = [], []
    for size in args.events or [1_000_000]:
        for engine in args.engine or ["duckdb"]:
            print(f"{engine}, {size:,} events", flush=True)
            r = run(size, engine, args.seconds, args.clients,
                    ("--query-nice", str(args.query_nice)) if args.query_nice else (),
                    args.refresh)
            text = report(r)
            print(text, flush=True)
            texts.append(text)
            raw.append({k: (v.__dict__ if isinstance(v, Phase) else v)
                        for k, v in r.items() if k != "queries"})
    if args.json:
        args.json.write_text(json.dumps(raw, default=str))
    if args.write:
        machine = f"2 cores ({cpu_model('unknown CPU')}), Python {sys.version.split()[0]}"
        intro = (f"`python -m bench.load {' '.join(sys.argv[1:])}`; {machine}; "
                 f"{time.strftime('%Y-%m-%d')}. Per-query percentiles are over every run of "
                 "that query in the phase (each dashboard cycles through the suite).")
        modes = ([f"queries at nice {args.query_nice}"] if args.query_nice else []) + (
            [f"dashboards refreshing every {args.refresh:g} s"] if args.refresh else [])
        section = SECTION + (f" ({', '.join(modes)})" if modes else "")
        write_section(REPO / "BENCHMARKS.md", section, intro + "\n\n" + "\n\n".join(texts))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
