"""Destinations: CRUD through the real SDK, and the export itself with a second telequery
as the destination: what the first acknowledges, the second stores, including while the
second is down and across a SIGKILL of the first."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cloudflare
import httpx
import pytest

from conftest import LiveServer, free_port, serve, start_server
from otlp_build import Log, Span, logs_request, traces_request
from telequery.destinations.otlp import encode
from telequery.destinations.spool import Spool
from telequery.ingest.mapping import logs_to_rows, spans_to_rows
from telequery.meta import Meta
from telequery.store import open_store
from test_workers_common import client

ORG, OTHER = "acme", "globex"
PROTO = {"content-type": "application/x-protobuf"}


def _spans(n: int, service: str, start: int = 0) -> list[Span]:
    now = time.time_ns()
    return [Span(service, f"op {i}", now - 60_000_000_000 + i, 2_000_000,
                 (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big"),
                 error=i % 7 == 0, attrs={"n": i, "ratio": i / 3, "ok": i % 2 == 0,
                                          "word": f"w{i}"},
                 resource={"deployment.environment": "prod"})
            for i in range(start, start + n)]


# -- rows back to OTLP ----------------------------------------------------------------------
def _comparable(table) -> list[tuple]:  # type: ignore[no-untyped-def]
    cols = ["trace_id", "span_id", "parent_span_id", "span_name", "span_kind", "timestamp",
            "end_time", "status", "error", "service", "level", "message", "attrs_string",
            "attrs_number", "attrs_bool", "resource"]
    rows = table.select(cols).to_pylist()
    return sorted(tuple(str(r[c]) for c in cols) for r in rows)


def test_spans_and_logs_go_out_as_they_were_stored() -> None:
    """Oracle: stored rows -> OTLP -> ingest again gives the same rows."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = spans_to_rows(traces_request(_spans(50, "svc")), ORG).table()
    now = time.time_ns()
    logs = logs_to_rows(logs_request(
        Log("svc", f"line {i}", now + i, severity=sev, attrs={"k": i})
        for i, sev in enumerate(["DEBUG", "INFO", "WARN", "ERROR"] * 5)), ORG).table()
    other = spans_to_rows(traces_request(_spans(5, "theirs")), OTHER).table()
    import pyarrow as pa

    mixed = pa.concat_tables([spans, logs, other])
    req = ExportTraceServiceRequest.FromString(encode(mixed, ORG, "opentelemetry-traces"))
    assert _comparable(spans_to_rows(req, ORG).table()) == _comparable(spans)
    req = ExportLogsServiceRequest.FromString(encode(mixed, ORG, "opentelemetry-logs"))
    assert _comparable(logs_to_rows(req, ORG).table()) == _comparable(logs)
    assert encode(mixed, ORG, "opentelemetry-metrics") is None  # no metrics are stored
    assert encode(other, ORG, "opentelemetry-traces") is None  # another org's rows


def test_the_spool_is_bounded_and_survives_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "q", max_bytes=100)
    assert spool.put(b"a" * 60) and not spool.put(b"b" * 60) and spool.put(b"c" * 40)
    assert spool.full and spool.queued == 2
    (tmp_path / "q" / "junk.tmp").write_bytes(b"torn")  # an interrupted write
    again = Spool(tmp_path / "q", max_bytes=100)
    head = again.peek()
    assert head is not None and head[1] == b"a" * 60
    again.done(head[0])
    assert again.peek()[1] == b"c" * 40  # type: ignore[index]
    assert not list((tmp_path / "q").glob("*.tmp")) and again.queued_bytes == 40


# -- CRUD through the SDK -------------------------------------------------------------------
LOOPBACK = ("127.0.0.0/8",)  # the receivers of these tests are on this machine


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    store = open_store(str(tmp_path / "duck"))
    meta = Meta(tmp_path / "meta.sqlite")
    with serve(store, meta, destinations_allow=LOOPBACK) as server:
        yield server
    store.close()
    meta.close()


def _config(url: str, dataset: str = "opentelemetry-traces") -> dict[str, object]:
    return {"type": "logpush", "logpush_dataset": dataset, "url": url,
            "headers": {"authorization": "Bearer x"}}


