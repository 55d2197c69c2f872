"""Randomised oracle tests: compiled SQL on a real store == the plain-Python evaluator.

Hypothesis draws small event sets and random IR queries (every filter operator, nested
groups, every measure, bucket sizes, group-bys, havings, order, limit/offset, needle).
Each example writes its events under a fresh org, next to a decoy org holding the same
events and more, so every example also checks that nothing crosses the tenant line.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import oracle
from conftest import ENGINES, make_store
from otlp_build import Log, Span, logs_request, traces_request
from telequery.ingest.mapping import Batch, logs_to_rows, spans_to_rows
from telequery.query import engine
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

BASE = datetime(2026, 3, 1, tzinfo=UTC)
BASE_NS = int(BASE.timestamp()) * 1_000_000_000
HOUR_NS = 3_600_000_000_000
EXAMPLES = 200

# Text with the characters that break naive SQL: quotes, backslashes, LIKE wildcards,
# control characters (no NUL), unicode, and SQL fragments.
TRICKY = ["o'brien", 'say "hi"', "back\\slash", "100%", "a_b", "tab\there", "new\nline",
          "Ünïcödé 日本", "'; DROP TABLE events; --", "x' OR '1'='1", "GET /api", "ab"]
ALPHABET = "abcGET /_%'\\\"é日-0123"
SERVICES = ["api", "auth", "billing", "o'brien", "wörker"]
USERS = ["u1", "u2", "U1", "o'brien", "100%", "a_b", "back\\slash"]
STRING_FIELDS = ["$metadata.service", "$metadata.message", "$metadata.level", "user.id"]
NUMBER_FIELDS = ["$metadata.duration", "$metadata.statusCode", "tokens"]
BOOL_FIELDS = ["flag"]
TYPES = {"user.id": ValueType.STRING, "tokens": ValueType.NUMBER, "flag": ValueType.BOOLEAN}
REGEXES = ["^GET", "a.c", "[0-9]+", "(?i)ünï", "o'b", "\\\\", "%$", "x|y"]

org_counter = itertools.count()


def make_events(seed: int, n: int) -> tuple[list[Span], list[Log]]:
    """``n`` events drawn from a seeded RNG: nulls, tricky text, sampling, both kinds."""
    rnd = random.Random(seed)
    spans, logs = [], []
    for i in range(n):
        ts = BASE_NS + rnd.randint(-HOUR_NS // 2, 6 * HOUR_NS)
        attrs: dict[str, object] = {
            "user.id": rnd.choice([None, *USERS]),
            "tokens": rnd.choice([None, rnd.randint(0, 5000)]),
            "flag": rnd.choice([None, True, False]),
            "note": rnd.choice(TRICKY),
            "telequery.sample_interval": rnd.choice([1, 1, 1, 2, 10]),
        }
        service = rnd.choice(SERVICES)
        if rnd.random() < 0.5:
            attrs["http.response.status_code"] = rnd.choice([None, 200, 201, 404, 500])
            spans.append(Span(service, rnd.choice(TRICKY), ts, rnd.randint(0, 5_000_000_000),
                              i.to_bytes(16, "big"), (i + 1).to_bytes(8, "big"),
                              error=rnd.random() < 0.3, attrs=attrs))
        else:
            body = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 12)))
            logs.append(Log(service, body, ts, rnd.choice(["DEBUG", "INFO", "WARN", "ERROR"]),
                            attrs=attrs))
    return spans, logs


events = st.builds(make_events, st.integers(0, 2**32), st.integers(30, 80) | st.integers(0, 5))


def _value_for(draw: st.DrawFn, field: str) -> object:
    if field in NUMBER_FIELDS:
        return draw(st.sampled_from([0, 200, 404, 500, 1000, 2500.5, "300"]))
    if field in BOOL_FIELDS:
        return draw(st.booleans())
    return draw(st.sampled_from(USERS + SERVICES + TRICKY + ["info", "error", "", "a"]))


@st.composite
def leaf(draw: st.DrawFn) -> Condition:
    field = draw(st.sampled_from(STRING_FIELDS + NUMBER_FIELDS + BOOL_FIELDS))
    vtype = TYPES.get(field)
    if field in BOOL_FIELDS:
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.EXISTS, Op.IS_NULL]))
    elif field in NUMBER_FIELDS:
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.IN,
                                   Op.NOT_IN, Op.BETWEEN, Op.EXISTS, Op.IS_NULL]))
    else:
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.GT, Op.LT, Op.IN, Op.NOT_IN, Op.INCLUDES,
                                   Op.NOT_INCLUDES, Op.STARTS_WITH, Op.NOT_STARTS_WITH,
                                   Op.ENDS_WITH, Op.NOT_ENDS_WITH, Op.REGEX, Op.EXISTS,
                                   Op.IS_NULL]))
    if op in (Op.IN, Op.NOT_IN):
        value: object = [_value_for(draw, field) for _ in range(draw(st.integers(1, 3)))]
    elif op is Op.BETWEEN:
        value = sorted([float(_value_for(draw, field)) for _ in range(2)])
    elif op is Op.REGEX:
        value = draw(st.sampled_from(REGEXES))
    elif op is Op.IS_NULL:
        value = draw(st.booleans())
    elif op is Op.EXISTS:
        value = None
    elif op in (Op.INCLUDES, Op.NOT_INCLUDES, Op.STARTS_WITH, Op.NOT_STARTS_WITH,
                Op.ENDS_WITH, Op.NOT_ENDS_WITH):
        value = draw(st.text(ALPHABET, min_size=1, max_size=3))
    else:
        value = _value_for(draw, field)
    return Condition(field, op, value, vtype)


filters = st.recursive(
    leaf(), lambda children: st.builds(
        FilterGroup, st.sampled_from(["and", "or"]),
        st.lists(children, min_size=1, max_size=3).map(tuple)), max_leaves=6)

EXACT_AGGS = [Agg.COUNT, Agg.UNIQ, Agg.MIN, Agg.MAX]


@st.composite
def measures(draw: st.DrawFn) -> Measure:
    agg = draw(st.sampled_from(list(Agg)))
    if agg is Agg.COUNT and draw(st.booleans()):
        return Measure(Agg.COUNT)
    if agg in (Agg.COUNT, Agg.UNIQ):
        field = draw(st.sampled_from(STRING_FIELDS + NUMBER_FIELDS))
    elif agg in (Agg.MIN, Agg.MAX):
        field = draw(st.sampled_from([*NUMBER_FIELDS, "$metadata.service"]))
    else:
        field = draw(st.sampled_from(NUMBER_FIELDS))
    return Measure(agg, field, type=TYPES.get(field))


DIMENSIONS = ["$metadata.service", "$metadata.level", "user.id", "$metadata.statusCode", "flag"]


@st.composite
def queries(draw: st.DrawFn) -> Query:
    start = BASE + timedelta(minutes=draw(st.integers(-30, 240)))
    end = start + timedelta(minutes=draw(st.sampled_from([1, 30, 90, 240, 400])))
    needle = None
    if draw(st.integers(0, 4)) == 0:
        regex = draw(st.booleans())
        needle = Needle(draw(st.sampled_from(REGEXES)) if regex else
                        draw(st.text(ALPHABET, min_size=1, max_size=3)), regex, draw(st.booleans()))
    flt = draw(st.one_of(st.none(), st.none(), filters))
    shape = draw(st.sampled_from(["rows", "aggregate", "aggregate", "timeseries", "timeseries"]))
    if shape == "rows":
        return Query("events", TimeRange(start, end), flt, limit=draw(st.integers(1, 30)),
                     needle=needle)
    ms = tuple(draw(st.lists(measures(), min_size=1, max_size=3,
                             unique_by=lambda m: m.name)))
    dims = tuple(Dimension(f, TYPES.get(f)) for f in draw(
        st.lists(st.sampled_from(DIMENSIONS), max_size=2, unique=True)))
    exact = [m for m in ms if m.agg in EXACT_AGGS]
    numeric = [m for m in exact if m.field not in STRING_FIELDS or m.agg not in (Agg.MIN,
                                                                                 Agg.MAX)]
    havings = ()
    if numeric and draw(st.booleans()):
        havings = (Having(numeric[0].name, draw(st.sampled_from(
            [Op.GT, Op.GTE, Op.LT, Op.LTE, Op.EQ, Op.NEQ])), draw(st.sampled_from([0, 1, 2, 5]))),)
    order_keys = [m.name for m in exact] + [d.name for d in dims]
    order = tuple(OrderBy(k, draw(st.booleans())) for k in draw(
        st.lists(st.sampled_from(order_keys), max_size=2, unique=True))) if order_keys else ()
    limit = draw(st.none() | st.integers(1, 5))
    if limit is not None and dims and not order and not exact:
        limit = None  # top-N by a float measure could tie differently; covered elsewhere
    bucket = None
    if shape == "timeseries":
        bucket = draw(st.sampled_from([Bucketing(interval_seconds=600),
                                       Bucketing(interval_seconds=3600),
                                       Bucketing(count=draw(st.integers(1, 12)))]))
    return Query("events", TimeRange(start, end), flt, ms, dims, havings, order, limit,
                 draw(st.integers(0, 2)) if limit else 0, bucket, needle)


def _ordered_for_limit(q: Query) -> bool:
    return bool(q.order_by) or not q.group_by or (q.measures[0].agg in EXACT_AGGS)


@pytest.fixture(scope="module", params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    s = make_store(request.param, Path(tmp_path_factory.mktemp("oracle")))
    yield s
    s.close()


def load(store, spans: list[Span], logs: list[Log], org: str) -> list[dict]:  # type: ignore[no-untyped-def]
    batch = Batch()
    spans_to_rows(traces_request(spans), org, batch=batch)
    logs_to_rows(logs_request(logs), org, batch=batch)
    store.append(batch.table())
    return oracle.rows_of(batch.columns)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=events, q=queries())
def test_query_matches_oracle(store, data: tuple[list[Span], list[Log]], q: Query) -> None:
    spans, logs = data
    org = f"org-{next(org_counter)}"
    rows = load(store, spans, logs, org)
    # The decoy org holds the same events plus more: a leak would change every answer.
    load(store, [*spans, Span("api", "decoy", BASE_NS, 1, b"\x01" * 16, b"\x02" * 8)],
         logs, org + "-decoy")
    result = engine.run(store, q, org)
    event(f"shape={result.compiled.shape}, rows={min(len(result.rows), 3)}")
    if result.compiled.shape == "rows":
        want = sorted(oracle.select(rows, q, org), key=lambda r: (r["timestamp"], r["id"]),
                      reverse=True)[: q.limit]
        id_col = result.columns.index("id")
        assert [r[id_col] for r in result.rows] == [r["id"] for r in want]
        assert all(r[result.columns.index("org_id")] == org for r in result.rows)
    elif result.compiled.shape == "aggregate":
        want = oracle.aggregate(rows, q, org)
        if q.limit is not None and not _ordered_for_limit(q):
            assert len(result.rows) == len(want)
        else:
            assert oracle.same_rows(result.rows, want), (result.compiled.sql, result.rows, want)
    else:
        want = oracle.timeseries(rows, q, org)
        assert oracle.same_rows(result.rows, want), (result.compiled.sql, result.rows, want)


def test_percentiles_interpolate_linearly(store) -> None:  # type: ignore[no-untyped-def]
    org = "pct"
    spans = [Span("api", "x", BASE_NS + i * 1000, d * 1_000_000, i.to_bytes(16, "big"),
                  (i + 1).to_bytes(8, "big")) for i, d in enumerate([1, 2, 3, 4, 10])]
    load(store, spans, [], org)
    q = Query("events", TimeRange(BASE, BASE + timedelta(hours=1)),
              measures=tuple(Measure(a, "$metadata.duration") for a in QUANTILES))
    (row,) = engine.run(store, q, org).rows
    expected = {a: oracle.quantile([1, 2, 3, 4, 10], p) for a, p in QUANTILES.items()}
    assert oracle.same_rows([row], [tuple(expected[a] for a in QUANTILES)])
    assert row[list(QUANTILES).index(Agg.P50)] == 3.0
    assert abs(row[list(QUANTILES).index(Agg.P99)] - 9.76) < 1e-9
