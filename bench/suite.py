"""The query suite: what dashboards of each API ask most, as real request bodies.

Each ``SuiteQuery`` is one HTTP request (method, path, JSON body) plus ``core``: the same
request answered in-process by the API's own parser and query runner over a store. The
benchmark runs ``core`` over a recording store to capture exactly the SQL statements the
API sends to the engine, then times those statements directly (the ceiling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench.data import END, ORG, START

if TYPE_CHECKING:
    from telequery.store.base import Store

WO_PATH = f"/client/v4/accounts/{ORG}/workers/observability/telemetry/query"
GW_PATH = "/api/svc/v1/llm-gateway/metrics/query"
RP_PATH = "/api/v1/reports/query"

DAY_START = END - timedelta(days=1)
MID = START + (END - START) / 2


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


WEEK_MS = {"from": _ms(START), "to": _ms(END)}
DAY_MS = {"from": _ms(DAY_START), "to": _ms(END)}
WEEK_ISO = {"startTs": _iso(START), "endTs": _iso(END)}
WEEK_RFC = {"from": START.isoformat(), "to": END.isoformat()}


@dataclass(frozen=True)
class SuiteQuery:
    name: str
    api: str  # workers | gateway | reports
    description: str
    path: str
    body: dict[str, Any]
    small: bool = False  # the "< 10k rows" query (15 ms target)


def _workers_core(store: Store, body: dict[str, Any]) -> object:
    from telequery.api.workers import dispatch
    from telequery.api.workers.request import query_request

    return dispatch.run_view(store, query_request(body), ORG).body


def _gateway_core(store: Store, body: dict[str, Any]) -> object:
    from telequery.api.gateway.request import parse
    from telequery.query import engine

    return engine.run(store, parse(body).query, ORG).rows


def _reports_core(store: Store, body: dict[str, Any]) -> object:
    from telequery.api.reports.request import ReportQuery, to_query
    from telequery.api.reports.routes import _execute

    return _execute(store, to_query(ReportQuery.model_validate(body)), ORG)[0].rows


CORE: dict[str, Callable[[Store, dict[str, Any]], object]] = {
    "workers": _workers_core,
    "gateway": _gateway_core,
    "reports": _reports_core,
}


def _wo(
    view: str = "calculations", timeframe: dict[str, int] | None = None, **kw: Any
) -> dict[str, Any]:
    return {"queryId": "bench", "timeframe": timeframe or WEEK_MS, "view": view, **kw}


def suite(conversation: tuple[str, int, int] | None) -> list[SuiteQuery]:
    """The suite; ``conversation`` = (id, first ms, last ms) of one agent conversation."""
    q = [
        SuiteQuery(
            "wo.p99_duration_by_service_1d",
            "workers",
            "p99 of $metadata.duration by service over a day (aggregate + series)",
            WO_PATH,
            _wo(
                timeframe=DAY_MS,
                parameters={
                    "calculations": [
                        {"operator": "p99", "key": "$metadata.duration", "keyType": "number"}
                    ],
                    "groupBys": [{"type": "string", "value": "$metadata.service"}],
                },
            ),
        ),
        SuiteQuery(
            "wo.errors_hourly_7d",
            "workers",
            "count where level=error or statusCode>=500, timeseries, granularity 168, week",
            WO_PATH,
            _wo(
                chartType="timeseries",
                granularity=168,
                parameters={
                    "filters": [
                        {
                            "key": "$metadata.level",
                            "operation": "eq",
                            "value": "error",
                            "type": "string",
                        },
                        {
                            "key": "$metadata.statusCode",
                            "operation": "gte",
                            "value": 500,
                            "type": "number",
                        },
                    ],
                    "filterCombination": "or",
                    "calculations": [{"operator": "count"}],
                },
            ),
        ),
        SuiteQuery(
            "wo.needle_events_1d",
            "workers",
            "needle 'timeout' (case-insensitive, all fields), events view, limit 50, a day",
            WO_PATH,
            _wo("events", timeframe=DAY_MS, limit=50, parameters={"needle": {"value": "timeout"}}),
        ),
        SuiteQuery(
            "wo.uniq_users_by_agent_7d",
            "workers",
            "uniq $metadata.userId by $metadata.agentName over a week (aggregate)",
            WO_PATH,
            _wo(
                chartType="aggregate",
                parameters={
                    "calculations": [
                        {"operator": "uniq", "key": "$metadata.userId", "keyType": "string"}
                    ],
                    "groupBys": [{"type": "string", "value": "$metadata.agentName"}],
                },
            ),
        ),
        SuiteQuery(
            "gw.p95_latency_by_model_7d",
            "gateway",
            "modelMetrics distribution, p95 latencyMs by modelName, week",
            GW_PATH,
            {
                **WEEK_ISO,
                "datasource": "modelMetrics",
                "type": "distribution",
                "aggregations": [{"type": "p95", "column": "latencyMs"}],
                "groupBy": ["modelName"],
            },
        ),
        SuiteQuery(
            "gw.agent_count_hourly_7d",
            "gateway",
            "agentMetrics timeseries, 1 hour buckets, count by agentName, week",
            GW_PATH,
            {
                **WEEK_ISO,
                "datasource": "agentMetrics",
                "type": "timeseries",
                "interval": "1 hour",
                "aggregations": [{"type": "count", "column": "agentName"}],
                "groupBy": ["agentName"],
            },
        ),
        SuiteQuery(
            "rp.tokens_by_agent_day_7d",
            "reports",
            "llm_generations total_tokens by agent_name, day; week",
            RP_PATH,
            {
                "dataset": "llm_generations",
                "time_range": WEEK_RFC,
                "dimensions": ["agent_name", "day"],
                "measures": ["total_tokens"],
                "limit": 1000,
            },
        ),
        SuiteQuery(
            "rp.sessions_by_agent_7d",
            "reports",
            "sessions session_count, avg_duration_ms by agent_name; week",
            RP_PATH,
            {
                "dataset": "sessions",
                "time_range": WEEK_RFC,
                "dimensions": ["agent_name"],
                "measures": ["session_count", "avg_duration_ms"],
            },
        ),
    ]
    if conversation is not None:
        cid, lo, hi = conversation
        q.append(
            SuiteQuery(
                "wo.one_conversation",
                "workers",
                "events of one conversation (< 10k rows), its own 1-minute-padded window",
                WO_PATH,
                _wo(
                    "events",
                    timeframe={"from": lo - 60_000, "to": hi + 60_000},
                    limit=100,
                    parameters={
                        "filters": [
                            {
                                "key": "$metadata.conversationId",
                                "operation": "eq",
                                "value": cid,
                                "type": "string",
                            }
                        ]
                    },
                ),
                small=True,
            )
        )
    return q


def pick_conversation(store: Store) -> tuple[str, int, int] | None:
    """A deterministic conversation near the middle of the week: (id, first ms, last ms)."""
    from telequery.schema import Logical

    d = store.dialect
    values = {
        "org": (ORG, Logical.STRING),
        "lo": (MID, Logical.TIMESTAMP),
        "hi": (MID + timedelta(minutes=10), Logical.TIMESTAMP),
    }
    ph = {k: d.render(d.placeholder(k, logical)) for k, (_, logical) in values.items()}
    sql = (
        f"SELECT conversation_id, min(timestamp), max(timestamp) FROM events "
        f"WHERE org_id = {ph['org']} AND timestamp >= {ph['lo']} AND timestamp < {ph['hi']} "
        f"AND conversation_id IS NOT NULL GROUP BY conversation_id "
        f"ORDER BY conversation_id LIMIT 1"
    )
    params = {k: d.param_value(v, logical) for k, (v, logical) in values.items()}
    rows = store.execute(sql, params).rows
    if not rows:
        return None
    cid, first, last = rows[0]
    return cid, _ms_any(first), _ms_any(last)


def _ms_any(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)
