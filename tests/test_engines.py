"""One IR, two engines, same answers: every query runs on DuckDB and chDB and must agree.

The same OTLP messages (synthetic traffic plus a hand-built bulk service with > 8,192 rows
in one group, so an approximate quantile would show) are loaded into both stores once.
A few answers are also checked against plain Python over the stored rows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from sqlglot import exp

from conftest import make_store
from telequery import semconv as sc
from telequery.ingest.load import load
from telequery.query import engine
from telequery.query.catalog import Dataset, Field, col, column_field
from telequery.query.datasets import DATASETS
from telequery.query.datasets.events import attribute_field
from telequery.query.ir import (
    QUANTILES,
    Agg,
    Bucketing,
    Condition,
    Dimension,
    FilterGroup,
    Having,
    Measure,
    Needle,
    Op,
    OrderBy,
    Query,
    TimeRange,
    ValueType,
)
from telequery.store.base import Store

ORG = "acme"
START = datetime(2024, 5, 6, tzinfo=UTC)
END = START + timedelta(hours=6)
RANGE = TimeRange(START, END)
BULK = 9_000  # rows of service "bulk": one group larger than ClickHouse's 8,192 reservoir

# A test dataset exposing the array column and a derived relation (one row per service).
def _test_dataset(ds: Dataset) -> Dataset:
    """Test-only datasets join the catalog's one mapping explicitly."""
    DATASETS[ds.name] = ds
    return ds


_test_dataset(Dataset(
    name="engine_test",
    fields={"teams": column_field("teams", "teams"),
            "service": column_field("service", "service"),
            "latency": attribute_field("latency", ValueType.NUMBER)},  # type: ignore[arg-type]
    description="test-only: teams array",
))


def _derive(d, p, where):  # type: ignore[no-untyped-def]
    svc = exp.column("service", quoted=True)
    return (exp.select(exp.alias_(svc, "service", quoted=True),
                       exp.alias_(exp.Min(this=exp.column("timestamp", quoted=True)),
                                  "timestamp", quoted=True),
                       exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True))
            .from_("events").where(where).group_by(svc))


_test_dataset(Dataset(
    name="engine_test_services",
    fields={"service": column_field("service", "service"),
            "n": Field("n", ValueType.NUMBER, col("n"))},
    derive=_derive, weight=None, description="test-only: one row per service",
))


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        v = AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = AnyValue(int_value=value)
    elif isinstance(value, float):
        v = AnyValue(double_value=value)
    elif isinstance(value, list):
        v = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=x) for x in value]))
    else:
        v = AnyValue(string_value=str(value))
    return KeyValue(key=key, value=v)


def bulk_logs(seed: int = 5) -> ExportLogsServiceRequest:
    """9,000 logs of one service with skewed latencies, ties, gaps and sampled rows."""
    rng = random.Random(seed)
    records = []
    step_ns = (END - START) // timedelta(microseconds=1) * 1000 // (BULK + 7)
    base = int(START.timestamp()) * 1_000_000_000
    for i in range(BULK):
        attrs = [_kv("shard", f"s{i % 3}")] if i % 10 else []  # 10 % have no shard: NULL group
        if i % 17:
            attrs.append(_kv("latency", round(rng.lognormvariate(3, 1.2), 3)))
        if i % 50 == 0:
            attrs.append(_kv(sc.SAMPLE_INTERVAL, 10.0))
        if i % 4 == 0:
            attrs.append(_kv(sc.TEAM, ["red", "blue"] if i % 8 == 0 else ["green"]))
        if i % 7 == 0:
            attrs.append(_kv("flag", i % 14 == 0))
        word = ["Payment FAILED", "payment ok", "Cache miss", "ÜBER timeout"][i % 4]
        records.append(LogRecord(time_unix_nano=base + i * step_ns + 1_000,
                                 severity_text=["INFO", "ERROR", "WARN", "DEBUG"][i % 4],
                                 body=AnyValue(string_value=f"{word} for user {i % 97}"),
                                 attributes=attrs))
    resource = Resource(attributes=[_kv(sc.SERVICE_NAME, "bulk")])
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=resource, scope_logs=[ScopeLogs(log_records=records)])])


def messages() -> list:
    from telequery.synth import generate

    return [*generate(11, 2_500, START, END), bulk_logs()]


class _Tee:
    """Appends each batch ``load`` maps to every store, so all hold identical rows."""

    def __init__(self, stores: list[Store]) -> None:
        self.stores = stores

    def append(self, batch: object) -> int:
        counts = [s.append(batch) for s in self.stores]  # type: ignore[arg-type]
        return counts[0]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    root: Path = tmp_path_factory.mktemp("engines")
    msgs = messages()
    out = {name: make_store(name, root) for name in ("duckdb", "chdb")}
    both = _Tee(list(out.values()))  # mapping assigns random ids: map once, append twice
    load(both, ORG, msgs)
    load(both, "other-org", [bulk_logs(seed=9)])
    yield out
    for s in out.values():
        s.close()


