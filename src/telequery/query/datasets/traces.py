"""``traces`` and ``agent_runs``: one row per trace / per agent run, rolled up from spans.

Both are derived datasets (``Dataset.derive``): a GROUP BY subquery over the spans the
compiler has already scoped to the org, the time range and the requested datasets. So a
trace (or run) that straddles the window is summarised from its spans inside it.

- A **trace** is every span with one ``trace_id``. Its root is the span without a parent;
  when the root never arrived (dropped, still in flight) the earliest span stands in for
  it, so such a trace is still listed (``hasRoot`` false).
- An **agent run** follows the OTel GenAI conventions (``gen_ai.operation.name``): one
  ``invoke_agent`` span plus its direct children with a GenAI operation (``chat``,
  ``execute_tool``, ...), which link to it through ``parent_span_id``. The run key is
  (trace_id, the invoke_agent span id); a child's key is its parent span id. When the
  invoke_agent span is missing, its children still form a run if they carry
  ``gen_ai.agent.name`` or ``gen_ai.agent.id`` (agent-less LLM calls do not).
  A run failed when any of its spans ended in error.

Both use a time-sortable id as the paging key: the smallest event id of their spans
(event ids start with the start time in hex), so ``ORDER BY id`` is newest-first by start
and a cursor is one comparison. Derived columns carry an ``r_`` prefix so no alias
shadows an ``events`` column (ClickHouse resolves aliases query-wide).
"""

from __future__ import annotations

from sqlglot import exp

from telequery import semconv as sc
from telequery.dialect import Dialect, Params, lit
from telequery.query.catalog import Builder, Dataset, Field, col
from telequery.query.ir import ValueType

PAGING_FIELD = "firstEventId"  # the paging key of both datasets (see module docstring)


def _c(name: str) -> exp.Expression:
    return exp.column(name, quoted=True)


def _a(e: exp.Expression, name: str) -> exp.Expression:
    return exp.alias_(e, name, quoted=True)


def _eq(column: str, value: str) -> exp.Expression:
    return exp.EQ(this=_c(column), expression=lit(value))


def _null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=e, expression=exp.null())


def _not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=_null(e))


def _when(cond: exp.Expression, value: exp.Expression) -> exp.Expression:
    """``CASE WHEN cond THEN value END`` (NULL otherwise)."""
    return exp.Case(ifs=[exp.If(this=cond, true=value)])


def _flag(cond: exp.Expression) -> exp.Expression:
    return exp.If(this=cond, true=lit(1), false=lit(0))


def _span_times(d: Dialect) -> dict[str, exp.Expression]:
    """First start, last end and the duration between them (ms) of a group of spans."""
    start = exp.Min(this=_c("timestamp"))
    end = exp.Max(this=exp.Coalesce(this=_c("end_time"), expressions=[_c("timestamp")]))
    duration = exp.Div(this=exp.paren(exp.Sub(this=d.epoch_us(end.copy()),
                                              expression=d.epoch_us(start.copy()))),
                       expression=lit(1000.0))
    return {"r_start": start, "r_end": end, "r_duration_ms": duration}


def _spans_where(where: exp.Expression) -> exp.Expression:
    return exp.and_(where, _eq("kind", "span"), _not_null(_c("trace_id")))


# -- traces -------------------------------------------------------------------------------
def _derive_traces(d: Dialect, p: Params, where: exp.Expression) -> exp.Select:
    ts = _c("timestamp")
    is_root = _null(_c("parent_span_id"))
    root_key = _when(is_root, ts.copy())

    def root_or_first(value: exp.Expression) -> exp.Expression:
        """The value on the root span; without a root, on the earliest span."""
        return exp.Coalesce(this=d.arg_min(value, root_key.copy()),
                            expressions=[d.arg_min(value.copy(), ts.copy())])

    route = d.map_get(_c("attrs_string"), lit(sc.HTTP_ROUTE))
    cols = {
        "r_trace": _c("trace_id"),
        "r_first_id": exp.Min(this=_c("id")),
        "r_root_span": root_or_first(_c("span_id")),
        "r_root_name": root_or_first(_c("span_name")),
        # The logical transaction: the root's http.route when it has one, else its name.
        "r_root_txn": root_or_first(exp.Coalesce(this=route, expressions=[_c("span_name")])),
        "r_has_root": exp.Max(this=_flag(is_root.copy())),
        "r_services": d.distinct_list(_c("service")),
        "r_spans": exp.Count(this=exp.Star()),
        "r_errors": d.distinct_list(_when(_eq("status", "error"), _c("error"))),
        **_span_times(d),
    }
    return exp.select(*[_a(e, n) for n, e in cols.items()]).from_(exp.to_table("events")) \
        .where(_spans_where(where)).group_by(_c("trace_id"))


