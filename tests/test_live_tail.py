"""Live tail through the real SDK and a real WebSocket, on both engines: a tail sees the
events acknowledged after it opened that match its filters, and never another org's; its
queue is bounded (a "dropped" notice), and it closes without heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from websockets.sync.client import connect

from conftest import ENGINES, LiveServer, serve_new
from otlp_build import Log, logs_request
from telequery.api.workers.live_tail import TailHub, stream
from telequery.ingest.mapping import logs_to_rows
from test_workers_common import client

ORG, OTHER = "acme", "globex"


@pytest.fixture(params=ENGINES)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with serve_new(request.param, tmp_path) as server:
        yield server


def _post_logs(live: LiveServer, token: str, logs: list[Log]) -> None:
    r = httpx.post(live.url + "/v1/logs", content=logs_request(logs).SerializeToString(),
                   headers={"authorization": f"Bearer {token}",
                            "content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text


def _now_ns() -> int:
    return time.time_ns()


def test_a_tail_streams_matching_events_of_its_org_only(live: LiveServer) -> None:
    token, other = live.token(ORG), live.token(OTHER)
    cf = client(live, token)
    tail = cf.workers.observability.telemetry.live_tail(
        account_id=ORG, filters=[{"key": "$metadata.service", "operation": "eq",
                                  "type": "string", "value": "tail-svc"}])
    assert tail.ws_url.startswith("ws://")
    # acknowledged after the tail opened, before its reader connected: streamed too
    _post_logs(live, token, [Log("tail-svc", "before the socket", _now_ns())])
    with connect(tail.ws_url, open_timeout=10) as ws:
        time.sleep(0.2)
        _post_logs(live, token, [Log("tail-svc", "match 1", _now_ns()),
                                 Log("other-svc", "no match", _now_ns())])
        _post_logs(live, other, [Log("tail-svc", "another org", _now_ns())])
        _post_logs(live, token, [Log("tail-svc", "match 2", _now_ns())])
        got: list[dict] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < 3:
            with contextlib.suppress(TimeoutError):
                got.append(json.loads(ws.recv(timeout=1)))
        try:  # nothing else arrives
            extra = json.loads(ws.recv(timeout=1.5))
        except TimeoutError:
            extra = None
    assert [m["type"] for m in got] == ["event"] * 3
    assert [m["$metadata"]["message"] for m in got] == ["before the socket", "match 1",
                                                        "match 2"]
    assert extra is None, extra
    # heartbeats keep the org's tails open; another org has none
    assert cf.workers.observability.telemetry.live_tail_heartbeat(account_id=ORG) is not None
    r = httpx.post(live.url + f"/client/v4/accounts/{OTHER}/workers/observability/telemetry/"
                   "live-tail/heartbeat", headers={"authorization": f"Bearer {other}"})
    assert r.status_code == 200 and r.json()["result"]["tails"] == 0
    # another org cannot read this tail's socket
    bad = tail.ws_url.replace(f"/accounts/{ORG}/", f"/accounts/{OTHER}/")
    with pytest.raises(Exception), connect(bad, open_timeout=5) as ws:  # noqa: B017
        ws.recv(timeout=2)


def _table(n: int, org: str = ORG) -> pa.Table:
    req = logs_request(Log("svc", f"line {i}", _now_ns() + i) for i in range(n))
    return logs_to_rows(req, org).table()


def test_a_slow_reader_gets_a_dropped_notice_and_idle_tails_close() -> None:
    hub = TailHub(idle_seconds=0.5, queue_events=2, max_per_org=1)
    abandoned = hub.open(ORG, None, None, None)
    tail = hub.open(ORG, None, None, None)  # at the cap, a tail nobody reads makes room
    assert abandoned.closed
    sent: list[dict] = []

    async def run() -> None:
        attached = hub.attach(tail.id, asyncio.get_running_loop())
        assert attached is tail
        with pytest.raises(Exception, match="at most 1 live tails"):  # every tail is read
            hub.open(ORG, None, None, None)
        hub.match(_table(5))  # 5 events into a queue of 2
        hub.match(_table(3, org=OTHER))  # another org's: never this tail's

        async def send(msg: dict) -> None:
            sent.append(msg)

        await stream(tail, send, lambda: True)

    asyncio.run(run())
    kinds = [m["type"] for m in sent]
    assert kinds.count("event") == 2 and kinds[-1] == "closed"
    assert {"type": "dropped", "count": 3} in sent
    hub.close(tail)
    assert hub.open(ORG, None, None, None)  # the cap counts open tails only


def test_revoking_the_token_ends_its_tails(live: LiveServer) -> None:
    """A tail lives no longer than the token that opened it (issue 29: it streamed for a
    minute after the revocation, and its wsUrl could be attached afterwards)."""
    token, info = live.meta.issue_token(ORG, ["query", "ingest"])
    writer = live.token(ORG)
    streaming = client(live, token).workers.observability.telemetry.live_tail(account_id=ORG)
    unattached = client(live, token).workers.observability.telemetry.live_tail(account_id=ORG)
    with connect(streaming.ws_url, open_timeout=10) as ws:
        _post_logs(live, writer, [Log("svc", "while live", _now_ns())])
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "event"
        assert live.meta.revoke_token(info.id)
        t0 = time.monotonic()
        messages = []
        with contextlib.suppress(Exception):  # the server closes the socket after saying why
            while time.monotonic() - t0 < 15:
                _post_logs(live, writer, [Log("svc", "after revocation", _now_ns())])
                messages.append(json.loads(ws.recv(timeout=1)))
                if messages[-1]["type"] == "closed":
                    break
    assert messages and messages[-1] == {"type": "closed", "reason": "token revoked"}
    assert time.monotonic() - t0 < 15  # checked every 2 s, not at the idle timeout (60 s)
    # a tail opened before the revocation cannot be attached after it
    with pytest.raises(Exception), connect(unattached.ws_url, open_timeout=5) as ws:  # noqa: B017
        ws.recv(timeout=2)
