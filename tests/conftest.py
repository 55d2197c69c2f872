"""Shared fixtures: real stores on disk, the real app, a real uvicorn on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from telequery.api.app import create_app
from telequery.meta import Meta
from telequery.store import open_store
from telequery.store.base import Store, set_default_read_your_writes

ENGINES = ["duckdb", "chdb"]

# A test that reads the store directly (not through a request) sees what it just wrote
# through a live server: statements outside a request wait for acknowledged rows here.
# Requests keep the server's own setting (``serve`` below; tests/test_freshness.py).
set_default_read_your_writes(60.0)


def make_store(engine: str, path: Path) -> Store:
    """A real store of the given engine in ``path``."""
    if engine == "duckdb":
        return open_store(str(path / "duck"))
    if engine == "chdb":
        return open_store(f"chdb:{path / 'ch'}")
    raise ValueError(engine)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    store: Store
    meta: Meta

    def token(self, org: str, scopes: tuple[str, ...] = ("ingest", "query", "admin")) -> str:
        return self.meta.create_token(org, list(scopes))


def wait_up(url: str, timeout: float = 30,
            proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url``/healthz answers 200 (or ``proc`` exits, or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_server(data: Path, port: int, *, store: str | None = None,
                 log: Path | None = None, apply_delay: float = 1.0,
                 args: tuple[str, ...] = ()) -> subprocess.Popen:
    """``telequery serve`` in its own process (to be killed, filled up, signalled)."""
    cmd = [sys.executable, "-c", "from telequery.cli import app; app()", "serve",
           "--data", str(data), "--port", str(port), "--apply-delay", str(apply_delay),
           "--read-your-writes", "60", *args]  # tests read what they just wrote
    if store:
        cmd += ["--store", store]
    with open(log or os.devnull, "ab") as err:  # the server's log, where the test says
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_up(f"http://127.0.0.1:{port}", 60, proc)
    except RuntimeError:
        proc.kill()
        raise
    return proc


@contextmanager
def serve(store: Store, meta: Meta, **app_options: object) -> Iterator[LiveServer]:
    """Run the real app under uvicorn on a free port in a background thread."""
    port = free_port()
    # Tests read what they just wrote unless they say otherwise (the server's default is
    # to read what is applied: tests/test_freshness.py covers it).
    app_options.setdefault("read_your_writes", 60.0)
    config = uvicorn.Config(create_app(store, meta, **app_options),  # type: ignore[arg-type]
                            host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_up(url, 20)
    try:
        yield LiveServer(url, store, meta)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_new(engine: str, path: Path, **app_options: object) -> Iterator[LiveServer]:
    """A live server over a fresh store of ``engine`` and fresh metadata in ``path``,
    both closed afterwards."""
    store, meta = make_store(engine, path), Meta(path / "meta.sqlite")
    try:
        with serve(store, meta, **app_options) as live:
            yield live
    finally:
        meta.close()
        store.close()


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[Meta]:
    m = Meta(tmp_path / "meta.sqlite")
    yield m
    m.close()


def assert_schemathesis_clean(report: Path, run: subprocess.CompletedProcess,
                              min_generated: int) -> None:
    """A schemathesis JSON report with no failure. Its own generator can stop with
    "Runtime Error" (hypothesis reporting inconsistent data in its coverage phase):
    anything else is ours to fix."""
    import json

    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["complete"], run.stdout[-3000:]
    assert result["test_cases"]["generated"] > min_generated
    assert result["failures"] == [], run.stdout[-6000:]
    assert result["test_cases"]["with_failures"] == 0, run.stdout[-6000:]
    assert all(e["title"] == "Runtime Error" for e in result["errors"]), run.stdout[-6000:]


def own_rss() -> int:
    """This process's resident memory now, bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def own_peak_rss() -> int:
    """This process's peak resident memory (VmHWM), bytes; writing "5" to
    /proc/self/clear_refs resets it to what is resident."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")