def _f(name: str, type_: ValueType, build: Builder, description: str) -> Field:
    return Field(name, type_, build, description=description,
                 groupable=type_ is not ValueType.ARRAY)


def _floor_ms(column: str) -> Builder:
    return lambda d, p: d.epoch_ms_floor(_c(column))


def _ceil_ms(column: str) -> Builder:
    return lambda d, p: d.epoch_ms_ceil(_c(column))


def _common_fields() -> list[Field]:
    return [
        _f("traceId", ValueType.STRING, col("r_trace"), "W3C trace id"),
        # Whole ms outward (start down, end up), so [traceStartMs, traceEndMs + 1) as a
        # window holds every span: rounded, a span 0.4 ms before the start fell outside.
        _f("traceStartMs", ValueType.NUMBER, _floor_ms("r_start"),
           "first span start (epoch ms, rounded down)"),
        _f("traceEndMs", ValueType.NUMBER, _ceil_ms("r_end"),
           "last span end (epoch ms, rounded up)"),
        _f("traceDurationMs", ValueType.NUMBER, col("r_duration_ms"),
           "last span end - first span start (ms)"),
        _f("spans", ValueType.NUMBER, col("r_spans"), "number of spans"),
        _f("errors", ValueType.ARRAY, col("r_errors"),
           "distinct error messages of spans that ended in error"),
        _f(PAGING_FIELD, ValueType.STRING, col("r_first_id"),
           "smallest event id of the spans: sorts by start; the paging key"),
    ]


TRACE_FIELDS: dict[str, Field] = {f.name: f for f in [
    *_common_fields(),
    _f("rootSpanId", ValueType.STRING, col("r_root_span"), "root span id (or earliest span)"),
    _f("rootSpanName", ValueType.STRING, col("r_root_name"),
       "root span name; the earliest span's when the root is missing"),
    _f("rootTransactionName", ValueType.STRING, col("r_root_txn"),
       "http.route of the root span, else its name"),
    _f("hasRoot", ValueType.BOOLEAN, lambda d, p: exp.EQ(this=_c("r_has_root"),
                                                           expression=lit(1)),
       "whether a span without parent arrived"),
    _f("service", ValueType.ARRAY, col("r_services"), "distinct services of the spans"),
]}

TRACES = Dataset(
    name="traces",
    fields=TRACE_FIELDS,
    derive=_derive_traces,
    time_column="r_start",
    weight=None,
    description="one row per trace (spans grouped by trace_id)",
)


# -- agent runs ---------------------------------------------------------------------------
def _run_key() -> exp.Expression:
    """The invoke_agent span id of the run a span belongs to (NULL: not in a run)."""
    return exp.Case(ifs=[
        exp.If(this=_eq("operation", sc.OP_INVOKE_AGENT), true=_c("span_id")),
        exp.If(this=_not_null(_c("operation")), true=_c("parent_span_id")),
    ])


