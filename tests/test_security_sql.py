"""User SQL as an attacker with one org's query token writes it (issue 29), on both engines.

Three lines of defence, each attacked on its own:
1. ``query/sql.py``: the allow-list (no type it does not name: a quoted type name was
   rendered verbatim) and the rendered text parsed back in the engine's dialect;
2. the engine's own parser (``Confined``): one SELECT, every read of the stored table
   filtered to the caller's org, no table function, settings or unlisted function;
3. where it runs: DuckDB with external access off, chDB read connections at readonly.
Each test fails on the main before issue 29. And: a statement that timed out never answers
another org's next request; a statement's memory and spill are bounded.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ENGINES, make_store, serve
from otlp_build import Log, Span, logs_request, traces_request
from telequery.ingest.mapping import logs_to_rows, spans_to_rows
from telequery.meta import Meta
from telequery.query import SqlError, TimeRange, run_sql
from telequery.query.sql import tables
from telequery.schema import Logical
from telequery.store.base import (
    Confined,
    StatementTimeout,
    Store,
    UnsafeStatement,
)

ME, THEM = "attacker", "victim"
CANARY = {ME: "mine-canary", THEM: "victim-canary-7c1f"}
NOW = time.time_ns()
WINDOW = TimeRange(datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC) + timedelta(hours=1))
N = 60


def _fill(store: Store) -> None:
    for org in (ME, THEM):
        spans = [Span("svc", f"{CANARY[org]} op {i}", NOW - 3_600_000_000_000 + i * 1_000_000,
                      1_000_000, (i % 5 + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big"))
                 for i in range(N)]
        logs = [Log("svc", f"{CANARY[org]} line {i}", NOW - 1_800_000_000_000 + i)
                for i in range(N)]
        store.append(spans_to_rows(traces_request(spans), org).table())
        store.append(logs_to_rows(logs_request(logs), org).table())


@pytest.fixture(scope="module", params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Store]:
    s = make_store(request.param, tmp_path_factory.mktemp(request.param))
    _fill(s)
    yield s
    s.close()


def _total(store: Store) -> int:
    return int(store.execute("SELECT count(*) FROM events").rows[0][0])


# -- 1. the injections of issue 29 ------------------------------------------------------------
OUT = "/tmp/telequery-injection-probe"
INJECTIONS = [
    # the issue's own: a quoted type name carrying a whole subquery
    'SELECT CAST(1 AS "SIGNED) AS x, (SELECT list(DISTINCT org_id) FROM events) AS orgs, '
    '(SELECT count(*) FROM events) AS all_rows, CAST(1 AS SIGNED") AS z FROM spans LIMIT 1',
    *[f'SELECT CAST(1 AS "{head}) AS x, (SELECT count(*) FROM events) AS n, '
      f'CAST(1 AS {head}") AS z FROM spans'
      for head in ("UInt8", "LOGICAL", "UINTEGER", "OID", "VARINT", "BITSTRING")],
    "SELECT TRY_CAST(1 AS \"INT) AS x, (SELECT count(*) FROM events) AS n, "
    "TRY_CAST(1 AS INT\") AS z FROM spans",
    "SELECT 1::\"INT) AS x, (SELECT count(*) FROM events) AS n, 1::INT\" FROM spans",
    "SELECT CAST(1 AS \"SIGNED) AS x, (SELECT content FROM read_text('/etc/hostname')) AS f, "
    "CAST(1 AS SIGNED\") FROM spans",
    "SELECT CAST(1 AS \"UInt8) AS x, file('/etc/hostname') AS f, CAST(1 AS UInt8\") FROM spans",
    "SELECT CAST(1 AS \"UInt8) AS x, (SELECT count() FROM system.tables) AS t, "
    "CAST(1 AS UInt8\") FROM spans",
    f"SELECT CAST(1 AS \"SIGNED) FROM spans; COPY events TO '{OUT}'; "
    "SELECT CAST(1 AS SIGNED\") FROM spans",
    f"SELECT CAST(1 AS \"SIGNED) FROM spans; DELETE FROM events WHERE org_id = '{THEM}'; "
    "SELECT CAST(1 AS SIGNED\") FROM spans",
    "SELECT CAST(x AS STRUCT(a INT)) FROM spans",
    "SELECT CAST(x AS \"my_type\") FROM spans",
    "SELECT CAST(x AS decimal(10, 2, 3)) FROM spans",
    "SELECT CAST(x AS varchar(10)) FROM spans",
    "SELECT INTERVAL '1' \"hour) FROM events --\" FROM spans",
]


def _harmless(result) -> None:  # type: ignore[no-untyped-def]
    """An accepted statement saw the caller's rows only (2N events) and no file."""
    values = [v for row in result.rows for v in row]
    flat = " ".join(str(v) for v in values)
    assert CANARY[THEM] not in flat and THEM not in flat
    assert not any(isinstance(v, int) and v > 2 * N for v in values)
    assert "localhost" not in flat and os.uname().nodename not in flat


