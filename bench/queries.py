"""Query suite: every API over HTTP against a real server, and the same SQL on the engine.

For each size and engine:
1. timing: open the store in this process and serve it with a real uvicorn server in a
   thread (the app ``telequery serve`` runs); the HTTP client (``bench.httpclient``, one
   keep-alive connection) is its own process. For each suite request, answer it once with
   the API's own parser and runner over a recording store (so we hold exactly the SQL the
   API sends), then alternate: one HTTP request over a keep-alive connection, one run of
   those statements with ``store.execute`` (the engine ceiling), the server idle meanwhile,
   and one request to a bare endpoint of the same server that runs those statements and
   nothing else (the HTTP floor). Interleaving keeps the ratios honest on a machine whose
   load changes minute to minute. Median of ``runs`` (``data.FAST_QUERY_RUNS`` for
   queries under ``data.FAST_QUERY_S``) after one warm-up of each.
2. memory: start ``telequery serve`` as its own process over the same store, send every
   suite request twice, and read its peak RSS (VmHWM).

``python -m bench.queries [--sizes 1M,10M] [--engines duckdb,chdb] [--runs 5]``.
Results go to .bench-data/results/queries-<size>-<engine>.json; ``bench.report`` turns
them into the table and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from bench import data
from bench.suite import CORE, SuiteQuery, pick_conversation, suite

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from telequery.store.base import Confined, QueryResult, Store

RESULTS = data.RESULTS
FLOOR_PATH = "/__bench/floor"


class Recorder:
    """A store that remembers every statement it runs (and runs it on the real store)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dialect = store.dialect
        self.path = store.path
        self.statements: list[tuple[str, dict[str, object]]] = []

    def execute(
        self, sql: str, params: dict[str, object] | None = None, timeout: float | None = None,
        *, confined: Confined | None = None
    ) -> QueryResult:
        self.statements.append((sql, dict(params or {})))
        return self.store.execute(sql, params, timeout=timeout, confined=confined)


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "runs": len(times),
    }


def open_engine(size: int, engine: str) -> Store:
    from telequery.store import open_store

    d = data.data_dir(size) / engine
    if engine == "duckdb":
        return open_store(str(d), memory_limit=data.MEMORY_LIMIT)
    return open_store(f"chdb:{d}")


class _ThreadServer:
    """uvicorn serving ``create_app(store, meta)`` in a daemon thread of this process."""

    def __init__(self, store: Store, size: int) -> None:
        import threading

        import uvicorn

        from telequery.api.app import create_app
        from telequery.meta import Meta

        data.token(size)
        self.meta = Meta(data.data_dir(size) / "meta" / "meta.sqlite")
        self.port = free_port()
        self.statements: list[tuple[str, dict[str, object]]] = []
        app = create_app(store, self.meta)
        app.router.add_api_route(FLOOR_PATH, self._floor_endpoint(store), methods=["POST"])
        # the connection idles while the engine runs: a 100M statement can outlast
        # uvicorn's 5 s keep-alive, and the client would find its connection closed
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_keep_alive=600)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="bench-uvicorn", daemon=True)
        self.thread.start()
        wait_healthy(self.port, lambda: not self.thread.is_alive())

    def _floor_endpoint(self, store: Store) -> Callable[..., Awaitable[Response]]:
        """The HTTP floor: an endpoint of the same app that reads the body and runs the
        current query's statements in a worker thread, with no parsing, compiling,
        authenticating, recording or rendering: what serving the query over HTTP costs
        at the least in this process. API minus floor is what telequery itself adds."""

        async def floor(request: Request) -> Response:
            await request.body()
            statements = self.statements
            await run_in_threadpool(lambda: [store.execute(s, p) for s, p in statements])
            return Response(b"{}", media_type="application/json")

        return floor

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def wait_healthy(port: int, dead: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                return
        except OSError:
            pass
        if dead() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.2)