def _derive_runs(d: Dialect, p: Params, where: exp.Expression) -> exp.Select:
    ts = _c("timestamp")
    is_agent = _eq("operation", sc.OP_INVOKE_AGENT)
    is_chat = _eq("operation", sc.OP_CHAT)

    def earliest(column: str) -> exp.Expression:
        """From the earliest span of the run that carries one (the invoke_agent span)."""
        return d.arg_min(_c(column), _when(_not_null(_c(column)), ts.copy()))

    def chat_sum(column: str) -> exp.Expression:
        return exp.Sum(this=_when(is_chat.copy(), _c(column)))

    failed = exp.EQ(this=exp.Max(this=_flag(_eq("status", "error"))), expression=lit(1))
    key = _run_key()
    cols = {
        "r_trace": _c("trace_id"),
        "r_run": key,
        "r_first_id": exp.Min(this=_c("id")),
        "r_has_agent_span": exp.Max(this=_flag(is_agent.copy())),
        "r_status": exp.If(this=failed, true=lit("error"), false=lit("completed")),
        "r_errors": d.distinct_list(_when(_eq("status", "error"), _c("error"))),
        "r_models": d.distinct_list(_c("model")),
        "r_providers": d.distinct_list(_c("provider")),
        "r_services": d.distinct_list(_c("service")),
        "r_spans": exp.Count(this=exp.Star()),
        "r_agent_id": earliest("agent_id"),
        "r_agent_name": earliest("agent_name"),
        "r_conversation": earliest("conversation_id"),
        "r_input_tokens": chat_sum("input_tokens"),
        "r_output_tokens": chat_sum("output_tokens"),
        "r_cache_read_tokens": exp.Sum(this=_when(is_chat.copy(), d.map_get(
            _c("attrs_number"), lit(sc.GEN_AI_CACHE_READ_TOKENS)))),
        "r_cost": exp.Sum(this=_c("cost")),
        "r_llm_calls": exp.Sum(this=_flag(is_chat.copy())),
        "r_tool_calls": exp.Sum(this=_flag(_eq("operation", sc.OP_EXECUTE_TOOL))),
        "r_user": earliest("user_id"),
        **_span_times(d),
    }
    is_run = exp.or_(
        exp.GT(this=exp.Max(this=_flag(is_agent.copy())), expression=lit(0)),
        exp.GT(this=exp.Count(this=_c("agent_name")), expression=lit(0)),
        exp.GT(this=exp.Count(this=_c("agent_id")), expression=lit(0)))
    return exp.select(*[_a(e, n) for n, e in cols.items()]).from_(exp.to_table("events")) \
        .where(exp.and_(_spans_where(where), _not_null(key.copy()))) \
        .group_by(_c("trace_id"), key.copy()).having(is_run)


RUN_FIELDS: dict[str, Field] = {f.name: f for f in [
    *_common_fields(),
    _f("id", ValueType.STRING, col("r_first_id"), "run id: its smallest event id (cursor)"),
    _f("runSpanId", ValueType.STRING, col("r_run"), "span id of the invoke_agent span"),
    _f("hasAgentSpan", ValueType.BOOLEAN,
       lambda d, p: exp.EQ(this=_c("r_has_agent_span"), expression=lit(1)),
       "whether the invoke_agent span arrived"),
    _f("status", ValueType.STRING, col("r_status"), "completed | error"),
    _f("models", ValueType.ARRAY, col("r_models"), "distinct gen_ai models"),
    _f("providers", ValueType.ARRAY, col("r_providers"), "distinct gen_ai providers"),
    _f("services", ValueType.ARRAY, col("r_services"), "distinct services"),
    _f("agentId", ValueType.STRING, col("r_agent_id"), "gen_ai.agent.id (earliest span)"),
    _f("agentName", ValueType.STRING, col("r_agent_name"), "gen_ai.agent.name (earliest span)"),
    _f("conversationId", ValueType.STRING, col("r_conversation"),
       "gen_ai.conversation.id (earliest span)"),
    _f("inputTokens", ValueType.NUMBER, col("r_input_tokens"),
       "gen_ai.usage.input_tokens summed over chat spans"),
    _f("outputTokens", ValueType.NUMBER, col("r_output_tokens"),
       "gen_ai.usage.output_tokens summed over chat spans"),
    _f("cacheReadTokens", ValueType.NUMBER, col("r_cache_read_tokens"),
       "gen_ai.usage.cache_read_input_tokens summed over chat spans"),
    _f("cost", ValueType.NUMBER, col("r_cost"),
       "USD: gen_ai.usage.cost (provided or priced at ingest) summed over the run's spans"),
    _f("llmCalls", ValueType.NUMBER, col("r_llm_calls"), "chat spans of the run"),
    _f("toolCalls", ValueType.NUMBER, col("r_tool_calls"), "execute_tool spans of the run"),
    _f("userId", ValueType.STRING, col("r_user"), "user.id (earliest span that has one)"),
]}

AGENT_RUNS = Dataset(
    name="agent_runs",
    fields=RUN_FIELDS,
    derive=_derive_runs,
    time_column="r_start",
    weight=None,
    description="one row per agent run (invoke_agent span and its GenAI children)",
)