@pytest.mark.parametrize("text", INJECTIONS)
def test_the_injections_of_issue_29_are_refused(store: Store, text: str) -> None:
    """Refused, or (where sqlglot itself reduced the quoted text to a type it knows and
    dropped the rest) harmless; never another org's row, a file or a write."""
    before = _total(store)
    with contextlib.suppress(SqlError):
        _harmless(run_sql(store, text, ME, WINDOW, limit=10))
    assert _total(store) == before
    assert not os.path.exists(OUT)


def test_the_issue_29_statement_is_refused_naming_the_type(store: Store) -> None:
    with pytest.raises(SqlError, match="type not allowed"):
        run_sql(store, INJECTIONS[0], ME, WINDOW, limit=10)


# a family of quoted type names: any text in the quotes
TYPE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["INT", "int", "SIGNED", "UInt8", "VARINT", "my_type", "INT) x, (SELECT 1",
                     "a\"\"b", "INT[]", "MAP(VARCHAR, INT)"]).map(lambda h: h + "x"),
    st.builds(lambda h, t: f"{h}) AS x, ({t}) AS y, CAST(1 AS {h}",
              st.sampled_from(["SIGNED", "UInt8", "OID", "LOGICAL", "INT", "VARCHAR"]),
              st.sampled_from(["SELECT list(DISTINCT org_id) FROM events",
                               "SELECT count(*) FROM events",
                               f"SELECT message FROM events WHERE org_id = '{THEM}'",
                               "SELECT content FROM read_text('/etc/hostname')"])),
)
SHAPES = ["SELECT CAST(message AS \"{t}\") AS v FROM logs",
          "SELECT TRY_CAST(message AS \"{t}\") AS v FROM logs",
          "SELECT message::\"{t}\" AS v FROM logs"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TYPE_TEXT, shape=st.sampled_from(SHAPES))
def test_no_quoted_type_name_reaches_the_engine(store: Store, text: str, shape: str) -> None:
    quoted = text.replace('"', '""')
    before = _total(store)
    try:
        result = run_sql(store, shape.format(t=quoted), ME, WINDOW, limit=1000)
    except SqlError:
        assert _total(store) == before
        return
    # accepted only as one of the named types: the caller's rows, nothing else
    _harmless(result)
    assert len(result.rows) == N