class _Client:
    """A keep-alive HTTP client (``bench.httpclient``) in its own process."""

    def __init__(self, port: int, size: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.httpclient", str(port), data.token(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def post(self, q: SuiteQuery, payload: bytes, path: str | None = None) -> tuple[float, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = {"path": path or q.path, "body": payload.decode()}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the HTTP client process exited")
        r = json.loads(line)
        if r["status"] != 200:
            raise RuntimeError(f"{q.name}: HTTP {r['status']}: {r['error']}")
        return r["seconds"], r["bytes"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


def timed_phase(
    size: int, engine: str, runs: int
) -> tuple[list[SuiteQuery], dict[str, dict[str, Any]]]:
    """API and engine timings of every suite query, interleaved run by run."""
    store = open_engine(size, engine)
    server = None
    try:
        qs = suite(pick_conversation(store))
        server = _ThreadServer(store, size)
        client = _Client(server.port, size)
        out: dict[str, dict[str, Any]] = {}
        for q in qs:
            rec = Recorder(store)
            CORE[q.api](rec, q.body)  # type: ignore[arg-type]
            payload = json.dumps(q.body).encode()

            def raw(rec: Recorder = rec) -> tuple[float, int]:
                t0 = time.perf_counter()
                rows_read = 0
                for sql, params in rec.statements:
                    rows_read += store.execute(sql, params).stats.rows_read
                return time.perf_counter() - t0, rows_read

            raw_t: list[float] = []
            api_t: list[float] = []
            floor_t: list[float] = []
            server.statements = rec.statements
            warm, _ = raw()
            client.post(q, payload)  # warm-up
            client.post(q, payload, FLOOR_PATH)
            rows_read = nbytes = 0

            n = runs if warm > data.FAST_QUERY_S else max(runs, data.FAST_QUERY_RUNS)
            for i in range(n):
                for step in range(i % 3, i % 3 + 3):  # rotate which of the three goes first
                    if step % 3 == 0:
                        dt, rows_read = raw()
                        raw_t.append(dt)
                    elif step % 3 == 1:
                        dt, nbytes = client.post(q, payload)
                        api_t.append(dt)
                    else:
                        floor_t.append(client.post(q, payload, FLOOR_PATH)[0])
            r = out[q.name] = {
                "raw": _summary(raw_t),
                "http": _summary(api_t),
                "floor": _summary(floor_t),
                "statements": len(rec.statements),
                "rows_read": rows_read,
                "response_bytes": nbytes,
                "sql": [s for s, _ in rec.statements],
            }
            r["ratio"] = r["http"]["median"] / r["raw"]["median"]
            print(
                f"    {q.name:<32} api {r['http']['median'] * 1000:8.1f} ms   engine "
                f"{r['raw']['median'] * 1000:8.1f} ms   x{r['ratio']:.2f}   floor "
                f"{r['floor']['median'] * 1000:8.1f} ms   "
                f"({len(rec.statements)} stmt, {rows_read:,} rows read, {nbytes:,} B)",
                flush=True,
            )
        client.close()
        return qs, out
    finally:
        if server is not None:
            server.stop()
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``telequery serve`` in a subprocess over the bench store (real uvicorn).

    ``root``: the directory holding ``meta/`` and the engine's directory (default: the
    bench data of ``size``; the load benchmark passes a scratch copy); ``options``: more
    ``serve`` options (the load benchmark's ``--query-nice``)."""

    def __init__(self, size: int, engine: str, root: Path | None = None,
                 options: tuple[str, ...] = ()) -> None:
        base = root or data.data_dir(size)
        store = str(base / engine) if engine == "duckdb" else f"chdb:{base / engine}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("telequery")
        self.log = open(base / f"server-{engine}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                "--data",
                str(base / "meta"),
                "--store",
                store,
                "--port",
                str(self.port),
                *(["--memory-limit", data.MEMORY_LIMIT] if engine == "duckdb" else []),
                *options,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(self.port, lambda: self.proc.poll() is not None)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"server did not start; see {self.log.name}") from None

    def _status_bytes(self, field: str) -> int:
        """A size field of the server process's /proc status (``VmHWM``, ``VmRSS``)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def peak_rss(self) -> int:
        """VmHWM of the server process, bytes."""
        return self._status_bytes("VmHWM")

    def rss(self) -> int:
        """VmRSS of the server process, bytes."""
        return self._status_bytes("VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def rss_phase(size: int, engine: str, qs: list[SuiteQuery]) -> int:
    """Peak RSS of ``telequery serve`` (its own process) after every suite query twice."""
    server = Server(size, engine)
    try:
        client = _Client(server.port, size)
        for q in qs:
            payload = json.dumps(q.body).encode()
            for _ in range(2):
                client.post(q, payload)
        client.close()
        return server.peak_rss()
    finally:
        server.stop()


def machine() -> dict[str, str]:
    import platform

    import chdb
    import duckdb

    from bench.machine import cpu_model

    cpu = cpu_model("unknown")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{mem / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "chdb": getattr(chdb, "__version__", "?"),
    }


def run(sizes: list[int], engines: list[str], runs: int) -> list[dict[str, Any]]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = []
    for size in sizes:
        data.ensure(size, engines=tuple(engines))
        events = size
        for engine in engines:
            print(f"  == {data.label(size)} events, {engine}", flush=True)
            t0 = time.perf_counter()
            qs, results = timed_phase(size, engine, runs)
            rss = rss_phase(size, engine, qs)
            on_disk = data.bytes_on_disk(size, engine)
            doc = {
                "size": size,
                "engine": engine,
                "runs": runs,
                "peak_rss": rss,
                "bytes_on_disk": on_disk,
                "bytes_per_event": on_disk / events,
                "queries": [
                    {
                        "name": q.name,
                        "api": q.api,
                        "description": q.description,
                        "small": q.small,
                        **results[q.name],
                    }
                    for q in qs
                ],
                "seconds": round(time.perf_counter() - t0, 1),
                "machine": machine(),
                "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            (RESULTS / f"queries-{size}-{engine}.json").write_text(json.dumps(doc, indent=1))
            print(
                f"    server peak RSS {rss / 2**20:,.0f} MiB; {on_disk / events:,.1f} "
                f"bytes/event on disk",
                flush=True,
            )
            out.append(doc)
    return out


def parse_size(text: str) -> int:
    t = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(t[-1:], 1)
    return int(float(t.rstrip("KM")) * mult)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.queries")
    ap.add_argument("--sizes", default="1M,10M")
    ap.add_argument("--engines", default="duckdb,chdb")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--huge", action="store_true", help="also 100M events (hours)")
    a = ap.parse_args(argv)
    sizes = [parse_size(s) for s in a.sizes.split(",") if s]
    if a.huge and 100_000_000 not in sizes:
        sizes.append(100_000_000)
    run(sizes, a.engines.split(","), a.runs)
    from bench import report

    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
