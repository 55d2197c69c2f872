"""Destinations attacked by an org admin (issue 29): the server must not become their
SSRF tool, their port scanner, their amplifier or their way to hang a sender.

Real HTTP throughout: a live telequery, real receivers on loopback (allowed only where a
test says so, as an operator would with ``serve --destinations-allow``).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, free_port, serve
from otlp_build import Span, traces_request
from telequery.destinations.config import Destination
from telequery.destinations.egress import EXPORTED_HEADER, EgressPolicy, post
from telequery.destinations.exporter import MAX_PER_ORG, Exporter
from telequery.ingest.mapping import spans_to_rows
from telequery.meta import Meta
from telequery.store import open_store

ORG = "acme"
SECRET = "internal-secret-3f9a"


def _base(live: LiveServer) -> str:
    return f"{live.url}/client/v4/accounts/{ORG}/workers/observability/destinations"


def _create(live: LiveServer, url: str, headers: dict[str, str] | None = None,
            preflight: bool = False, name: str = "d") -> httpx.Response:
    return httpx.post(_base(live), timeout=60, headers={
        "authorization": f"Bearer {live.token(ORG, ('admin', 'query', 'ingest'))}"}, json={
        "name": name, "enabled": True, "skipPreflightCheck": not preflight,
        "configuration": {"type": "logpush", "logpushDataset": "opentelemetry-traces",
                          "url": url, "headers": headers or {}}})


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    store = open_store(str(tmp_path / "duck"))
    meta = Meta(tmp_path / "meta.sqlite")
    with serve(store, meta) as server:  # the default policy: public addresses only
        yield server
    store.close()
    meta.close()


def _ssrf_urls(own_port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{own_port}/api/v1/admin/tokens",  # the server itself
        "http://localhost:8123/", "http://2130706433/", "http://0x7f000001/",
        "http://0177.0.0.1/", "http://127.1/", "http://0/", "http://[::1]:22/",
        "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://10.0.0.1/",
        "http://172.16.5.4:6379/", "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/",
        "http://[fe80::1]/", "http://[fc00::1]/", "http://224.0.0.1/",
        f"http://user@127.0.0.1:{own_port}/", f"http://example.com@127.0.0.1:{own_port}/",
        "http://user:pw@collector.example.com/",
    ]


def test_malformed_urls_are_kept_and_never_sent(live: LiveServer) -> None:
    """As upstream: a URL that is not an absolute http(s) one is stored, and its status
    says why nothing is sent (the Cloudflare SDK's own fixtures use the URL "url")."""
    for url in ("url", "ftp://collector.example.com/", "file:///etc/passwd", "http:///x"):
        assert _create(live, url).status_code == 200
        assert _create(live, url, preflight=True).status_code == 400


def test_internal_addresses_are_refused_in_every_spelling(live: LiveServer) -> None:
    port = int(live.url.rsplit(":", 1)[1])
    for url in _ssrf_urls(port):
        for preflight in (False, True):
            r = _create(live, url, preflight=preflight)
            assert r.status_code == 400, (url, r.text)
            assert r.json()["errors"][0]["message"], r.text
    # and none was stored
    listed = httpx.get(_base(live), headers={
        "authorization": f"Bearer {live.token(ORG, ('admin', 'query'))}"}).json()
    assert listed["result"] == []


def test_an_update_cannot_aim_a_destination_inward(live: LiveServer) -> None:
    r = _create(live, "https://collector.example.com/v1/traces")
    assert r.status_code == 200, r.text
    slug = r.json()["result"]["slug"]
    r = httpx.patch(f"{_base(live)}/{slug}", headers={
        "authorization": f"Bearer {live.token(ORG, ('admin',))}"}, json={
        "enabled": True, "configuration": {"type": "logpush",
                                           "url": "http://169.254.169.254/", "headers": {}}})
    assert r.status_code == 400, r.text


def test_the_transport_headers_are_not_the_admins(live: LiveServer) -> None:
    for name in ("Host", "content-length", "Transfer-Encoding", EXPORTED_HEADER):
        r = _create(live, "https://collector.example.com/v1/traces", {name: "x"})
        assert r.status_code == 400, (name, r.text)


def test_the_policy_refuses_after_resolution() -> None:
    policy = EgressPolicy()
    for url in _ssrf_urls(8080):
        status, why = post(policy, url, {}, b"", "application/x-protobuf", deadline=5)
        assert status is None and why, url
    allowed = EgressPolicy.of(["127.0.0.0/8"])
    assert allowed.check("http://127.0.0.1:9/x").url == "http://127.0.0.1:9/x"
    with pytest.raises(ValueError):
        EgressPolicy.of(["not-a-range"])


# -- answers never carry what a receiver said --------------------------------------------------
class _Chatty(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = f"<html>{SECRET} on an internal admin page</html>".encode()
        self.send_response(500)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_no_response_body_is_echoed(tmp_path: Path) -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Chatty)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces"
    store, meta = open_store(str(tmp_path / "duck")), Meta(tmp_path / "meta.sqlite")
    try:
        with serve(store, meta, destinations_allow=("127.0.0.0/8",)) as live:
            r = _create(live, url, preflight=True)
            assert r.status_code == 400 and "HTTP 500" in r.text, r.text
            assert SECRET not in r.text
            r = _create(live, url, name="kept")  # no preflight: created, then it fails
            assert r.status_code == 200, r.text
            slug = r.json()["result"]["slug"]
            _ingest(live, 5)
            status: dict = {}
            deadline = time.monotonic() + 30
            while not status.get("error_message"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
                listed = httpx.get(_base(live), headers={
                    "authorization": f"Bearer {live.token(ORG, ('admin',))}"}).json()
                status = next(d for d in listed["result"] if d["slug"] == slug)[
                    "configuration"]["jobStatus"]
            assert "HTTP 500" in status["error_message"]
            assert SECRET not in str(status)
    finally:
        receiver.shutdown()
        meta.close()
        store.close()


# -- no loop ----------------------------------------------------------------------------------
def _ingest(live: LiveServer, n: int, name: str = "looped") -> None:
    spans = [Span("svc", f"{name} {i}", time.time_ns() - 10**9 + i * 1000, 1000,
                  (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")) for i in range(n)]
    r = httpx.post(live.url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={"content-type": "application/x-protobuf",
                            "authorization": f"Bearer {live.token(ORG, ('ingest',))}"})
    assert r.status_code == 200, r.text


def _count(live: LiveServer) -> int:
    r = httpx.post(live.url + "/api/v1/sql", timeout=30, json={
        "sql": "SELECT count(*) FROM spans"},
        headers={"authorization": f"Bearer {live.token(ORG, ('query',))}"})
    return int(r.json()["rows"][0][0])


def test_a_destination_pointing_back_at_telequery_does_not_loop(tmp_path: Path) -> None:
    store, meta = open_store(str(tmp_path / "duck")), Meta(tmp_path / "meta.sqlite")
    try:
        with serve(store, meta, destinations_allow=("127.0.0.0/8",)) as live:
            token = live.token(ORG, ("ingest",))
            for name in ("one", "two"):  # the worst case had two
                r = _create(live, live.url + "/v1/traces",
                            {"authorization": f"Bearer {token}"}, preflight=True, name=name)
                assert r.status_code == 200, r.text
            _ingest(live, 15)
            deadline = time.monotonic() + 30
            while _count(live) < 45:  # the 15, and one copy from each destination
                assert time.monotonic() < deadline, _count(live)
                time.sleep(0.3)
            time.sleep(3)  # a loop would have re-exported the copies by now, many times
            assert _count(live) == 45
    finally:
        meta.close()
        store.close()


# -- deadlines, deletion, limits ---------------------------------------------------------------
def _trickler() -> tuple[socket.socket, threading.Event]:
    """A receiver that accepts and answers one byte a second, forever."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if stop.is_set():
                    return
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                try:
                    conn.sendall(bytes([b]))
                except OSError:
                    return
                stop.wait(1.0)

    def accept() -> None:
        srv.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv, stop


def test_a_trickling_receiver_cannot_hold_a_sender() -> None:
    srv, stop = _trickler()
    try:
        url = f"http://127.0.0.1:{srv.getsockname()[1]}/v1/traces"
        t0 = time.monotonic()
        status, why = post(EgressPolicy.of(["127.0.0.0/8"]), url, {}, b"x",
                           "application/x-protobuf", deadline=3)
        assert status is None and "no answer within 3 s" in str(why)
        assert time.monotonic() - t0 < 20  # bounded by the deadline, not by the trickle
    finally:
        stop.set()
        srv.close()


def test_deleting_a_destination_never_waits_for_its_sender(tmp_path: Path) -> None:
    srv, stop = _trickler()
    store, meta = open_store(str(tmp_path / "duck")), Meta(tmp_path / "meta.sqlite")
    try:
        with serve(store, meta, destinations_allow=("127.0.0.0/8",)) as live:
            r = _create(live, f"http://127.0.0.1:{srv.getsockname()[1]}/v1/traces")
            slug = r.json()["result"]["slug"]
            _ingest(live, 3)
            time.sleep(1.5)  # the sender is inside a send that trickles
            t0 = time.monotonic()
            r = httpx.delete(f"{_base(live)}/{slug}", timeout=60, headers={
                "authorization": f"Bearer {live.token(ORG, ('admin',))}"})
            assert r.status_code == 200, r.text
            assert time.monotonic() - t0 < 10  # the send's deadline is 30 s
    finally:
        stop.set()
        srv.close()
        meta.close()
        store.close()


def test_an_org_has_a_bounded_number_of_destinations(live: LiveServer) -> None:
    for i in range(MAX_PER_ORG):
        assert _create(live, f"https://c{i}.example.com/v1/traces", name=f"d{i}"
                       ).status_code == 200
    r = _create(live, "https://one-more.example.com/v1/traces", name="more")
    assert r.status_code == 400 and f"at most {MAX_PER_ORG}" in r.text


def test_an_org_has_a_bounded_spool_across_its_destinations(tmp_path: Path) -> None:
    table = spans_to_rows(traces_request(
        [Span("svc", f"s{i}", time.time_ns(), 1000, (i + 1).to_bytes(16, "big"),
              (i + 1).to_bytes(8, "big")) for i in range(50)]), ORG).table()
    exporter = Exporter(tmp_path / "d", org_max_bytes=20_000,
                        policy=EgressPolicy.of(["127.0.0.0/8"]))
    down = [Destination(ORG, f"d{i}", f"d{i}", True, "opentelemetry-traces",
                        f"http://127.0.0.1:{free_port()}/v1/traces") for i in range(4)]
    exporter.start(down)
    try:
        for _ in range(20):
            exporter.spool([table])
        queued = sum(int(exporter.status(ORG, d.slug)["queued_bytes"]) for d in down)
        assert 0 < queued <= 20_000
        assert sum(int(exporter.status(ORG, d.slug)["dropped_batches"]) for d in down) > 0
    finally:
        exporter.close()