# -- 2. the engine's own check, attacked without query/sql.py ----------------------------------
def _confined(store: Store, sql: str, params: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return store.execute(sql, params or {}, confined=Confined(ME, "__tq_cte_"))


def _org(store: Store) -> tuple[str, dict[str, object]]:
    """``org_id = <ME>`` as the compiler binds it on this engine."""
    ph = store.dialect.placeholder("p0", Logical.STRING).sql(store.dialect.sql_dialect)
    return f'"org_id" = {ph}', {"p0": ME}


BYPASSES = [
    "SELECT count(*) FROM events",                                  # no org filter
    "SELECT count(*) FROM events WHERE {org} OR 1 = 1",             # not a conjunct
    "SELECT count(*) FROM (SELECT * FROM events WHERE {org}) a, events b",
    "SELECT 1 FROM events WHERE {org}; DELETE FROM events",         # stacked
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT file('/etc/hostname')",
    "SELECT count(*) FROM system.tables",
    "SELECT current_setting('memory_limit')",
    "SELECT count(*) FROM events WHERE {org} SETTINGS max_memory_usage = 0",
    "SELECT getSetting('max_memory_usage')",
    "SELECT * FROM main.events WHERE {org}",
]


@pytest.mark.parametrize("text", BYPASSES)
def test_the_engine_check_holds_without_the_allow_list(store: Store, text: str) -> None:
    org, params = _org(store)
    before = _total(store)
    with pytest.raises(UnsafeStatement):
        _confined(store, text.format(org=org), params)
    assert _total(store) == before


def test_the_engine_check_accepts_the_org_filtered_read(store: Store) -> None:
    org, params = _org(store)
    rows = _confined(store, f"SELECT count(*) FROM events WHERE {org} AND kind = 'log'",
                     params).rows
    assert rows[0][0] == N
    # the victim's org as the bound value is not the caller's: refused
    with pytest.raises(UnsafeStatement):
        _confined(store, f"SELECT count(*) FROM events WHERE {org}", {"p0": THEM})


# -- 3. where statements run: no file, no write, whatever the text ----------------------------
def test_statements_cannot_write_or_read_files(store: Store, tmp_path: Path) -> None:
    """Past both parsers' checks, the engine itself: on DuckDB no statement reads or
    writes a file (external access is off for the database) and user SQL is one SELECT by
    DuckDB's own parser; on chDB every read runs on a readonly connection. (chDB has no
    setting that keeps ``file()`` from reading a file: there the engine's own parser check
    is what refuses it, docs/security.md.)"""
    before = _total(store)
    target = tmp_path / "out.csv"
    org, params = _org(store)
    clickhouse = store.dialect.sql_dialect == "clickhouse"
    for sql in ["SELECT * FROM read_text('/etc/hostname')", f"COPY events TO '{target}'",
                "SELECT * FROM file('/etc/hostname', 'LineAsString')", "SELECT file('/x')",
                f"SELECT * FROM read_csv('{target}')"]:
        with pytest.raises(Exception):  # noqa: B017 - each engine says it its own way
            store.execute(sql, params, confined=Confined(ME, "__tq_cte_"))
        if not clickhouse:
            with pytest.raises(Exception):  # noqa: B017
                store.execute(sql)
    for sql in ["DELETE FROM events", "INSERT INTO events (org_id) VALUES ('x')",
                "DROP TABLE events", f"SELECT 1 FROM events WHERE {org}; DELETE FROM events"]:
        with pytest.raises(Exception):  # noqa: B017
            store.execute(sql, params, confined=Confined(ME, "__tq_cte_"))
        if clickhouse:  # readonly, even unconfined
            with pytest.raises(Exception):  # noqa: B017
                store.execute(sql, params)
    assert not target.exists()
    assert _total(store) == before


# -- no answer crosses requests ---------------------------------------------------------------
SLOW = ("SELECT count(*) FROM logs a, logs b, logs c, logs d, logs e "
        "WHERE length(a.message || b.message || c.message || d.message || e.message) > 10")


def test_a_timed_out_statement_never_answers_the_next(store: Store) -> None:
    for _ in range(3):
        with pytest.raises(StatementTimeout):
            run_sql(store, SLOW, THEM, WINDOW, limit=10, timeout=1)
        for org in (ME, THEM):
            rows = run_sql(store, "SELECT message FROM logs ORDER BY message", org, WINDOW,
                           limit=1000).rows
            assert len(rows) == N
            assert all(r[0].startswith(CANARY[org]) for r in rows)
        assert _total(store) == 4 * N


def test_chdb_never_serves_an_interrupted_result(store: Store) -> None:
    """The mechanism of issue 29 on chDB: a statement that streamed rows and then ran past
    its deadline left them on its connection, and the next statement read them."""
    if store.dialect.sql_dialect != "clickhouse":
        pytest.skip("chDB's connection pool")
    for _ in range(4):
        with pytest.raises(StatementTimeout):
            store.transport.select(  # type: ignore[attr-defined]
                "SELECT 'stale-rows' AS leaked, sleepEachRow(0.001) FROM numbers(1000000)",
                {}, {"max_execution_time": 1, "timeout_overflow_mode": "throw",
                     "max_block_size": 10})
        res = store.execute("SELECT 'fresh' AS mine")
        assert res.columns == ["mine"] and res.rows == [("fresh",)]
    # ingest's verifying counts read their own answers: the rows are stored and said so
    # (a stale count answered 503 for stored rows, and the client's retry duplicated them)
    before = _total(store)
    with pytest.raises(StatementTimeout):
        store.transport.select(  # type: ignore[attr-defined]
            "SELECT 'stale-rows' AS leaked, sleepEachRow(0.001) FROM numbers(1000000)",
            {}, {"max_execution_time": 1, "timeout_overflow_mode": "throw",
                 "max_block_size": 10})
    logs = [Log("svc", f"late {i}", NOW - 10**9 + i) for i in range(7)]
    assert store.append(logs_to_rows(logs_request(logs), "a-third-org").table()) == 7
    assert _total(store) == before + 7


# -- the API ---------------------------------------------------------------------------------
def test_the_api_answers_an_injection_with_a_400(tmp_path: Path) -> None:
    s = make_store("duckdb", tmp_path)
    _fill(s)
    meta = Meta(tmp_path / "meta.sqlite")
    try:
        with serve(s, meta) as live:
            token = live.token(ME, ("query",))
            r = httpx.post(live.url + "/api/v1/sql", json={"sql": INJECTIONS[0]},
                           headers={"authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 400, r.text
            assert "type not allowed" in r.text
            assert THEM not in r.text and CANARY[THEM] not in r.text
    finally:
        meta.close()
        s.close()


# -- the engine check refuses nothing the documentation allows ---------------------------------
DOCUMENTED = [f"SELECT * FROM {t}" for t in tables().values()] + [
    "SELECT count(*), count(service), count_if(status = 'error'), sum(duration_ms), "
    "avg(duration_ms), min(timestamp), max(timestamp), median(duration_ms), "
    "quantile(duration_ms, 0.9), stddev(duration_ms), variance(duration_ms), "
    "arg_max(service, duration_ms), arg_min(service, duration_ms), count(DISTINCT service) "
    "FROM spans",
    "SELECT coalesce(service, 'x'), nullif(service, 'x'), greatest(duration_ms, 1), "
    "least(duration_ms, 1), lower(service), upper(service), length(service), "
    "substring(service, 1, 2), substring(service, 2), concat(service, 'x'), service || 'x', "
    "trim(service), strpos(service, 'a'), starts_with(service, 'a'), "
    "regexp_matches(service, 'a.*'), round(duration_ms, 2), round(duration_ms), "
    "abs(duration_ms), floor(duration_ms), ceil(duration_ms), sqrt(duration_ms), "
    "ln(duration_ms), exp(duration_ms), power(duration_ms, 2), date_trunc('hour', timestamp), "
    "now() FROM spans",
    "SELECT row_number() OVER (PARTITION BY service ORDER BY timestamp), "
    "rank() OVER (ORDER BY timestamp), dense_rank() OVER (ORDER BY timestamp), "
    "lag(service) OVER (ORDER BY timestamp), lead(service, 1) OVER (ORDER BY timestamp) "
    "FROM logs",
    "SELECT CAST(duration_ms AS varchar), CAST(duration_ms AS tinyint), "
    "CAST(duration_ms AS smallint), CAST(duration_ms AS integer), CAST(duration_ms AS bigint), "
    "CAST(duration_ms AS float), CAST(duration_ms AS double), "
    "CAST(duration_ms AS decimal(10, 2)), CAST(cold_start AS boolean), "
    "CAST(timestamp AS date), CAST(timestamp AS timestamp), TRY_CAST(service AS integer), "
    "service::text FROM spans",
    "SELECT timestamp - INTERVAL 1 HOUR, timestamp + INTERVAL 1 DAY, "
    "timestamp - INTERVAL 2 MINUTE, timestamp - INTERVAL 3 SECOND, "
    "timestamp - INTERVAL 1 WEEK, timestamp - INTERVAL 1 MONTH, timestamp - INTERVAL 1 YEAR, "
    "CASE WHEN duration_ms > 1 THEN 'a' ELSE 'b' END, CASE service WHEN 'a' THEN 1 END, "
    "IF(duration_ms > 1, 1, 0), service LIKE 'a%', service ILIKE 'a%', "
    "service NOT LIKE 'a%', service NOT ILIKE 'a%', service IN ('a', 'b'), "
    "service NOT IN ('a'), duration_ms BETWEEN 1 AND 2, service IS NULL, "
    "service IS NOT NULL, service <> 'a', NOT cold_start, -duration_ms, duration_ms % 2, "
    "duration_ms / 2, attrs_string['k'], attrs_number['k'], attrs_bool['k'], "
    "resource['k'], count(*) FILTER (WHERE status = 'error') OVER () FROM events",
    "SELECT service, count(*) FROM spans GROUP BY service HAVING count(*) > 1 "
    "ORDER BY 2 DESC LIMIT 5 OFFSET 1",
    "WITH a AS (SELECT trace_id FROM spans) SELECT count(*) FROM a "
    "JOIN traces t ON t.traceId = a.trace_id UNION ALL SELECT 1 INTERSECT SELECT 1 "
    "EXCEPT SELECT 2",
    "SELECT (SELECT count(*) FROM logs), service FROM spans "
    "WHERE service IN (SELECT service FROM logs)",
]


@pytest.mark.parametrize("text", DOCUMENTED)
def test_every_table_and_function_passes_the_engine_check(store: Store, text: str) -> None:
    """The engines' function allow-lists (``Dialect.confined_functions``) hold every
    function docs/sql.md lists, on every table: nothing documented is refused."""
    run_sql(store, text, ME, WINDOW, limit=10)


# -- each line alone --------------------------------------------------------------------------
def test_the_re_parse_refuses_what_the_allow_list_would_miss(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """Line 2 on its own: with the type check switched off (as if the allow-list had a
    hole), the quoted type name renders verbatim, and parsing the text back refuses it."""
    from telequery.dialect import ClickHouseDialect, DuckDBDialect
    from telequery.query import sql as user_sql

    monkeypatch.setattr(user_sql, "_check_type", lambda node: None)
    for dialect in (DuckDBDialect(), ClickHouseDialect()):
        for text in INJECTIONS[:2]:
            with pytest.raises(SqlError, match="does not render safely"):
                user_sql.compile_sql(text, ME, WINDOW, dialect, max_rows=10)
        # and what is harmless still compiles
        user_sql.compile_sql("SELECT count(*) FROM spans", ME, WINDOW, dialect, max_rows=10)
