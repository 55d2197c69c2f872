"""The command line, run as a user runs it: a real process over a real data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from telequery.meta import Meta


def tq(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telequery.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def test_demo_token_and_query(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    done = tq("demo", "--data", str(data), "--events", "3000", "--seed", "7", "--no-serve")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("tq_") and (data / "demo-token.txt").read_text().strip() == token
    principal = Meta(data / "meta.sqlite").authenticate(token)
    assert principal is not None and principal.org == "demo"
    assert principal.scopes == {"ingest", "query", "admin"}

    # Flags: counts per service over the whole generated week.
    out = tq("query", "--data", str(data), "--org", "demo", "--since", "9d", "--measure",
             "count", "--group-by", "$metadata.service", "--limit", "100", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert sum(r[1] for r in rows) == 3000

    # A JSON IR on stdin, and another org sees nothing.
    spec = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
            "measures": [{"agg": "count"}]}
    out = tq("query", "--data", str(data), "--org", "demo", "--json", stdin=json.dumps(spec))
    assert json.loads(out.stdout)["rows"] == [[3000]]
    out = tq("query", "--data", str(data), "--org", "other", "--json", stdin=json.dumps(spec))
    assert json.loads(out.stdout)["rows"] == [[0]]

    # Running demo again reuses the data (and the token) instead of making them twice.
    again = tq("demo", "--data", str(data), "--events", "3000", "--seed", "7", "--no-serve")
    assert "already present" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == token
    (data / "demo-token.txt").unlink()  # lost: a new token, and the old one is revoked
    third = tq("demo", "--data", str(data), "--events", "3000", "--seed", "7", "--no-serve")
    assert third.stdout.strip().splitlines()[-1] != token
    assert Meta(data / "meta.sqlite").authenticate(token) is None

    # Output formats: counts are integers, measures have sensible precision.
    out = tq("query", "--data", str(data), "--org", "demo", "--format", "csv",
             "--since", "9d", "--measure", "count", "--measure", "p99:$metadata.duration",
             stdin="")
    assert out.returncode == 0, out.stderr
    header, line = out.stdout.strip().splitlines()
    assert header.count(",") == 1
    count, p99 = line.split(",")
    assert count == "3000" and len(p99.replace(".", "").lstrip("0")) <= 6
    out = tq("query", "--data", str(data), "--org", "demo", "--format", "table",
             "--since", "9d", "--measure", "count", stdin="")
    assert "3000" in out.stdout and "3000.0" not in out.stdout


def test_token_create_and_bad_input(tmp_path: Path) -> None:
    out = tq("token", "create", "--org", "acme", "--scopes", "ingest", "--data", str(tmp_path))
    assert out.returncode == 0
    principal = Meta(tmp_path / "meta.sqlite").authenticate(out.stdout.strip())
    assert principal is not None and principal.org == "acme"
    assert principal.scopes == {"ingest"}
    bad = tq("token", "create", "--org", "acme", "--scopes", "root", "--data", str(tmp_path))
    assert bad.returncode == 2 and "scopes must be among" in bad.stderr
    bad_query = tq("query", "--data", str(tmp_path), "--org", "acme", "--json",
                   stdin=json.dumps({"from": 0, "to": 1000, "measures": [{"agg": "nope"}]}))
    assert bad_query.returncode == 2 and "Traceback" not in bad_query.stderr


def test_query_a_running_server(tmp_path: Path) -> None:
    """With --url the CLI asks the server (whose process holds the DuckDB file lock)."""
    from datetime import UTC, datetime, timedelta

    import httpx

    from conftest import make_store, serve
    from telequery.ingest.load import load
    from telequery.synth import generate

    store = make_store("duckdb", tmp_path)
    end = datetime(2026, 2, 1, tzinfo=UTC)
    load(store, "acme", generate(3, 2000, end - timedelta(days=1), end))
    meta = Meta(tmp_path / "meta.sqlite")
    spec = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z",
            "measures": [{"agg": "count"}], "group_by": ["$metadata.level"]}
    with serve(store, meta) as live:
        token = live.token("acme", ("query",))
        out = tq("query", "--url", live.url, "--token", token, "--json",
                 stdin=json.dumps(spec))
        assert out.returncode == 0, out.stderr
        assert sum(r[1] for r in json.loads(out.stdout)["rows"]) == 2000
        bad = httpx.post(live.url + "/api/v1/query", json={"from": 0},
                         headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "from"
        assert httpx.post(live.url + "/api/v1/query", json=spec).status_code == 401
        ingest_only = live.token("acme", ("ingest",))
        assert httpx.post(live.url + "/api/v1/query", json=spec, headers={
            "Authorization": f"Bearer {ingest_only}"}).status_code == 403
    store.close()


@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_demo_rerun_replaces_only_the_demo_orgs_rows(tmp_path: Path, engine: str) -> None:
    """Re-running the demo with other settings, or after its data went stale, deletes and
    regenerates the demo org's rows; another org's data in the same store is kept."""
    data = tmp_path / "demo"
    store = ["--store", f"chdb:{tmp_path / 'ch'}"] if engine == "chdb" else []
    events = tmp_path / "other.ndjson"
    events.write_text("".join(json.dumps({"message": f"kept {i}", "service": "mine",
                                          "timestamp": 1_700_000_000 + i}) + "\n"
                              for i in range(100)))
    ok = tq("ingest", str(events), "--org", "other", "--data", str(data), *store)
    assert ok.returncode == 0, ok.stderr
    assert tq("demo", "--data", str(data), *store, "--events", "2000",
              "--no-serve").returncode == 0
    again = tq("demo", "--data", str(data), *store, "--events", "1500", "--no-serve")
    assert again.returncode == 0, again.stderr
    assert "replacing the demo org's 2,000 events" in again.stderr

    def count(org: str) -> int:
        spec = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
                "measures": [{"agg": "count"}]}
        out = tq("query", "--data", str(data), *store, "--org", org, "--json",
                 stdin=json.dumps(spec))
        assert out.returncode == 0, out.stderr
        return int(json.loads(out.stdout)["rows"][0][0])

    assert count("demo") == 1500 and count("other") == 100
    # a day later the demo is regenerated; the other org's rows are still kept
    meta = Meta(data / "meta.sqlite")
    marker = meta.find_by_name("demo", "demo", "dataset")
    assert marker is not None
    meta.delete("demo", "demo", marker.id)
    meta.put("demo", "demo", "dataset", {**marker.body, "end": "2020-01-01T00:00:00+00:00"})
    meta.close()
    third = tq("demo", "--data", str(data), *store, "--events", "1500", "--no-serve")
    assert third.returncode == 0, third.stderr
    assert count("demo") == 1500 and count("other") == 100


def test_ingest_url_round_trips_a_file_through_a_live_server(tmp_path: Path) -> None:
    from conftest import make_store, serve

    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    events = tmp_path / "events.ndjson"
    events.write_text("".join(json.dumps({"message": f"sent {i}", "service": "cli",
                                          "timestamp": 1_700_000_000 + i}) + "\n"
                              for i in range(2500)) + "not json\n")
    with serve(store, meta) as live:
        token = live.token("acme", ("ingest", "query"))
        out = tq("ingest", str(events), "--url", live.url, "--token", token)
        assert out.returncode == 1, out.stderr  # one line was rejected
        assert "2,500 rows accepted, 1 rejected" in out.stderr
        # the data directory is locked by the server: one line naming the holder
        locked = tq("ingest", str(events), "--org", "acme", "--data", str(tmp_path / "duck"))
        assert locked.returncode == 2 and "Traceback" not in locked.stderr
        assert "is in use by" in locked.stderr and "PID" in locked.stderr
        spec = {"from": "2023-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z",
                "measures": [{"agg": "count"}]}
        got = tq("query", "--url", live.url, "--token", token, "--json",
                 stdin=json.dumps(spec))
        assert json.loads(got.stdout)["rows"] == [[2500]]
        # OTLP/JSON, one ExportTraceServiceRequest a line (a collector's file exporter);
        # one span has a bad trace id and is rejected by the server, the rest are kept
        import base64

        from google.protobuf.json_format import MessageToDict

        from otlp_build import Span, traces_request

        t0 = 1_700_000_000_000_000_000
        lines = []
        for n in range(3):
            req = traces_request(Span("cli-otlp", f"op {i}", t0 + i, 1000,
                                      (n * 100 + i + 1).to_bytes(16, "big"),
                                      (i + 1).to_bytes(8, "big")) for i in range(40))
            line = MessageToDict(req)
            for rs in line["resourceSpans"]:  # OTLP/JSON ids are hex, not protobuf's base64
                for sp in rs["scopeSpans"][0]["spans"]:
                    for k in ("traceId", "spanId"):
                        sp[k] = base64.b64decode(sp[k]).hex()
            lines.append(line)
        lines[1]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "AAAA"
        otlp = tmp_path / "traces.jsonl"
        otlp.write_text("".join(json.dumps(line) + "\n" for line in lines))
        out = tq("ingest", str(otlp), "--url", live.url, "--token", token)
        assert "119 rows accepted, 1 rejected" in out.stderr, out.stderr
        svc = {**spec, "filter": {"and": [
            {"field": "$metadata.service", "op": "eq", "value": "cli-otlp"}]}}
        got = tq("query", "--url", live.url, "--token", token, "--json",
                 stdin=json.dumps(svc))
        assert json.loads(got.stdout)["rows"] == [[119]]
    store.close()
    meta.close()


def test_a_chdb_directory_in_use_is_one_line_naming_the_process(tmp_path: Path) -> None:
    import os

    from conftest import free_port, wait_up

    port = free_port()
    spec = f"chdb:{tmp_path / 'ch'}"
    server = subprocess.Popen([sys.executable, "-m", "telequery.cli", "serve", "--data",
                               str(tmp_path), "--store", spec, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}", 60, server)
        out = tq("query", "--data", str(tmp_path), "--store", spec, "--org", "a", stdin="")
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"in use by another process (PID {server.pid})" in out.stderr
    finally:
        server.terminate()
        server.wait(30)
    assert os.path.exists(tmp_path / "ch")
