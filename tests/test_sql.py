"""Tenant-safe SQL (``query/sql.py``, ``POST /api/v1/sql``) on both engines.

Tenancy is a property: hypothesis writes SELECTs (joins, subqueries, CTEs named like the
tables, unions, aliases shadowing table names, quoted identifiers, comments, case games)
over two orgs whose rows share trace ids; every accepted statement returns only the
caller's rows. A corpus of escape attempts is refused on both engines, results agree with
a Python oracle and across engines, and the API answers JSON, CSV, Arrow and Parquet.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ENGINES, LiveServer, make_store, serve
from otlp_build import Log, Span, logs_request, traces_request
from telequery.ingest.mapping import logs_to_rows, spans_to_rows
from telequery.meta import Meta
from telequery.query import SqlError, TimeRange, run_sql
from telequery.store.base import Store

ME, THEM = "acme", "globex"
NOW = time.time_ns()
WINDOW = TimeRange(datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC) + timedelta(hours=1))


def _spans(org_seed: int, n: int) -> list[Span]:
    # both orgs use the same trace and span ids: a join that crossed orgs would match
    return [Span(f"svc{i % 3}", f"op {i}", NOW - 3_600_000_000_000 + i * 1_000_000,
                 (i + 1) * 1_000_000 * org_seed, (i % 5 + 1).to_bytes(16, "big"),
                 (i + 1).to_bytes(8, "big"), error=i % 4 == 0,
                 attrs={"tier": "gold" if i % 2 else "free", "n": i})
            for i in range(n)]


def _logs(n: int) -> list[Log]:
    return [Log(f"svc{i % 2}", f"line {i}", NOW - 1_800_000_000_000 + i,
                trace_id=(i % 5 + 1).to_bytes(16, "big")) for i in range(n)]


def _fill(store: Store) -> None:
    for org, seed, n in ((ME, 1, 40), (THEM, 2, 60)):
        store.append(spans_to_rows(traces_request(_spans(seed, n)), org).table())
        store.append(logs_to_rows(logs_request(_logs(n // 2)), org).table())


@pytest.fixture(scope="module", params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Store]:
    s = make_store(request.param, tmp_path_factory.mktemp(request.param))
    _fill(s)
    yield s
    s.close()


def _sql(store: Store, text: str, org: str = ME, limit: int = 1000) -> list[tuple]:
    return run_sql(store, text, org, WINDOW, limit=limit).rows


# -- the oracle ---------------------------------------------------------------------------
def test_results_match_the_oracle(store: Store) -> None:
    spans = _spans(1, 40)
    assert _sql(store, "SELECT count(*) FROM spans") == [(40,)]
    assert _sql(store, "SELECT count(*) FROM logs") == [(20,)]
    assert _sql(store, "SELECT count(*) FROM events") == [(60,)]
    by_service = _sql(store, "SELECT service, count(*) AS n, sum(duration_ms) AS ms "
                             "FROM spans GROUP BY service ORDER BY service")
    want: dict[str, list[float]] = {}
    for s in spans:
        want.setdefault(s.service, []).append(s.duration_ns / 1e6)
    assert [(svc, n, round(ms, 6)) for svc, n, ms in by_service] == \
        [(k, len(v), round(sum(v), 6)) for k, v in sorted(want.items())]
    gold = _sql(store, "SELECT count(*) FROM spans WHERE attrs_string['tier'] = 'gold'")
    assert gold == [(sum(1 for s in spans if s.attrs["tier"] == "gold"),)]
    errors = _sql(store, "SELECT count(*) FROM spans WHERE status = 'error'")
    assert errors == [(sum(1 for s in spans if s.error),)]
    traces = _sql(store, "SELECT count(*) FROM traces")
    assert traces == [(len({s.trace_id for s in spans}),)]


_ANSWERS: dict[str, list[list[tuple]]] = {}


def test_the_same_sql_gives_the_same_answer_on_both_engines(store: Store) -> None:
    """Runs once per engine (one chDB per process: the module's stores); the second run
    compares with the first."""
    statements = [
        "SELECT service, count(*), min(duration_ms), max(duration_ms), avg(duration_ms) "
        "FROM spans GROUP BY service ORDER BY service",
        "SELECT lower(service) || '-' || upper(status) AS k, count(*) FROM spans "
        "GROUP BY k ORDER BY k",
        "SELECT coalesce(error, 'none') AS e, count(*) FROM spans GROUP BY e ORDER BY e",
        "SELECT round(quantile(duration_ms, 0.5), 3) FROM spans",
        "SELECT count(DISTINCT trace_id), median(duration_ms), stddev(duration_ms) FROM events",
        "SELECT CASE WHEN duration_ms > 20 THEN 'slow' ELSE 'fast' END AS speed, count(*) "
        "FROM spans GROUP BY speed ORDER BY speed",
        "SELECT service, row_number() OVER (PARTITION BY service ORDER BY duration_ms DESC) "
        "AS r FROM spans ORDER BY service, r LIMIT 6",
        "SELECT s.service, count(*) FROM spans s JOIN logs l ON s.trace_id = l.trace_id "
        "GROUP BY s.service ORDER BY s.service",
        "WITH t AS (SELECT trace_id, count(*) AS n FROM spans GROUP BY trace_id) "
        "SELECT max(n), min(n) FROM t",
        "SELECT count(*) FROM traces WHERE spans > 1",
        "SELECT attrs_string['tier'] AS tier, count(*) FROM spans GROUP BY tier ORDER BY tier",
        "SELECT CAST(duration_ms AS INT) AS ms FROM spans ORDER BY ms DESC LIMIT 3",
    ]
    _ANSWERS[store.dialect.name] = [
        [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in _sql(store, q)]
        for q in statements]
    if len(_ANSWERS) == len(ENGINES):
        first, second = _ANSWERS.values()
        for q, a, b in zip(statements, first, second, strict=True):
            assert a == b, q


# -- tenancy, as a property ------------------------------------------------------------------
TABLE_NAMES = ["events", "spans", "logs"]
ALIASES = ["x", "events", "logs", "spans", "traces", "system", "t1"]


def _case(draw: st.DrawFn, name: str) -> str:
    style = draw(st.sampled_from(["lower", "upper", "mixed", "quoted"]))
    if style == "upper":
        return name.upper()
    if style == "mixed":
        return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))
    if style == "quoted":
        return f'"{name}"'
    return name


@st.composite
def relation(draw: st.DrawFn, depth: int = 0) -> str:
    """A FROM item whose rows have an ``org_id`` column."""
    table = _case(draw, draw(st.sampled_from(TABLE_NAMES)))
    alias = draw(st.sampled_from(ALIASES))
    if depth < 2 and draw(st.booleans()):
        inner = draw(statement(depth + 1))
        return f"({inner}) AS {alias}"
    comment = draw(st.sampled_from(["", " /* events */", " -- spans\n"]))
    return f"{table}{comment} AS {alias}" if draw(st.booleans()) else table


@st.composite
def statement(draw: st.DrawFn, depth: int = 0) -> str:
    """A SELECT whose single output column is an ``org_id``."""
    shape = draw(st.sampled_from(["plain", "cte", "union", "join", "in", "where"]))
    if shape == "cte":
        name = draw(st.sampled_from([*TABLE_NAMES, "mine"]))
        inner = draw(relation(depth + 1))
        other = draw(st.sampled_from(TABLE_NAMES))
        return (f"WITH {name} AS (SELECT org_id FROM {inner}) SELECT org_id FROM {name} "
                f"UNION ALL SELECT org_id FROM {other}")
    if shape == "union":
        op = draw(st.sampled_from(["UNION ALL", "UNION", "EXCEPT", "INTERSECT"]))
        return (f"SELECT org_id FROM {draw(relation(depth + 1))} {op} "
                f"SELECT org_id FROM {draw(relation(depth + 1))}")
    if shape == "join":
        kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "INNER JOIN"]))
        return (f"SELECT a.org_id FROM {draw(relation(depth + 1))} a {kind} "
                f"{draw(relation(depth + 1))} b ON a.trace_id = b.trace_id")
    if shape == "in":
        return (f"SELECT org_id FROM {draw(relation(depth + 1))} WHERE trace_id IN "
                f"(SELECT trace_id FROM {draw(relation(depth + 1))})")
    if shape == "where":
        cond = draw(st.sampled_from(["org_id = 'globex'", "org_id <> 'acme'", "1 = 1",
                                     "org_id IS NOT NULL OR TRUE"]))
        return f"SELECT org_id FROM {draw(relation(depth + 1))} WHERE {cond}"
    return f"SELECT org_id FROM {draw(relation(depth + 1))}"


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=statement())
def test_every_accepted_statement_returns_only_the_callers_rows(store: Store,
                                                                text: str) -> None:
    try:
        rows = _sql(store, text, limit=100_000)
    except SqlError:
        return  # refusing is always safe (e.g. an engine that rejects a shape)
    assert {r[0] for r in rows} <= {ME}, text


# -- escape attempts --------------------------------------------------------------------------
ESCAPES = [
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT getenv('HOME')",
    "SELECT current_setting('threads')",
    "ATTACH 'x.db' AS x",
    "COPY events TO '/tmp/out.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "PRAGMA database_list",
    "SELECT 1; SELECT 2",
    "SELECT count(*) FROM events; DROP TABLE events",
    "SELECT * FROM spans WHERE trace_id IN (SELECT trace_id FROM read_parquet('x.parquet'))",
    "SELECT * FROM url('http://127.0.0.1:9/x', CSV)",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1', default.events)",
    "SELECT * FROM system.tables",
    "SELECT * FROM system.one",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM main.events",
    "SELECT * FROM default.events",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM events_raw",
    "SELECT * FROM events SETTINGS max_threads = 1",
    "SELECT * FROM events FORMAT JSON",
    "SELECT * FROM glob('*')",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
    "SELECT $1",
    "SELECT ?",
    "INSERT INTO events SELECT * FROM events",
    "DELETE FROM events",
    "CREATE TABLE x AS SELECT * FROM events",
    "SELECT * FROM __tq_cte_0",
    "SELECT main.events.org_id FROM events",
    "SELECT query_history()",
    "SELECT currentDatabase()",
    "SELECT version()",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_escape_attempts_are_refused(store: Store, text: str) -> None:
    with pytest.raises(SqlError):
        run_sql(store, text, ME, WINDOW, limit=10)


# -- the API ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("api")
    s = make_store("duckdb", tmp)
    _fill(s)
    meta = Meta(tmp / "meta.sqlite")
    with serve(s, meta) as server:
        yield server
    s.close()
    meta.close()


def _post(live: LiveServer, body: dict, accept: str = "application/json",
          org: str = ME) -> httpx.Response:
    return httpx.post(live.url + "/api/v1/sql", json=body, timeout=30, headers={
        "authorization": f"Bearer {live.token(org, ('query',))}", "accept": accept})


def test_the_api_answers_json_csv_arrow_and_parquet(live: LiveServer) -> None:
    body = {"sql": "SELECT service, count(*) AS n FROM spans GROUP BY service "
                   "ORDER BY service", "from": int(WINDOW.start.timestamp() * 1000)}
    r = _post(live, body)
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == ["service", "n"]
    assert r.json()["rows"] == [["svc0", 14], ["svc1", 13], ["svc2", 13]]
    assert r.json()["truncated"] is False
    csv = _post(live, body, "text/csv")
    assert csv.text.splitlines() == ["service,n", "svc0,14", "svc1,13", "svc2,13"]
    arrow = pyarrow.ipc.open_stream(_post(live, body, "application/vnd.apache.arrow.stream")
                                    .content).read_all()
    assert arrow.to_pydict() == {"service": ["svc0", "svc1", "svc2"], "n": [14, 13, 13]}
    parquet = pq.read_table(io.BytesIO(_post(live, body, "application/vnd.apache.parquet")
                                       .content))
    assert parquet.to_pydict() == arrow.to_pydict()
    cut = _post(live, {"sql": "SELECT span_id FROM spans", "limit": 5})
    assert cut.json()["truncated"] is True and len(cut.json()["rows"]) == 5
    assert cut.headers["x-telequery-truncated"] == "true"
    theirs = _post(live, {"sql": "SELECT count(*) FROM spans"}, org=THEM)
    assert theirs.json()["rows"] == [[60]]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"sql": "SELECT * FROM system.tables"}, "sql", "unqualified"),
    ({"sql": "SELECT nope FROM spans"}, "sql", "engine refused"),
    ({"sql": "SELECT getenv('HOME')"}, "sql", "getenv"),
    ({"sql": "SELEC 1"}, "sql", "parse"),
    ({"sql": ""}, "sql", "required"),
    ({"sql": "SELECT 1", "limit": 0}, "limit", "whole number"),
    ({"sql": "SELECT 1", "from": "yesterday"}, "from", "ISO-8601"),
])
def test_bad_statements_get_a_400_naming_the_problem(live: LiveServer, body: dict, field: str,
                                                     words: str) -> None:
    r = _post(live, body)
    assert r.status_code == 400, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["field"] == field and words in detail["reason"], detail


def test_an_arrow_table_round_trips_every_column_type(live: LiveServer) -> None:
    r = _post(live, {"sql": "SELECT * FROM spans LIMIT 3"},
              "application/vnd.apache.arrow.stream")
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.num_rows == 3 and "attrs_string" in table.column_names
    assert set(table.column("org_id").to_pylist()) == {ME}


def test_the_cli_runs_sql_against_a_server_and_locally(live: LiveServer,
                                                       tmp_path_factory: pytest.TempPathFactory
                                                       ) -> None:
    from typer.testing import CliRunner

    from telequery.cli import app

    token = live.token(ME, ("query",))
    r = CliRunner().invoke(app, ["sql", "SELECT count(*) AS n FROM spans", "--url", live.url,
                                 "--token", token, "--since", "3h", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert r.output.split() == ["n", "40"]
    data = tmp_path_factory.mktemp("local")
    s = make_store("duckdb", data)  # the CLI's data directory layout: <data>/duck is --store
    _fill(s)
    s.close()
    r = CliRunner().invoke(app, ["sql", "SELECT count(*) AS n FROM logs", "--org", THEM,
                                 "--data", str(data), "--store", str(data / "duck"),
                                 "--since", "3h", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert '"rows": [[30]]' in r.output
    bad = CliRunner().invoke(app, ["sql", "SELECT * FROM system.tables", "--org", ME,
                                   "--data", str(data), "--store", str(data / "duck")])
    assert bad.exit_code == 2 and "unqualified" in bad.output
