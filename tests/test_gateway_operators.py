"""Every operator on every field of every datasource, over a live server: the allowed
ones answer the same total as an independent filter over the stored rows, the refused
ones are a 400 naming the field and the operator (the gateway's filtering tables)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest

from test_gateway_common import (
    ENGINE_PARAMS,
    FIELDS,
    NUMERIC,
    WINDOW,
    Env,
    assert_same_points,
    dataset_rows,
    expected_points,
    open_env,
)

OPERATORS = ("EQUAL", "NOT_EQUAL", "IN", "NOT_IN", "GREATER_THAN", "LESS_THAN",
             "GREATER_THAN_EQUAL", "LESS_THAN_EQUAL", "BETWEEN", "IS_NULL", "STRING_CONTAINS",
             "STRING_NOT_CONTAINS", "STRING_STARTS_WITH", "STRING_NOT_STARTS_WITH",
             "STRING_ENDS_WITH", "STRING_NOT_ENDS_WITH", "ARRAY_HAS_ANY", "ARRAY_HAS_NONE")
AGENT_STRING = {"IN", "NOT_IN", "STRING_CONTAINS", "STRING_STARTS_WITH", "STRING_ENDS_WITH"}
FULL_STRING = {"EQUAL", "NOT_EQUAL", "IN", "NOT_IN", "STRING_CONTAINS", "STRING_NOT_CONTAINS",
               "STRING_STARTS_WITH", "STRING_NOT_STARTS_WITH", "STRING_ENDS_WITH",
               "STRING_NOT_ENDS_WITH"}
NULLABLE_STRING = FULL_STRING | {"IS_NULL"}
STATUS = {"EQUAL", "NOT_EQUAL", "IN", "NOT_IN", "GREATER_THAN", "LESS_THAN",
          "GREATER_THAN_EQUAL", "LESS_THAN_EQUAL", "IS_NULL"}
LATENCY = {"GREATER_THAN", "LESS_THAN", "GREATER_THAN_EQUAL", "LESS_THAN_EQUAL", "BETWEEN"}
NUMBER = STATUS | {"BETWEEN"}
CALLER = {"userEmail": FULL_STRING, "virtualAccount": FULL_STRING,
          "createdBySubjectSlug": FULL_STRING, "conversationID": FULL_STRING,
          "team": {"ARRAY_HAS_ANY", "ARRAY_HAS_NONE"}, "latencyMs": LATENCY,
          "isFailure": {"EQUAL"}}
# The gateway's tables (agentMetrics verbatim from the contract).
ALLOWED: dict[str, dict[str, set[str]]] = {
    "agentMetrics": {"agentName": AGENT_STRING, "agentFramework": AGENT_STRING,
                     "agentServerType": AGENT_STRING, "httpStatusCode": STATUS, **CALLER},
    # upstream's model table: modelName without IS_NULL, virtualModelName with it, tokens
    # and cost by range only
    "modelMetrics": {"modelName": FULL_STRING, "requestModel": NULLABLE_STRING,
                     "provider": NULLABLE_STRING, "requestType": NULLABLE_STRING,
                     "agentName": NULLABLE_STRING, "errorType": NULLABLE_STRING,
                     "virtualModelName": NULLABLE_STRING, "virtualModel": NULLABLE_STRING,
                     "providerModelName": NULLABLE_STRING, "errorCode": NULLABLE_STRING,
                     "providerAccountType": NULLABLE_STRING,
                     "createdBySubjectType": NULLABLE_STRING, "traceId": NULLABLE_STRING,
                     "httpStatusCode": STATUS,
                     "inputTokens": LATENCY, "outputTokens": LATENCY, "costInUSD": LATENCY,
                     "timeToFirstTokenMs": NUMBER, "interTokenLatencyMs": NUMBER,
                     "timePerOutputTokenLatencyMs": NUMBER, **CALLER},
    "guardrailMetrics": {"guardrailName": AGENT_STRING, "appliedOnEntityScope": AGENT_STRING,
                         "guardrailResult": AGENT_STRING, "modelName": NULLABLE_STRING,
                         **CALLER},
    "configMetrics": {"configType": AGENT_STRING, "ruleId": AGENT_STRING,
                      "configResult": AGENT_STRING, "targetModel": NULLABLE_STRING,
                      "modelName": NULLABLE_STRING, **CALLER},
    # upstream's MCP table: IN, NOT_IN and the positive STRING_* only
    "mcpMetrics": {"mcpServerName": AGENT_STRING, "toolName": AGENT_STRING,
                   "method": AGENT_STRING, "agentName": NULLABLE_STRING,
                   "errorType": NULLABLE_STRING, **CALLER},
}


ALLOWED["cacheMetrics"] = {**ALLOWED["modelMetrics"], "cacheType": {"IN", "NOT_IN"},
                           "cacheNamespace": AGENT_STRING, "cacheLookupStatus": FULL_STRING,
                           "savedInputTokens": LATENCY, "savedOutputTokens": LATENCY,
                           "savedCostInUSD": LATENCY}


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    with open_env(request.param, tmp_path_factory.mktemp(f"gwops-{request.param}")) as e:
        yield e


def _value(op: str, name: str, values: list[object]) -> object:
    """A value of the right shape for ``op`` on ``name``, taken from the data."""
    if op == "IS_NULL":
        return True
    if name == "isFailure":
        return True
    if name == "team":
        common = Counter(t for v in values for t in v).most_common(1)  # type: ignore[union-attr]
        return [common[0][0] if common else "x", "no-such-team"]
    present = [v for v in values if v is not None]
    if name in NUMERIC:
        nums = sorted(float(v) for v in present) or [1.0]  # type: ignore[arg-type]
        mid = float(np.quantile(nums, 0.5, method="nearest"))
        if op in ("IN", "NOT_IN"):
            return [nums[0], nums[-1]]
        if op == "BETWEEN":
            return [float(np.quantile(nums, 0.25)), float(np.quantile(nums, 0.75))]
        return mid
    top = Counter(present).most_common(1)
    s = str(top[0][0]) if top else "x"
    return {"IN": [s, "no-such-value"], "NOT_IN": [s], "STRING_CONTAINS": s[1:4],
            "STRING_NOT_CONTAINS": s[1:4], "STRING_STARTS_WITH": s[:3],
            "STRING_NOT_STARTS_WITH": s[:3], "STRING_ENDS_WITH": s[-3:],
            "STRING_NOT_ENDS_WITH": s[-3:]}.get(op, s)


@pytest.mark.parametrize("datasource", sorted(ALLOWED))
def test_every_operator_on_every_field(env: Env, datasource: str) -> None:
    assert set(ALLOWED[datasource]) == set(FIELDS[datasource])  # the table covers the catalog
    rows = dataset_rows(env.rows, datasource)
    base = {**WINDOW, "datasource": datasource, "type": "distribution"}
    checked = refused = 0
    for name, allowed in ALLOWED[datasource].items():
        values = [FIELDS[datasource][name](r) for r in rows]
        for op in OPERATORS:
            body = {**base, "filters": [{"fieldName": name, "operator": op,
                                         "value": _value(op, name, values)}]}
            r = env.post(body)
            if op in allowed:
                assert r.status_code == 200, (name, op, r.text)
                got = r.json()["data"]["dataPoints"]
                assert_same_points(got, expected_points(env.rows, body))
                checked += 1
            else:
                assert r.status_code == 400, (name, op, r.text)
                assert r.json() == {"statusCode": 400, "message": "Invalid query", "details": [
                    f'Field "{name}" does not support operator "{op}"']}
                refused += 1
    assert checked >= 40 and refused >= 80


def test_negations_and_is_null_false(env: Env) -> None:
    """NOT_* keep rows where the field is absent; IS_NULL false keeps the present ones."""
    base = {**WINDOW, "datasource": "modelMetrics", "type": "distribution",
            "groupBy": ["agentName"]}
    for f in ({"fieldName": "agentName", "operator": "IS_NULL", "value": False},
              {"fieldName": "agentName", "operator": "IS_NULL", "value": True},
              {"fieldName": "errorType", "operator": "NOT_IN", "value": ["rate_limit"]},
              {"fieldName": "userEmail", "operator": "STRING_NOT_ENDS_WITH",
               "value": "acme.dev"},
              {"fieldName": "timeToFirstTokenMs", "operator": "NOT_EQUAL", "value": 1000},
              {"fieldName": "virtualModelName", "operator": "IS_NULL", "value": True},
              {"fieldName": "virtualModelName", "operator": "IS_NULL", "value": False}):
        body = {**base, "filters": [f]}
        assert_same_points(env.points(body), expected_points(env.rows, body))


def test_the_documented_model_examples_answer_with_their_keys(env: Env) -> None:
    """The shapes of upstream's model-metrics examples: the model side pinned with
    virtualModelName IS_NULL true, the virtual-model side with false and groupBy
    virtualModel; hourly series and distributions, the documented keys in each point."""
    model_side = {"fieldName": "virtualModelName", "operator": "IS_NULL", "value": True}
    virtual_side = {**model_side, "value": False}
    series = {**WINDOW, "datasource": "modelMetrics", "type": "timeseries",
              "interval": "1 hour", "aggregations": [{"type": "count", "column": "modelName"}],
              "filters": [model_side]}
    points = env.points(series)
    assert points and all({"total", "countModelName", "startTimestamp", "endTimestamp"}
                          <= set(p) for p in points)
    assert_same_points(points, expected_points(env.rows, series, step_s=3600))
    by_model = {**WINDOW, "datasource": "modelMetrics", "type": "distribution",
                "groupBy": ["modelName"], "filters": [model_side],
                "aggregations": [{"type": "p99", "column": "timeToFirstTokenMs"},
                                 {"type": "avg", "column": "interTokenLatencyMs"},
                                 {"type": "sum", "column": "costInUSD"}]}
    points = env.points(by_model)
    assert {"modelName", "p99TimeToFirstTokenMs", "avgInterTokenLatencyMs",
            "sumCostInUSD"} <= set(points[0])
    assert_same_points(points, expected_points(env.rows, by_model))
    by_virtual = {**by_model, "groupBy": ["virtualModel"], "filters": [virtual_side],
                  "aggregations": [{"type": "avg", "column": "timePerOutputTokenLatencyMs"}]}
    points = env.points(by_virtual)
    assert {p["virtualModel"] for p in points} == {"prod/chat-default", "prod/chat-fast"}
    assert_same_points(points, expected_points(env.rows, by_virtual))


def test_groupby_custom_metadata(env: Env) -> None:
    body = {**WINDOW, "datasource": "modelMetrics", "type": "distribution",
            "groupBy": ["metadata.telequery.gateway.provider_account_type"],
            "aggregations": [{"type": "sum", "column": "inputTokens"}]}
    points = env.points(body)
    assert {p["metadata.telequery.gateway.provider_account_type"] for p in points} >= {
        "openai", "anthropic"}
    assert_same_points(points, expected_points(env.rows, body))


def test_metadata_keys_take_the_string_operators(env: Env) -> None:
    base = {**WINDOW, "datasource": "mcpMetrics", "type": "distribution"}
    for op, value in (("EQUAL", "web-chat"), ("STRING_NOT_STARTS_WITH", "web"),
                      ("IN", ["cli", "web-chat"]), ("STRING_ENDS_WITH", "bot")):
        body = {**base, "filters": [{"metadataKey": "telequery.harness.name",
                                     "operator": op, "value": value}]}
        assert_same_points(env.points(body), expected_points(env.rows, body))
    for op in ("IS_NULL", "GREATER_THAN", "ARRAY_HAS_ANY", "BETWEEN"):
        r = env.post({**base, "filters": [{"metadataKey": "k", "operator": op,
                                           "value": ["a"]}]})
        assert r.status_code == 400
        assert r.json()["details"] == [f'Field "k" does not support operator "{op}"']