# -- the queries --------------------------------------------------------------------------
def Q(**kw: object) -> Query:
    kw.setdefault("dataset", "events")
    kw.setdefault("time_range", RANGE)
    return Query(**kw)  # type: ignore[arg-type]


SVC = Dimension("$metadata.service")
LAT = "latency"
LATN = ValueType.NUMBER


def _m(agg: Agg, field: str | None = LAT, type: ValueType | None = LATN) -> Measure:
    return Measure(agg, field, type=type if field else None)


C = Condition
CASES: dict[str, Query] = {
    # rows
    "rows_default": Q(limit=50),
    "rows_select_offset": Q(select=("$metadata.id", "$metadata.service", "latency",
                                    "$metadata.startTime"), limit=20, offset=35),
    "rows_order_by_field": Q(select=("$metadata.id", "$metadata.duration"),
                             order_by=(OrderBy("$metadata.duration"),
                                       OrderBy("$metadata.id")), limit=30),
    "rows_stored_columns": Q(columns=("timestamp", "id", "service", "attrs_number"),
                             limit=40, offset=3),
    # ordered by time and id, neither of them selected
    "rows_stored_columns_sort_keys_not_selected": Q(columns=("service", "attrs_string"), limit=40),
    # every aggregate, one group > 8,192 rows
    "all_aggs_by_service": Q(measures=(*[_m(a) for a in Agg], Measure(Agg.COUNT)),
                             group_by=(SVC,)),
    "all_aggs_total": Q(measures=tuple(_m(a) for a in Agg)),
    "aggs_empty_range": Q(measures=tuple(_m(a) for a in Agg),
                          filter=C("$metadata.service", Op.EQ, "no-such-service")),
    "duration_percentiles": Q(measures=tuple(_m(a, "$metadata.duration", None)
                                             for a in QUANTILES),
                              group_by=(Dimension("$metadata.type"),)),
    "uniq_and_minmax_strings": Q(measures=(Measure(Agg.UNIQ, "$metadata.traceId"),
                                           Measure(Agg.MIN, "$metadata.message"),
                                           Measure(Agg.MAX, "$metadata.service")),
                                 group_by=(Dimension("$metadata.level"),)),
    "count_of_field": Q(measures=(Measure(Agg.COUNT, "shard"),), group_by=(SVC,)),
    "stddev_small_groups": Q(measures=(_m(Agg.STDDEV), _m(Agg.VARIANCE), Measure(Agg.COUNT)),
                             group_by=(Dimension("$metadata.message"),),
                             filter=C("$metadata.service", Op.EQ, "bulk"),
                             order_by=(OrderBy("count"), OrderBy("$metadata.message", False)),
                             limit=40),
    "stddev_n_lt_2": Q(measures=(_m(Agg.STDDEV), _m(Agg.VARIANCE), Measure(Agg.COUNT)),
                       group_by=(Dimension("$metadata.id"),),
                       filter=C("$metadata.service", Op.EQ, "bulk"),
                       order_by=(OrderBy("$metadata.id", False),), limit=12),
    # group-bys with NULL groups, havings, order, limit/offset
    "null_groups": Q(measures=(Measure(Agg.COUNT), _m(Agg.P50)),
                     group_by=(Dimension("shard"), Dimension("$metadata.level"))),
    "havings": Q(measures=(Measure(Agg.COUNT), _m(Agg.AVG)), group_by=(Dimension("shard"),),
                 havings=(Having("count", Op.GT, 2000), Having("avg(latency)", Op.LT, 1e6))),
    "order_limit_offset": Q(measures=(Measure(Agg.COUNT, alias="n"),),
                            group_by=(Dimension("$metadata.message"),),
                            order_by=(OrderBy("n"),), limit=7, offset=3),
    "order_asc_dim": Q(measures=(Measure(Agg.COUNT),), group_by=(Dimension("shard"),),
                       order_by=(OrderBy("shard", descending=False),), limit=10),
    "default_topn_order": Q(measures=(Measure(Agg.SUM, "$metadata.inputTokens"),),
                            group_by=(Dimension("$metadata.model"),), limit=5),
    # needle
    "needle_ci": Q(measures=(Measure(Agg.COUNT),), group_by=(SVC,),
                   needle=Needle("payment failed")),
    "needle_cs": Q(measures=(Measure(Agg.COUNT),), group_by=(SVC,),
                   needle=Needle("Payment", match_case=True)),
    "needle_unicode_ci": Q(measures=(Measure(Agg.COUNT),), needle=Needle("über")),
    "needle_regex_ci": Q(measures=(Measure(Agg.COUNT),), group_by=(SVC,),
                         needle=Needle(r"payment (ok|failed)", regex=True)),
    "needle_regex_cs": Q(measures=(Measure(Agg.COUNT),), group_by=(SVC,),
                         needle=Needle(r"^Payment [A-Z]+ for user 1\d$", regex=True,
                                       match_case=True)),
    # buckets
    "timeseries_interval": Q(measures=(Measure(Agg.COUNT), _m(Agg.P95)),
                             bucket=Bucketing(interval_seconds=900)),
    "timeseries_count_groups": Q(measures=(Measure(Agg.COUNT), _m(Agg.AVG)),
                                 group_by=(Dimension("shard"),), bucket=Bucketing(count=30)),
    "timeseries_topn": Q(measures=(Measure(Agg.COUNT),), group_by=(Dimension("shard"),),
                         bucket=Bucketing(interval_seconds=1800), limit=2,
                         order_by=(OrderBy("count", descending=False),)),
    "timeseries_topn_null_group": Q(measures=(Measure(Agg.COUNT), _m(Agg.MAX)),
                                    group_by=(Dimension("shard"), SVC),
                                    bucket=Bucketing(interval_seconds=3600), limit=3),
    "timeseries_havings": Q(measures=(Measure(Agg.COUNT),), group_by=(SVC,),
                            havings=(Having("count", Op.GTE, 100),),
                            bucket=Bucketing(interval_seconds=3600)),
    "timeseries_odd_step": Q(measures=(Measure(Agg.UNIQ, "shard"),),
                             bucket=Bucketing(interval_seconds=7 * 60 + 0.5)),
    # arrays: unnest keeping a NULL row, has-any/none; derived relation
    "unnest_teams": Q(dataset="engine_test", measures=(Measure(Agg.COUNT),
                                                       _m(Agg.P90)),
                      group_by=(Dimension("teams"), Dimension("service"))),
    "unnest_teams_timeseries": Q(dataset="engine_test", measures=(Measure(Agg.COUNT),),
                                 group_by=(Dimension("teams"),), limit=2,
                                 bucket=Bucketing(interval_seconds=3600)),
    "derived": Q(dataset="engine_test_services",
                 measures=(Measure(Agg.SUM, "n"), Measure(Agg.COUNT)),
                 group_by=(Dimension("service"),)),
}