def test_destinations_crud_through_the_sdk(live: LiveServer) -> None:
    cf = client(live, live.token(ORG))
    dests = cf.workers.observability.destinations
    made = dests.create(account_id=ORG, name="My Collector", enabled=True,
                        configuration=_config("http://127.0.0.1:9/v1/traces"))
    assert made.slug == "my-collector" and made.configuration.logpush_dataset.endswith("traces")
    twin = dests.create(account_id=ORG, name="My Collector", enabled=False,
                        configuration=_config("http://127.0.0.1:9/v1/logs",
                                              "opentelemetry-logs"))
    assert twin.slug == "my-collector-2"
    listed = list(dests.list(account_id=ORG))
    assert {d.slug for d in listed} == {"my-collector", "my-collector-2"}
    assert all(d.configuration.job_status is not None for d in listed)
    changed = dests.update("my-collector-2", account_id=ORG, enabled=True, configuration={
        "type": "logpush", "url": "http://127.0.0.1:9/otlp/v1/logs", "headers": {}})
    assert changed.enabled and changed.configuration.url.endswith("/otlp/v1/logs")
    assert changed.configuration.logpush_dataset == "opentelemetry-logs"  # kept
    gone = dests.delete("my-collector", account_id=ORG)
    assert gone.slug == "my-collector"
    assert [d.slug for d in dests.list(account_id=ORG)] == ["my-collector-2"]
    # another org sees none of them, and cannot touch them
    other = client(live, live.token(OTHER)).workers.observability.destinations
    assert list(other.list(account_id=OTHER)) == []
    with pytest.raises(cloudflare.NotFoundError):
        other.delete("my-collector-2", account_id=OTHER)


def test_bad_destinations_get_a_clear_400(live: LiveServer) -> None:
    base = f"{live.url}/client/v4/accounts/{ORG}/workers/observability/destinations"
    h = {"authorization": f"Bearer {live.token(ORG)}"}
    good = {"name": "d", "enabled": True, "configuration": {
        "type": "logpush", "logpushDataset": "opentelemetry-traces",
        "url": "http://127.0.0.1:9/v1/traces", "headers": {}}}
    cases = [({**good, "enabled": "yes"}, "enabled"),
             ({**good, "configuration": {**good["configuration"], "logpushDataset": "x"}},
              "configuration.logpushDataset"),
             ({**good, "configuration": {**good["configuration"], "headers": {"a": 1}}},
              "configuration.headers.a"),
             ({**good, "name": ""}, "name"),
             # preflight asked for, and nothing listens there
             ({**good, "skipPreflightCheck": False}, "configuration.url")]
    for body, field in cases:
        r = httpx.post(base, json=body, headers=h)
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["message"] == "Bad Request"
        assert field in r.json()["errors"][0]["detail"], r.text
    query_only = {"authorization": f"Bearer {live.token(ORG, ('query',))}"}
    assert httpx.post(base, json=good, headers=query_only).status_code == 403
    assert httpx.get(base, headers=query_only).status_code == 200


