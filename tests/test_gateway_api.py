"""Gateway metrics API over a live server: every datasource, type, aggregation and
grouping, checked against an independent computation over the same stored rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from test_gateway_common import (
    ENGINE_PARAMS,
    WINDOW,
    Env,
    assert_same_points,
    expected_points,
    open_env,
)

DATASOURCES = ("agentMetrics", "modelMetrics", "mcpMetrics", "guardrailMetrics",
               "cacheMetrics", "configMetrics")
MAIN_GROUP = {"agentMetrics": "agentName", "modelMetrics": "modelName",
              "mcpMetrics": "mcpServerName", "guardrailMetrics": "guardrailName",
              "cacheMetrics": "modelName", "configMetrics": "ruleId"}
STRING_COLUMN = {"agentMetrics": "agentFramework", "modelMetrics": "provider",
                 "mcpMetrics": "toolName", "guardrailMetrics": "guardrailResult",
                 "cacheMetrics": "cacheType", "configMetrics": "targetModel"}
ALL_AGGS = ("count", "countDistinct", "sum", "avg", "min", "max", "p50", "p75", "p90",
            "p95", "p99")


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    with open_env(request.param, tmp_path_factory.mktemp(f"gateway-{request.param}")) as e:
        yield e


@pytest.mark.parametrize("datasource", DATASOURCES)
def test_distribution_every_aggregation(env: Env, datasource: str) -> None:
    numeric = "costInUSD" if datasource == "modelMetrics" else "latencyMs"
    body = {**WINDOW, "datasource": datasource, "type": "distribution",
            "groupBy": [MAIN_GROUP[datasource]],
            "aggregations": [{"type": t, "column": numeric} for t in ALL_AGGS] + [
                {"type": "count", "column": STRING_COLUMN[datasource]},
                {"type": "countDistinct", "column": "conversationID"},
                {"type": "min", "column": STRING_COLUMN[datasource]},
                {"type": "sum", "column": "isFailure"},
                {"type": "avg", "column": "isFailure"}]}
    got = env.points(body)
    assert got and all("startTimestamp" not in p for p in got)
    assert_same_points(got, expected_points(env.rows, body))
    # Keys follow <type><Column>; total is always present.
    assert {"total", f"p99{numeric[0].upper()}{numeric[1:]}", "countDistinctConversationID",
            "sumIsFailure"} <= set(got[0])


def test_model_metrics_tokens_cost_ttft(env: Env) -> None:
    body = {**WINDOW, "datasource": "modelMetrics", "type": "distribution",
            "groupBy": ["provider", "requestType"],
            "aggregations": [{"type": "sum", "column": "inputTokens"},
                             {"type": "sum", "column": "outputTokens"},
                             {"type": "sum", "column": "costInUSD"},
                             {"type": "p50", "column": "timeToFirstTokenMs"},
                             {"type": "avg", "column": "outputTokens"}]}
    got = env.points(body)
    assert_same_points(got, expected_points(env.rows, body))
    weighted = expected_points(env.rows, {**body, "filters": [
        {"fieldName": "modelName", "operator": "EQUAL", "value": "weighted-model"}]})
    assert weighted[0]["total"] == 2 and weighted[0]["sumInputTokens"] == 2000


@pytest.mark.parametrize("datasource", DATASOURCES)
@pytest.mark.parametrize("interval,step", [("6 hours", 21_600), ("7 hour", 25_200)])
def test_timeseries(env: Env, datasource: str, interval: str, step: int) -> None:
    body = {**WINDOW, "datasource": datasource, "type": "timeseries", "interval": interval,
            "groupBy": [MAIN_GROUP[datasource]],
            "aggregations": [{"type": "p90", "column": "latencyMs"},
                             {"type": "count", "column": MAIN_GROUP[datasource]}]}
    got = env.points(body)
    assert_same_points(got, expected_points(env.rows, body, step_s=step))
    starts = sorted({p["startTimestamp"] for p in got})
    ends = {p["startTimestamp"]: p["endTimestamp"] for p in got}
    for a, b in itertools.pairwise(starts):
        assert ends[a] == b  # a bucket ends where the next starts
    assert all(p["startTimestamp"].endswith(".000Z") for p in got)


def test_timeseries_without_groups_is_one_series(env: Env) -> None:
    body = {**WINDOW, "datasource": "agentMetrics", "type": "timeseries",
            "interval": "1 day", "aggregations": [{"type": "max", "column": "latencyMs"}]}
    got = env.points(body)
    assert [p["startTimestamp"] for p in got] == [
        "2026-03-31T00:00:00.000Z", "2026-04-01T00:00:00.000Z", "2026-04-02T00:00:00.000Z"]
    assert_same_points(got, expected_points(env.rows, body, step_s=86_400))


def test_interval_spellings_agree(env: Env) -> None:
    base = {**WINDOW, "datasource": "mcpMetrics", "type": "timeseries",
            "groupBy": ["toolName"], "aggregations": [{"type": "p50", "column": "latencyMs"}]}
    hourly = env.points({**base, "interval": "1 hour"})
    assert len({p["startTimestamp"] for p in hourly}) == 48
    for variant in ({"interval": "1 hours"}, {"interval": "60 minutes"},
                    {"interval": "3600 second"}, {"intervalInSeconds": 3600},
                    {"interval": " 1  HOUR "}):
        assert env.points({**base, **variant}) == hourly, variant
    weekly = env.points({**base, "interval": "1 week"})
    assert_same_points(weekly, expected_points(env.rows, {**base, "interval": "1 week"},
                                               step_s=604_800))


def test_calendar_months(env: Env) -> None:
    body = {**WINDOW, "datasource": "modelMetrics", "type": "timeseries",
            "interval": "1 month", "groupBy": ["provider"],
            "aggregations": [{"type": "sum", "column": "costInUSD"},
                             {"type": "p95", "column": "latencyMs"}]}
    got = env.points(body)
    assert {(p["startTimestamp"], p["endTimestamp"]) for p in got} == {
        ("2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"),
        ("2026-04-01T00:00:00.000Z", "2026-05-01T00:00:00.000Z")}
    assert_same_points(got, expected_points(env.rows, body, months=1))
    two = {**body, "interval": "2 months", "groupBy": []}
    got2 = env.points(two)
    assert [(p["startTimestamp"], p["endTimestamp"]) for p in got2] == [
        ("2026-03-01T00:00:00.000Z", "2026-05-01T00:00:00.000Z")]
    assert_same_points(got2, expected_points(env.rows, two, months=2))


def test_group_naming_subject_team_and_null_bucket(env: Env) -> None:
    base = {**WINDOW, "datasource": "agentMetrics", "type": "distribution"}
    by_email = env.points({**base, "groupBy": ["userEmail"]})
    by_va = env.points({**base, "groupBy": ["virtualaccount"]})
    assert by_email == by_va and all(set(p) == {"createdBySubjectSlug", "total"}
                                     for p in by_email)
    assert_same_points(by_email, expected_points(env.rows, {**base, "groupBy": ["userEmail"]}))
    subjects = {p["createdBySubjectSlug"] for p in by_email}
    assert any(s and "@" not in s for s in subjects)  # virtual accounts are subjects too

    teams = env.points({**base, "groupBy": ["team"],
                        "aggregations": [{"type": "avg", "column": "latencyMs"}]})
    assert all(isinstance(p["team"], str) or p["team"] is None for p in teams)
    assert {"weighted-team", "shared"} <= {p["team"] for p in teams}
    assert_same_points(teams, expected_points(env.rows, {**base, "groupBy": ["team"],
                       "aggregations": [{"type": "avg", "column": "latencyMs"}]}))

    agents = env.points({**base, "groupBy": ["agentName", "isFailure", "httpStatusCode"]})
    assert_same_points(agents, expected_points(
        env.rows, {**base, "groupBy": ["agentName", "isFailure", "httpStatusCode"]}))
    non_agent = [p for p in agents if p["agentName"] is None]
    assert non_agent and sum(p["total"] for p in non_agent) > 0  # non-agent traffic kept
    assert any(p["agentName"] == "weighted-agent" and p["total"] == 3 and
               p["isFailure"] is True and p["httpStatusCode"] == 503 for p in agents)


def test_filters_combine_and_metadata(env: Env) -> None:
    body = {**WINDOW, "datasource": "agentMetrics", "type": "distribution",
            "groupBy": ["agentServerType"],
            "aggregations": [{"type": "p75", "column": "latencyMs"}],
            "filters": [
                {"fieldName": "agentName", "operator": "STRING_CONTAINS", "value": "-"},
                {"fieldName": "latencyMs", "operator": "BETWEEN", "value": [100, 60000]},
                {"fieldName": "team", "operator": "ARRAY_HAS_NONE", "value": ["payments"]},
                {"metadataKey": "telequery.harness.name", "operator": "NOT_EQUAL",
                 "value": "web-chat"}]}
    got = env.points(body)
    assert got
    assert_same_points(got, expected_points(env.rows, body))
    meta = {**body, "filters": [{"metadataKey": "telequery.harness.name",
                                 "operator": "IN", "value": ["cli", "slack-bot"]}]}
    assert_same_points(env.points(meta), expected_points(env.rows, meta))


@pytest.mark.parametrize("datasource", DATASOURCES)
def test_tenancy(env: Env, datasource: str) -> None:
    body = {**WINDOW, "datasource": datasource, "type": "distribution",
            "groupBy": [MAIN_GROUP[datasource], "conversationID"]}
    mine = env.points(body)
    assert_same_points(mine, expected_points(env.rows, body))
    values = {v for p in mine for v in p.values() if isinstance(v, str)}
    assert not any("intruder" in v for v in values)
    other_conversations = {r["conversation_id"] for r in env.other_rows} - {None}
    assert not values & other_conversations
    theirs = env.points(body, token=env.other_token)
    assert_same_points(theirs, expected_points(env.other_rows, body))
    assert any("intruder" in str(p[MAIN_GROUP[datasource]]) for p in theirs)


def test_month_bucket_sql_per_dialect() -> None:
    """Golden SQL: calendar-month buckets are built per dialect, never transpiled."""
    from sqlglot import exp

    from telequery.dialect import ClickHouseDialect, DuckDBDialect

    ts = exp.column("timestamp", quoted=True)
    assert DuckDBDialect().render(DuckDBDialect().month_bucket(ts, 3)) == (
        '(((YEAR("timestamp") - 1970) * 12 + MONTH("timestamp") - 1) // 3) * 3')
    assert ClickHouseDialect().render(ClickHouseDialect().month_bucket(ts, 3)) == (
        'intDiv(toRelativeMonthNum("timestamp") - 23641, 3) * 3')