FILTERS: dict[str, object] = {
    "eq": C("$metadata.level", Op.EQ, "error"),
    "neq": C("shard", Op.NEQ, "s1"),
    "gt": C("latency", Op.GT, 40, LATN),
    "gte": C("$metadata.statusCode", Op.GTE, 500),
    "lt": C("latency", Op.LT, 5.5, LATN),
    "lte": C("$metadata.duration", Op.LTE, 100),
    "in": C("$metadata.level", Op.IN, ["warn", "debug"]),
    "not_in": C("shard", Op.NOT_IN, ["s0", "s2"]),
    "includes": C("$metadata.message", Op.INCLUDES, "FAILED"),
    "not_includes": C("$metadata.message", Op.NOT_INCLUDES, "user 1"),
    "starts_with": C("$metadata.message", Op.STARTS_WITH, "Cache"),
    "not_starts_with": C("$metadata.url", Op.NOT_STARTS_WITH, "https://"),
    "ends_with": C("$metadata.message", Op.ENDS_WITH, "user 5"),
    "not_ends_with": C("$metadata.message", Op.NOT_ENDS_WITH, "0"),
    "regex": C("$metadata.message", Op.REGEX, r"(?i)^payment .* user [0-9]$"),
    "regex_escapes": C("$metadata.message", Op.REGEX, r"\buser \d\d\b"),
    "includes_backslash": C("$metadata.message", Op.NOT_INCLUDES, "\\t"),
    "exists": C("latency", Op.EXISTS, None, LATN),
    "is_null": C("shard", Op.IS_NULL),
    "is_not_null": C("$metadata.traceId", Op.IS_NULL, False),
    "between": C("latency", Op.BETWEEN, [10, 30], LATN),
    "bool_eq": C("flag", Op.EQ, True, ValueType.BOOLEAN),
    "bool_neq": C("flag", Op.NEQ, "true", ValueType.BOOLEAN),
    "or_group": FilterGroup("or", (C("shard", Op.EQ, "s0"),
                                   FilterGroup("and", (C("$metadata.level", Op.EQ, "info"),
                                                       C("latency", Op.GT, 20, LATN))))),
}
for _name, _f in FILTERS.items():
    CASES[f"filter_{_name}"] = Q(measures=(Measure(Agg.COUNT), _m(Agg.SUM)),
                                 group_by=(SVC,), filter=_f)  # type: ignore[arg-type]
CASES["filter_array_has_any"] = Q(dataset="engine_test", measures=(Measure(Agg.COUNT),),
                                  filter=C("teams", Op.ARRAY_HAS_ANY, ["red", "green"]))
