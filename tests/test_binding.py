"""The same filter value is bound the same way whichever API it came through.

The Workers adapter, the gateway adapter and the native ``/api/v1/query`` each turn a
filter into IR; the compiler binds its value with ``query.values.coerce``. Hypothesis
sends the same values (booleans, integers, floats, strings, numeric strings) through each
and compares the bound parameters: one set of coercion rules for every API (the copies
disagreed before: ``true`` -> ``'true'`` vs ``'True'``, ``12.0`` -> ``'12'`` vs ``'12.0'``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from telequery.api.gateway.request import parse as gateway_parse
from telequery.api.workers.request import query_request
from telequery.dialect import DuckDBDialect
from telequery.query import Agg, InvalidValue, Measure, Query, QueryError, as_text, query_from_dict
from telequery.query._compile import _Compiler

FROM_MS, TO_MS = 1_714_953_600_000, 1_714_975_200_000
VALUES = st.one_of(st.booleans(), st.integers(-10**15, 10**15),
                   st.floats(allow_nan=False, allow_infinity=False, width=64),
                   st.text(max_size=12), st.sampled_from(["12", "12.0", "true", "False"]))


def _bound(query: Query) -> dict[str, object] | str:
    """The parameters the compiler binds (or the problem's reason)."""
    try:
        return _Compiler(query, "acme", DuckDBDialect()).compile().params
    except QueryError as e:
        return f"invalid: {e.reason}"


def _native(dataset: str, field: str, op: str, value: object) -> dict[str, object] | str:
    try:
        q = query_from_dict({"dataset": dataset, "from": FROM_MS, "to": TO_MS,
                             "measures": [{"agg": "count"}],
                             "filter": {"and": [{"field": field, "op": op, "value": value}]}})
    except InvalidValue as e:
        return f"invalid: {e.reason}"
    return _bound(q)


def _workers(field: str, kind: str, op: str, value: object) -> dict[str, object] | str:
    try:
        req = query_request({"queryId": "q", "timeframe": {"from": FROM_MS, "to": TO_MS},
                             "parameters": {"filters": [{"key": field, "operation": op,
                                                         "type": kind, "value": value}]}})
    except Exception as e:  # the adapter's own 400 (ApiError)
        return f"invalid: {getattr(e, 'reason', e)}"
    q = Query("events", req.time_range, filter=req.params.filter,
              measures=(Measure(Agg.COUNT),))
    return _bound(q)


def _gateway(field: str, op: str, value: object) -> dict[str, object] | str:
    try:
        plan = gateway_parse({"startTs": "2024-05-06T00:00:00Z", "endTs": "2024-05-06T06:00:00Z",
                              "datasource": "modelMetrics", "type": "distribution",
                              "aggregations": [{"type": "p50", "column": "latencyMs"}],
                              "filters": [{"fieldName": field, "operator": op,
                                           "value": value}]})
    except Exception as e:
        return f"invalid: {getattr(e, 'details', e)}"
    q = Query("modelMetrics", plan.query.time_range, filter=plan.query.filter,
              measures=(Measure(Agg.COUNT),))
    return _bound(q)


def _accepted(*answers: dict[str, object] | str) -> list[dict[str, object]]:
    return [a for a in answers if isinstance(a, dict)]


@settings(max_examples=200, deadline=None)
@given(value=VALUES)
def test_a_string_field_binds_the_same_value_through_workers_and_native(value: object
                                                                       ) -> None:
    workers = _workers("$metadata.service", "string", "eq", value)
    native = _native("events", "$metadata.service", "eq", value)
    assert workers == native
    if isinstance(native, dict):
        assert as_text(value) in native.values()


@settings(max_examples=200, deadline=None)
@given(value=VALUES)
def test_a_number_field_binds_the_same_value_through_workers_and_native(value: object
                                                                       ) -> None:
    workers = _workers("$metadata.duration", "number", "gt", value)
    native = _native("events", "$metadata.duration", "gt", value)
    assert isinstance(workers, str) == isinstance(native, str)
    assert _accepted(workers) == _accepted(native)


@settings(max_examples=100, deadline=None)
@given(value=VALUES)
def test_a_string_field_binds_the_same_value_through_the_gateway_and_native(value: object
                                                                           ) -> None:
    gateway = _gateway("modelName", "EQUAL", value)
    native = _native("modelMetrics", "modelName", "eq", value)
    if isinstance(gateway, dict):  # the gateway may refuse types upstream refuses
        assert gateway == native


def test_the_settled_spellings() -> None:
    assert [as_text(v) for v in (True, False, 12.0, 12, 123456789.0, 0.5, 1e21, 1.5e-7)] == \
        ["true", "false", "12", "12", "123456789", "0.5", "1e+21", "1.5e-7"]
    assert _native("events", "$metadata.service", "eq", True) == \
        _workers("$metadata.service", "string", "eq", True)
    assert datetime(2024, 5, 6, tzinfo=UTC).timestamp() * 1000 == FROM_MS


def test_the_binder_reports_every_problem_with_its_ir_path() -> None:
    from telequery.query import Condition, FilterGroup, Needle, Op, TimeRange, ValueType, dataset
    from telequery.query.bind import Problems, bind

    q = Query("events", TimeRange.from_ms(FROM_MS, TO_MS), filter=FilterGroup("and", (
        Condition("$metadata.duration", Op.GT, "fast"),
        FilterGroup("or", (Condition("nope.not.a.field", Op.EQ, 1, ValueType.BOOLEAN),
                           Condition("$metadata.service", Op.REGEX, "(unclosed"))),
        Condition("$metadata.service", Op.BETWEEN, "x"))),
        needle=Needle("[", regex=True))
    try:
        bind(q, dataset("events"))
    except Problems as e:
        got = [(p.path, p.code) for p in e.problems]
    else:
        raise AssertionError("no problems")
    assert got == [
        ("filter.children[0].value", "invalid_value"),
        ("filter.children[1].children[0].value", "invalid_value"),  # 1 is not a boolean
        ("filter.children[1].children[1].value", "invalid_value"),
        ("filter.children[2].value", "operator_not_allowed"),
        ("needle.value", "invalid_value"),
    ]
    # the compiler reports the first through every API's single-problem envelope
    assert _bound(q) == "invalid: expected a number, got 'fast'"
