"""Golden SQL per dialect: IR in, exact SQL text out, for DuckDB and ClickHouse.

Each case's expected text is ``tests/golden/<name>.<dialect>.sql`` (a comment line with
the bound parameters, then the SQL). Any change to the SQL either engine runs shows up
here in review. Run with ``UPDATE_GOLDEN=1`` to rewrite the files after a deliberate
change.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telequery.dialect import DIALECTS
from telequery.query._compile import compile_query
from telequery.query.ir import (
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

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
RANGE = TimeRange(datetime(2024, 5, 6, tzinfo=UTC), datetime(2024, 5, 6, 6, tzinfo=UTC))
SVC = Dimension("$metadata.service")

CASES: dict[str, Query] = {
    "rows": Query("events", RANGE, select=("$metadata.id", "$metadata.startTime", "shard"),
                  filter=Condition("$metadata.level", Op.IN, ["error", "warn"]), limit=20,
                  offset=40),
    "aggregate_percentiles": Query(
        "events", RANGE, group_by=(SVC, Dimension("shard")),
        measures=(Measure(Agg.COUNT), Measure(Agg.P99, "$metadata.duration"),
                  Measure(Agg.UNIQ, "$metadata.traceId"),
                  Measure(Agg.STDDEV, "latency", type=ValueType.NUMBER)),
        havings=(Having("count", Op.GT, 10),), order_by=(OrderBy("count"),), limit=5),
    "filters_and_needle": Query(
        "events", RANGE, measures=(Measure(Agg.AVG, "$metadata.duration"),),
        filter=FilterGroup("or", (
            Condition("$metadata.message", Op.NOT_INCLUDES, "ok"),
            Condition("$metadata.url", Op.REGEX, r"^https://api\."),
            Condition("retries", Op.BETWEEN, [1, 3], ValueType.NUMBER))),
        needle=Needle("Timeout", match_case=False)),
    "timeseries": Query("events", RANGE, measures=(Measure(Agg.COUNT),),
                        bucket=Bucketing(interval_seconds=300)),
    "timeseries_topn": Query("events", RANGE, group_by=(SVC,),
                             measures=(Measure(Agg.COUNT), Measure(Agg.MEDIAN,
                                                                   "$metadata.duration")),
                             bucket=Bucketing(count=24), limit=3),
}


def render(name: str, dialect: str) -> str:
    compiled = compile_query(CASES[name], "acme", DIALECTS[dialect]())
    params = json.dumps(compiled.params, default=str, sort_keys=True)
    return f"-- params: {params}\n{compiled.sql}\n"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", list(CASES))
def test_golden_sql(name: str, dialect: str) -> None:
    path = GOLDEN / f"{name}.{dialect}.sql"
    got = render(name, dialect)
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"{path} is missing; run with UPDATE_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert got == path.read_text(), "SQL changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_clickhouse_golden_sql_runs_on_chdb(tmp_path: Path) -> None:
    """The golden ClickHouse SQL is valid on the real engine (chDB), not just text."""
    from conftest import make_store

    store = make_store("chdb", tmp_path)
    try:
        for name in CASES:
            compiled = compile_query(CASES[name], "acme", store.dialect)
            store.execute(compiled.sql, compiled.params)
    finally:
        store.close()