# -- export to a second telequery -------------------------------------------------------------
def _count(url: str, token: str, service: str) -> int:
    now = int(time.time() * 1000)
    body = {"dataset": "events", "from": now - 7_200_000, "to": now + 60_000,
            "measures": [{"agg": "count"}], "limit": 1,
            "filter": {"and": [{"field": "$metadata.service", "op": "eq", "value": service}]}}
    r = httpx.post(url + "/api/v1/query", json=body, timeout=60,
                   headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return int(r.json()["rows"][0][0] or 0)


def _wait_count(url: str, token: str, service: str, want: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        got = _count(url, token, service)
        if got >= want:
            return got
        time.sleep(0.3)
    return got


def _post_spans(url: str, token: str, spans: list[Span]) -> None:
    r = httpx.post(url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={**PROTO, "authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text


def _status(url: str, token: str, slug: str) -> dict:
    r = httpx.get(f"{url}/client/v4/accounts/{ORG}/workers/observability/destinations",
                  headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    (dest,) = [d for d in r.json()["result"] if d["slug"] == slug]
    return dest["configuration"]["jobStatus"]


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)


def test_a_second_telequery_stores_what_the_first_acknowledged(tmp_path: Path) -> None:
    a_data, b_data = tmp_path / "a", tmp_path / "b"
    a_data.mkdir()
    b_data.mkdir()
    meta_a, meta_b = Meta(a_data / "meta.sqlite"), Meta(b_data / "meta.sqlite")
    token_a = meta_a.create_token(ORG, ["ingest", "query", "admin"])
    other_a = meta_a.create_token(OTHER, ["ingest"])
    token_b = meta_b.create_token("mirror", ["ingest", "query"])
    meta_a.close()
    meta_b.close()
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    allow = ("--destinations-allow", "127.0.0.0/8")  # both on this machine
    b = start_server(b_data, port_b, log=tmp_path / "b.log", apply_delay=0.2)
    a = start_server(a_data, port_a, log=tmp_path / "a.log", apply_delay=0.2, args=allow)
    try:
        r = httpx.post(f"{url_a}/client/v4/accounts/{ORG}/workers/observability/destinations",
                       headers={"authorization": f"Bearer {token_a}"}, json={
                           "name": "mirror", "enabled": True, "skipPreflightCheck": False,
                           "configuration": {"type": "logpush",
                                             "logpushDataset": "opentelemetry-traces",
                                             "url": url_b + "/v1/traces",
                                             "headers": {"authorization": f"Bearer {token_b}"}}})
        assert r.status_code == 200, r.text  # the preflight reached B
        _post_spans(url_a, token_a, _spans(100, "exported"))
        _post_spans(url_a, other_a, _spans(30, "exported"))  # another org's: not exported
        assert _wait_count(url_b, token_b, "exported", 100) == 100

        # B goes down: A keeps acknowledging, and queues
        _stop(b, signal.SIGKILL)
        for i in range(1, 6):
            _post_spans(url_a, token_a, _spans(40, "exported", start=1000 * i))
        time.sleep(1.5)
        status = _status(url_a, token_a, "mirror")
        assert status["queued_bytes"] > 0 and status["error_message"], status
        assert status["last_error"]

        # A dies too, before B is back: the spool is on disk
        _stop(a, signal.SIGKILL)
        a = start_server(a_data, port_a, log=tmp_path / "a.log", apply_delay=0.2, args=allow)
        b = start_server(b_data, port_b, log=tmp_path / "b.log", apply_delay=0.2)
        assert _wait_count(url_b, token_b, "exported", 300, timeout=120) == 300
        time.sleep(1.0)
        assert _count(url_b, token_b, "exported") == 300  # and nothing twice
        status = _status(url_a, token_a, "mirror")
        assert status["queued_bytes"] == 0 and status["last_complete"], status
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                _stop(proc)


def test_a_full_queue_and_a_refused_batch_are_reported(tmp_path: Path) -> None:
    """A down destination fills its bounded queue (new batches dropped, ingest goes on);
    a destination answering 400 has the batch set aside rather than blocking the queue."""
    import http.server
    import threading

    from telequery.destinations.config import Destination
    from telequery.destinations.egress import EgressPolicy
    from telequery.destinations.exporter import Exporter

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(400)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    refusing = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=refusing.serve_forever, daemon=True).start()
    table = spans_to_rows(traces_request(_spans(20, "svc")), ORG).table()
    one = len(encode(table, ORG, "opentelemetry-traces"))  # type: ignore[arg-type]
    exporter = Exporter(tmp_path / "dest", max_bytes=3 * one,
                        policy=EgressPolicy.of(LOOPBACK))
    down = Destination(ORG, "down", "down", True, "opentelemetry-traces",
                       f"http://127.0.0.1:{free_port()}/v1/traces")
    bad = Destination(ORG, "bad", "bad", True, "opentelemetry-traces",
                      f"http://127.0.0.1:{refusing.server_address[1]}/v1/traces")
    exporter.start([down, bad])
    try:
        for _ in range(5):
            exporter.spool([table])
        status = exporter.status(ORG, "down")
        assert status["queue_full"] and status["dropped_batches"] == 2, status
        assert status["queued_batches"] == 3
        deadline = time.monotonic() + 20
        while exporter.status(ORG, "bad")["rejected_batches"] < 3:
            assert time.monotonic() < deadline, exporter.status(ORG, "bad")
            time.sleep(0.1)
        assert "HTTP 400" in str(exporter.status(ORG, "bad")["error_message"])
    finally:
        exporter.close()
        refusing.shutdown()
