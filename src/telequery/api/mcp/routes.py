"""The MCP server: tools for agents, each a thin client of telequery's public APIs.

A tool call is made with the caller's own token against the same endpoints any client
uses (``/api/v1/query``, ``/api/v1/reports/query``, the Workers keys and values), so a
tool sees exactly what that token may see: tenancy is the APIs', by construction, and the
numbers are the APIs' numbers. Over HTTP (``/mcp``, Streamable HTTP, stateless) the
calls go in-process to the app; ``telequery mcp`` serves the same tools over stdio
against a server URL or a data directory (``build_server`` with another ``Api``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import httpx
import orjson
from mcp.server.fastmcp import Context, FastMCP
from pydantic import Field

from telequery.api.mcp import request as req
from telequery.api.mcp.errors import argument_error, from_answer
from telequery.api.mcp.response import span_tree, table
from telequery.query import all_datasets
from telequery.query import dataset as find_dataset

INSTRUCTIONS = """telequery holds this account's OpenTelemetry logs and spans (services,
workers, AI agents: LLM calls, tool calls, sessions, tokens, cost). Start with
list_datasets / describe_dataset and list_keys to learn the names, then query (the JSON IR),
search_events, get_trace, get_agent_run, top_errors, compare_periods or run_report.
Results are compact tables (columns once, then rows) and bounded: check `truncated`."""

Hours = Annotated[float, Field(description="look back this many hours (default 24, at most "
                                           "2160)", gt=0, le=2160)]


class Api:
    """How the tools reach telequery: its HTTP APIs, with the caller's token."""

    def __init__(self, client: httpx.AsyncClient,
                 token_of: Callable[[Context | None], str | None]) -> None:
        self.client = client
        self.token_of = token_of
        self._orgs: dict[str, str] = {}

    def _headers(self, ctx: Context | None) -> dict[str, str]:
        token = self.token_of(ctx)
        if not token:
            raise argument_error("authorization", "a bearer token with the query scope is "
                                                  "required")
        return {"authorization": f"Bearer {token}", "content-type": "application/json"}

    async def call(self, ctx: Context | None, method: str, path: str, argument: str,
                   body: object | None = None) -> Any:
        r = await self.client.request(method, path, headers=self._headers(ctx),
                                      content=None if body is None else orjson.dumps(body),
                                      timeout=60)
        try:
            answer = r.json()
        except ValueError:
            answer = {"detail": r.text[:300]}
        if r.status_code >= 400:
            raise from_answer(argument, r.status_code, answer)
        return answer

    async def org(self, ctx: Context | None) -> str:
        """The token's org (for the APIs whose paths name it)."""
        key = hashlib.sha256(self._headers(ctx)["authorization"].encode()).hexdigest()
        if key not in self._orgs:
            self._orgs[key] = (await self.call(ctx, "GET", "/api/v1/whoami", "authorization")
                               )["org"]
        return self._orgs[key]

    async def query(self, ctx: Context | None, ir: dict[str, Any], argument: str
                    ) -> dict[str, Any]:
        return await self.call(ctx, "POST", "/api/v1/query", argument, req.ir_query(ir))

    async def workers(self, ctx: Context | None, path: str, body: dict, argument: str
                      ) -> Any:
        org = await self.org(ctx)
        answer = await self.call(ctx, "POST", f"/client/v4/accounts/{org}/workers/"
                                              f"observability{path}", argument, body)
        return answer["result"]


