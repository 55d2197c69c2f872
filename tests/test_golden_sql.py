"""Golden SQL for the whole catalog: IR in, exact SQL text out, both dialects side by side.

Each case is one file, ``tests/golden/<case>.sql``: the DuckDB statements and then the
ClickHouse ones, each with its bound parameters. Cases: for every dataset, aggregates
over every groupable field (in chunks of the group-by limit) with every named measure,
and a timeseries with a top-N; hand-written cases for rows, percentiles, filters and the
needle, distributions, month buckets and key discovery. Any change to the SQL either
engine runs shows up here in review; ``UPDATE_GOLDEN=1`` rewrites the files after a
deliberate change. Two more checks: every public dialect method is used by at least one
case, and every ClickHouse statement runs on chDB.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telequery.dialect import DIALECTS, Dialect
from telequery.query import (
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
from telequery.query._compile import _Compiler
from telequery.query.datasets import DATASETS
from telequery.query.datasets.events import ATTRIBUTE_MAPS, LISTED_METADATA
from telequery.query.datasets.gateway import MONTHS_PREFIX
from telequery.query.keys import field_keys_sql, map_keys_sql, newest_sql
from telequery.query.limits import MAX_GROUP_BY

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
ORG = "acme"
RANGE = TimeRange(datetime(2024, 5, 6, tzinfo=UTC), datetime(2024, 5, 6, 6, tzinfo=UTC))
SVC = Dimension("$metadata.service")
PUBLIC = sorted(n for n, v in inspect.getmembers(Dialect)
                if not n.startswith("_") and callable(v))

HAND: dict[str, Query] = {
    "rows": Query("events", RANGE, select=("$metadata.id", "$metadata.startTime", "shard"),
                  filter=Condition("$metadata.level", Op.IN, ["error", "warn"]), limit=20,
                  offset=40),
    "rows_stored_columns": Query("events", RANGE, columns=("timestamp", "id", "message"),
                                 limit=50),
    "aggregate_percentiles": Query(
        "events", RANGE, group_by=(SVC, Dimension("shard")),
        measures=(Measure(Agg.COUNT), Measure(Agg.P99, "$metadata.duration"),
                  Measure(Agg.UNIQ, "$metadata.traceId"),
                  Measure(Agg.STDDEV, "latency", type=ValueType.NUMBER),
                  Measure(Agg.VARIANCE, "latency", type=ValueType.NUMBER)),
        havings=(Having("count", Op.GT, 10),), order_by=(OrderBy("count"),), limit=5),
    "filters_and_needle": Query(
        "events", RANGE, measures=(Measure(Agg.AVG, "$metadata.duration"),),
        filter=FilterGroup("or", (
            Condition("$metadata.message", Op.NOT_INCLUDES, "ok"),
            Condition("$metadata.url", Op.REGEX, r"^https://api\."),
            Condition("$metadata.service", Op.STARTS_WITH, "api"),
            Condition("$metadata.service", Op.ENDS_WITH, "-worker"),
            Condition("retries", Op.BETWEEN, [1, 3], ValueType.NUMBER))),
        needle=Needle("Timeout", match_case=False)),
    "needle_regex_match_case": Query("events", RANGE, measures=(Measure(Agg.COUNT),),
                                     needle=Needle(r"Time(out|d) \d+", regex=True,
                                                   match_case=True)),
    "distribution": Query("events", RANGE, measures=(Measure(Agg.COUNT),),
                          group_by=(Dimension("$metadata.duration", bins=(0, 10, 100, 1000)),)),
    "array_filter": Query("modelMetrics", RANGE, measures=(Measure(Agg.COUNT),),
                          filter=FilterGroup("and", (
                              Condition("team", Op.ARRAY_HAS_ANY, ["payments", "search"]),
                              Condition("team", Op.ARRAY_HAS_NONE, ["internal"])))),
    "month_buckets": Query("modelMetrics", RANGE, measures=(Measure(Agg.COUNT),),
                           group_by=(Dimension(f"{MONTHS_PREFIX}1", alias="__month"),)),
    "timeseries": Query("events", RANGE, measures=(Measure(Agg.COUNT),),
                        bucket=Bucketing(interval_seconds=300)),
    "timeseries_topn": Query("events", RANGE, group_by=(SVC,),
                             measures=(Measure(Agg.COUNT), Measure(Agg.MEDIAN,
                                                                   "$metadata.duration")),
                             bucket=Bucketing(count=24), limit=3),
}


def catalog_cases() -> dict[str, Query]:
    """Per dataset: every groupable field with every named measure, and a top-N series."""
    cases: dict[str, Query] = {}
    for name, ds in sorted(DATASETS.items()):
        groupable = [f for f, field in ds.fields.items() if field.groupable]
        measures = tuple(replace(m, alias=n) for n, m in ds.measures.items()) or \
            (Measure(Agg.COUNT),)
        for i in range(0, len(groupable), MAX_GROUP_BY):
            chunk = tuple(Dimension(f) for f in groupable[i:i + MAX_GROUP_BY])
            cases[f"catalog.{name}.aggregate.{i // MAX_GROUP_BY + 1}"] = Query(
                name, RANGE, group_by=chunk, measures=measures, limit=100)
        cases[f"catalog.{name}.timeseries_topn"] = Query(
            name, RANGE, group_by=(Dimension(groupable[0]),), measures=measures[:1],
            bucket=Bucketing(interval_seconds=3600), limit=5)
    return cases


CASES: dict[str, Query | str] = {**HAND, **catalog_cases(), "keys": "keys"}
KEYS_QUERY = Query("events", RANGE, filter=Condition("$metadata.service", Op.EQ, "api"))


def statements(case: str, dialect: Dialect) -> list[tuple[str, dict[str, object]]]:
    """The statements a case runs on ``dialect`` (uncached: every dialect call happens)."""
    if case == "keys":
        return [newest_sql(KEYS_QUERY, ORG, dialect, 1000),
                map_keys_sql(KEYS_QUERY, ORG, dialect, ATTRIBUTE_MAPS),
                field_keys_sql(KEYS_QUERY, ORG, dialect, LISTED_METADATA)]
    query = CASES[case]
    assert isinstance(query, Query)
    compiled = _Compiler(query, ORG, dialect).compile()
    return [(compiled.sql, compiled.params)]


def render(case: str, dialects: dict[str, Dialect]) -> str:
    out = [f"-- {case}"]
    for name in sorted(dialects):
        stmts = statements(case, dialects[name])
        for i, (sql, params) in enumerate(stmts, 1):
            part = f" ({i} of {len(stmts)})" if len(stmts) > 1 else ""
            out.append(f"\n-- {name}{part}\n-- params: "
                       f"{json.dumps(params, default=str, sort_keys=True)}\n{sql};")
    return "\n".join(out) + "\n"


def _recording(cls: type[Dialect], seen: set[str]) -> Dialect:
    """A real dialect that notes which public methods the compiler reaches for."""

    class Recording(cls):  # type: ignore[valid-type, misc]
        def __getattribute__(self, name: str) -> object:
            if name in PUBLIC:
                seen.add(name)
            return object.__getattribute__(self, name)

    return Recording()


@pytest.mark.parametrize("case", list(CASES))
def test_golden_sql(case: str) -> None:
    path = GOLDEN / f"{case}.sql"
    got = render(case, {name: cls() for name, cls in DIALECTS.items()})
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"{path} is missing; run with UPDATE_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert got == path.read_text(), "SQL changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_every_dataset_has_golden_cases() -> None:
    covered = {c.split(".")[1] for c in CASES if c.startswith("catalog.")}
    assert covered == set(DATASETS)


def test_every_public_dialect_method_appears_in_a_golden_case() -> None:
    """Across both dialects (``ilike`` is DuckDB's only: ClickHouse's ``ci_like`` is None)."""
    seen: set[str] = set()
    for cls in DIALECTS.values():
        recording = _recording(cls, seen)
        for case in CASES:
            statements(case, recording)
    assert sorted(set(PUBLIC) - seen) == []


@pytest.mark.parametrize("engine", ["chdb", "duckdb"])
def test_every_golden_statement_runs_on_its_engine(tmp_path: Path, engine: str) -> None:
    """The golden SQL is valid on the real engines (chDB, DuckDB), not just text."""
    from conftest import make_store

    store = make_store(engine, tmp_path)
    try:
        for case in CASES:
            for sql, params in statements(case, store.dialect):
                store.execute(sql, params)
    finally:
        store.close()