CASES["filter_array_has_none"] = Q(dataset="engine_test", measures=(Measure(Agg.COUNT),),
                                   filter=C("teams", Op.ARRAY_HAS_NONE, ["red"]))
CASES["filter_array_exists"] = Q(dataset="engine_test", measures=(Measure(Agg.COUNT),),
                                 group_by=(Dimension("service"),),
                                 filter=C("teams", Op.EXISTS))


def same(a: object, b: object) -> bool:
    """Equal values; floats to 1e-9 relative (summation order differs between engines)."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        fa, fb = float(a), float(b)  # type: ignore[arg-type]
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def assert_same_rows(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b), f"{len(a)} rows vs {len(b)}"
    for i, (ra, rb) in enumerate(zip(a, b, strict=True)):
        assert len(ra) == len(rb)
        for j, (x, y) in enumerate(zip(ra, rb, strict=True)):
            assert same(x, y), f"row {i} col {j}: {x!r} != {y!r}\n{ra}\n{rb}"


@pytest.mark.parametrize("name", list(CASES))
def test_engines_agree(stores: dict[str, Store], name: str) -> None:
    query = CASES[name]
    duck = engine.run(stores["duckdb"], query, ORG)
    ch = engine.run(stores["chdb"], query, ORG)
    assert duck.columns == ch.columns
    assert duck.rows, f"{name}: the query should match something"
    assert_same_rows(duck.rows, ch.rows)
    for s in (duck.stats, ch.stats):
        assert s.elapsed >= 0
    assert ch.stats.rows_read >= len(ch.rows) and ch.stats.bytes_read > 0


# -- independent oracle -------------------------------------------------------------------
def stored_rows(store: Store) -> list[dict]:
    res = store.execute("SELECT * FROM events WHERE org_id = " +
                        store.dialect.render(store.dialect.placeholder("o", _str())),
                        {"o": ORG})
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


def _str():  # type: ignore[no-untyped-def]
    from telequery.schema import Logical

    return Logical.STRING


def quantile_cont(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (DuckDB quantile_cont, numpy default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@pytest.mark.parametrize("name", ["duckdb", "chdb"])
def test_against_python(stores: dict[str, Store], name: str) -> None:
    store = stores[name]
    rows = [r for r in stored_rows(store) if r["service"] == "bulk"]
    assert len(rows) == BULK
    lat = [r["attrs_number"]["latency"] for r in rows if "latency" in r["attrs_number"]]
    assert len(lat) > 8_192
    ms = (*[_m(a) for a in QUANTILES], Measure(Agg.COUNT), _m(Agg.UNIQ))
    res = engine.run(store, Q(measures=ms, filter=C("$metadata.service", Op.EQ, "bulk")), ORG)
    got = res.dicts()[0]
    for agg, q in QUANTILES.items():
        assert same(got[f"{agg.value}(latency)"], quantile_cont(lat, q)), agg
    assert same(got["count"], sum(r["sample_interval"] for r in rows))
    assert got["uniq(latency)"] == len(set(lat))
    # timestamps round-trip as naive UTC microseconds
    step_ns = (END - START) // timedelta(microseconds=1) * 1000 // (BULK + 7)
    start = START.replace(tzinfo=None)
    want = {start + timedelta(microseconds=(i * step_ns + 1_000) // 1000) for i in range(BULK)}
    assert {r["timestamp"] for r in rows} == want


def test_tenant_scoped(stores: dict[str, Store]) -> None:
    q = Q(measures=(Measure(Agg.COUNT),))
    counts = {n: engine.run(s, q, "other-org").rows for n, s in stores.items()}
    assert counts["duckdb"] == counts["chdb"]
    assert counts["chdb"][0][0] == pytest.approx(BULK - BULK // 50 + BULK // 50 * 10)


def test_stored_columns_are_a_projection_of_whole_rows(stores: dict[str, Store]) -> None:
    """``columns`` returns exactly those stored columns of the same rows, in that order."""
    cols = ("attrs_string", "timestamp", "id")
    for store in stores.values():
        whole = engine.run(store, Q(limit=25), ORG)
        part = engine.run(store, Q(limit=25, columns=cols), ORG)
        assert part.columns == list(cols)
        at = [whole.columns.index(c) for c in cols]
        assert part.rows == [tuple(r[i] for i in at) for r in whole.rows]


def test_unknown_stored_column_is_refused() -> None:
    from telequery.dialect import DuckDBDialect
    from telequery.query._compile import compile_query
    from telequery.query.errors import QueryError

    with pytest.raises(QueryError, match="columns") as refused:  # the binder's Problems
        compile_query(Q(columns=("id", "id; DROP TABLE events")), ORG, DuckDBDialect())
    assert refused.value.code == "invalid_value"