def _rows(answer: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return answer["columns"], answer["rows"]


def _compact(fn: Callable[..., Awaitable[dict[str, Any]]]) -> Callable[..., Awaitable[str]]:
    """A tool's result as compact JSON text (no indentation: a model pays per token)."""
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> str:
        return orjson.dumps(await fn(*args, **kwargs), default=str).decode()
    return wrapper


def build_server(api: Api) -> FastMCP:
    """The tools, over ``api``."""
    from mcp.server.transport_security import TransportSecuritySettings

    server = FastMCP("telequery", instructions=INSTRUCTIONS, stateless_http=True,
                     json_response=True, streamable_http_path="/mcp",
                     # every request carries a bearer token checked by the app; the
                     # server is meant to be reached under other host names too
                     transport_security=TransportSecuritySettings(
                         enable_dns_rebinding_protection=False))

    def tool(fn: Callable[..., Awaitable[dict[str, Any]]]) -> Callable[..., Awaitable[str]]:
        return server.tool(structured_output=False)(_compact(fn))

    @tool
    async def list_datasets() -> dict[str, Any]:
        """The datasets this account can query (events, traces, agent runs, sessions,
        LLM generations, tool calls, gateway metrics...), with what each row is."""
        rows = [[name, ds.description.split("\n")[0][:200], ds.time_column]
                for name, ds in sorted(all_datasets().items())]
        return table(["dataset", "description", "time_column"], rows)

    @tool
    async def describe_dataset(
            name: Annotated[str, Field(description="a dataset from list_datasets")]
    ) -> dict[str, Any]:
        """A dataset's fields (type, allowed filter operators, whether it can be grouped by)
        and named measures, the names the query tool takes. Attribute keys (list_keys)
        are fields of `events` too."""
        try:
            ds = find_dataset(req.text(name, "name"))
        except Exception:
            raise argument_error("name", f"unknown dataset {name!r}; see list_datasets"
                                 ) from None
        rows = [[f.name, f.type.value, sorted(op.value for op in f.allowed_ops), f.groupable,
                 f.description[:160]] for f in ds.fields.values()
                if not f.name.startswith("__")]
        return table(["field", "type", "operators", "groupable", "description"], rows,
                     max_rows=500, dataset=ds.name, measures=sorted(ds.measures),
                     aggregations=["count", "sum", "avg", "min", "max", "uniq", "median",
                                   "p50", "p90", "p95", "p99", "stddev", "variance"])

    @tool
    async def list_keys(ctx: Context, since_hours: Hours = 24,
                        contains: Annotated[str | None, Field(
                            description="only keys containing this text")] = None,
                        limit: Annotated[int, Field(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """Attribute keys seen in the window (e.g. user.id, http.route, gen_ai.request.model)
        with their type and when last seen; use them as fields in filters and group-bys."""
        w = req.window(since_hours)
        body: dict[str, Any] = {"from": w["from"], "to": w["to"], "limit": limit}
        if contains:
            body["keyNeedle"] = {"value": contains}
        result = await api.workers(ctx, "/telemetry/keys", body, "list_keys")
        return table(["key", "type", "last_seen_ms"],
                     [[k["key"], k["type"], k.get("lastSeenAt")] for k in result],
                     max_rows=limit)

    @tool
    async def list_values(ctx: Context,
                          key: Annotated[str, Field(description="a field or attribute key")],
                          type: Literal["string", "number", "boolean"] = "string",
                          since_hours: Hours = 24,
                          limit: Annotated[int, Field(ge=1, le=1000)] = 50) -> dict[str, Any]:
        """The values a key takes in the window, most frequent first."""
        w = req.window(since_hours)
        result = await api.workers(ctx, "/telemetry/values", {
            "key": req.text(key, "key"), "type": type, "datasets": [], "limit": limit,
            "timeframe": {"from": w["from"], "to": w["to"]}}, "list_values")
        return table(["value"], [[v["value"]] for v in result], max_rows=limit, key=key)

    @tool
    async def query(ctx: Context, query: Annotated[dict[str, Any], Field(description=(
            'telequery\'s JSON IR: {"dataset": "events", "from": <ISO or epoch ms>, "to": '
            '..., "measures": [{"agg": "p99", "field": "$metadata.duration"}], '
            '"group_by": ["$metadata.service"], "filter": {"and": [{"field": '
            '"$metadata.level", "op": "eq", "value": "error"}]}, "bucket": '
            '{"interval_seconds": 3600}, "order_by": [{"key": "p99", "desc": true}], '
            '"limit": 10, "compare": true}. Without from/to: the last 24 hours.'))]
            ) -> dict[str, Any]:
        """Run any query over any dataset: aggregates, group-bys, time series (bucket),
        filters, needle search and comparison with the previous period."""
        answer = await api.query(ctx, query, "query")
        extra: dict[str, Any] = {}
        if answer.get("previous"):
            extra["previous"] = answer["previous"]
        return table(*_rows(answer), **extra)

    @tool
    async def run_report(ctx: Context, report: Annotated[dict[str, Any], Field(description=(
            'a Reports query: {"dataset": "llm_generations", "time_range": {"from": '
            '"2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, "dimensions": '
            '["model"], "measures": ["total_tokens"], "filters": [{"field": "agent", '
            '"op": "eq", "value": "support"}], "limit": 20} (GET /api/v1/reports/catalog '
            'lists datasets, dimensions and measures)'))]) -> dict[str, Any]:
        """Run a Reports query: sessions, turns, LLM generations, tool calls and budget
        postings by dimension, with named measures (tokens, cost, durations, counts)."""
        answer = await api.call(ctx, "POST", "/api/v1/reports/query", "report", report)
        columns = [c["name"] if isinstance(c, dict) else c for c in answer.get("columns", [])]
        rows = answer.get("rows", [])
        if rows and isinstance(rows[0], dict):
            rows = [[r.get(c) for c in columns] for r in rows]
        return table(columns, rows, freshness_lag_ms=answer.get("freshness_lag_ms"))

    @tool
    async def search_events(ctx: Context,
                            needle: Annotated[str | None, Field(
                                description="text to find in messages, errors and "
                                            "attributes (case-insensitive)")] = None,
                            filters: Annotated[list[dict[str, Any]] | None, Field(
                                description='conditions ANDed: [{"field": '
                                            '"$metadata.service", "op": "eq", "value": '
                                            '"api"}]')] = None,
                            since_hours: Hours = 24,
                            limit: Annotated[int, Field(ge=1, le=200)] = 20,
                            offset: Annotated[int, Field(ge=0, le=100_000)] = 0
                            ) -> dict[str, Any]:
        """Find events (logs and spans), newest first, a page at a time (offset)."""
        ir: dict[str, Any] = {"dataset": "events", **req.window(since_hours),
                              "select": req.EVENT_COLUMNS, "limit": limit + 1,
                              "offset": offset}
        if needle:
            ir["needle"] = {"value": needle}
        if (flt := req.all_of(extra=filters)) is not None:
            ir["filter"] = flt
        columns, rows = _rows(await api.query(ctx, ir, "filters"))
        return table(columns, rows[:limit], max_rows=limit, more=len(rows) > limit,
                     offset=offset, next_offset=offset + limit if len(rows) > limit else None)

    async def _trace(ctx: Context, trace_id: str, since_hours: float) -> dict[str, Any]:
        ir = {"dataset": "events", **req.window(since_hours, "since_hours"),
              "select": req.SPAN_COLUMNS, "limit": 5000,
              "filter": req.all_of(req.eq("$metadata.traceId", trace_id),
                                   req.eq("$metadata.type", "span"))}
        return span_tree(*_rows(await api.query(ctx, ir, "trace_id")))

    @tool
    async def get_trace(ctx: Context,
                        trace_id: Annotated[str, Field(description="32 hex characters")],
                        since_hours: Hours = 168) -> dict[str, Any]:
        """A trace's spans as a tree: depth-first rows with their depth, offset from the
        trace start, duration, status, error, and model/tokens/cost on LLM spans."""
        tree = await _trace(ctx, req.text(trace_id, "trace_id"), since_hours)
        if not tree["rows"]:
            raise argument_error("trace_id", f"no spans of trace {trace_id!r} in the last "
                                             f"{since_hours:g} hours")
        return tree

    @tool
    async def get_agent_run(ctx: Context,
                            run_id: Annotated[str, Field(
                                description="an agent run id (agent_runs.id) or its trace "
                                            "id")],
                            since_hours: Hours = 168) -> dict[str, Any]:
        """One agent run: its summary (agent, status, models, tokens, cost, duration) and
        its spans as a tree (LLM calls, tool calls)."""
        run_id = req.text(run_id, "run_id")
        w = req.window(since_hours)
        found = None
        for field in ("id", "traceId"):
            answer = await api.query(ctx, {"dataset": "agent_runs", **w, "limit": 1,
                                           "filter": req.all_of(req.eq(field, run_id))},
                                     "run_id")
            if answer["rows"]:
                found = dict(zip(answer["columns"], answer["rows"][0], strict=True))
                break
        if found is None:
            raise argument_error("run_id", f"no agent run {run_id!r} in the last "
                                           f"{since_hours:g} hours")
        tree = await _trace(ctx, str(found["traceId"]), since_hours)
        return {"run": table(list(found), [list(found.values())]), "spans": tree}

    @tool
    async def top_errors(ctx: Context, since_hours: Hours = 24,
                         service: Annotated[str | None, Field(
                             description="only this service")] = None,
                         limit: Annotated[int, Field(ge=1, le=50)] = 10) -> dict[str, Any]:
        """The most frequent error patterns (variable parts replaced by <*>) of error
        spans and error/fatal logs, with their count, services and one example."""
        errors = {"or": [req.eq("$metadata.status", "error"),
                         {"field": "$metadata.level", "op": "in",
                          "value": ["error", "fatal"]}]}
        scope = req.all_of(errors, req.eq("$metadata.service", service) if service else None)
        w = req.window(since_hours)
        answer = await api.query(ctx, {
            "dataset": "events", **w, "filter": scope, "limit": limit,
            "measures": [{"agg": "count", "alias": "count"},
                         {"agg": "uniq", "field": "$metadata.service", "alias": "services"}],
            "group_by": ["$metadata.errorTemplate"],
            "order_by": [{"key": "count", "desc": True}]}, "filters")
        rows = []
        for template, count, services in answer["rows"]:
            example = await api.query(ctx, {
                "dataset": "events", **w, "limit": 1, "select": req.EVENT_COLUMNS,
                "filter": req.all_of(scope, req.eq("$metadata.errorTemplate", template)
                                     if template is not None else
                                     {"field": "$metadata.errorTemplate", "op": "is_null"})},
                "filters")
            first = dict(zip(example["columns"], example["rows"][0], strict=True)) \
                if example["rows"] else {}
            rows.append([template, count, services, first.get("$metadata.service"),
                         first.get("$metadata.error") or first.get("$metadata.message"),
                         first.get("$metadata.traceId"), first.get("$metadata.startTime")])
        return table(["pattern", "count", "services", "example_service", "example",
                      "example_trace_id", "example_time_ms"], rows, max_rows=limit)

    @tool
    async def compare_periods(ctx: Context,
                              agg: Annotated[str, Field(
                                  description="count, sum, avg, p50, p95, p99, uniq...")
                              ] = "count",
                              field: Annotated[str | None, Field(
                                  description="the measured field (not for count)")] = None,
                              group_by: Annotated[list[str] | None, Field(
                                  description='e.g. ["$metadata.service"]')] = None,
                              dataset: Annotated[str, Field(
                                  description="a dataset from list_datasets")] = "events",
                              filters: Annotated[list[dict[str, Any]] | None, Field(
                                  description="conditions ANDed, as in search_events")
                              ] = None,
                              since_hours: Hours = 24,
                              limit: Annotated[int, Field(ge=1, le=200)] = 20
                              ) -> dict[str, Any]:
        """A measure in the last `since_hours` against the period just before, by group,
        with the change in percent (only where the previous value is not zero)."""
        measure: dict[str, Any] = {"agg": agg, "alias": "value"}
        if field:
            measure["field"] = field
        ir: dict[str, Any] = {"dataset": dataset, **req.window(since_hours),
                              "measures": [measure], "group_by": group_by or [],
                              "limit": limit, "compare": True,
                              "order_by": [{"key": "value", "desc": True}]}
        if (flt := req.all_of(extra=filters)) is not None:
            ir["filter"] = flt
        answer = await api.query(ctx, ir, "arguments")
        groups = len(group_by or [])
        before = {tuple(r[:groups]): r[groups] for r in (answer.get("previous") or {}
                                                         ).get("rows", [])}
        rows = []
        for r in answer["rows"]:
            now, prev = r[groups], before.get(tuple(r[:groups]))
            change = (round((now - prev) / prev * 100, 2)
                      if isinstance(now, (int, float)) and prev else None)
            rows.append([*r[:groups], now, prev, change])
        return table([*(group_by or []), "now", "previous", "change_pct"], rows,
                     max_rows=limit)

    return server
