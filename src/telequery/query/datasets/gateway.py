"""Gateway metrics datasets (TrueFoundry AI Gateway ``metrics/query``): agent, model, MCP.

Each is a relation over the ingested spans, following the OTel GenAI conventions
(``gen_ai.operation.name``, ``gen_ai.agent.name``, ``gen_ai.request.model`` /
``gen_ai.response.model``, ``gen_ai.provider.name``, ``gen_ai.usage.*``,
``gen_ai.tool.name``, ``gen_ai.conversation.id``) plus ``mcp.server.name`` /
``mcp.method.name`` and the caller attributes (``user.email``, ``telequery.team``,
``telequery.virtual_account``). The field-by-field mapping is in docs/datasets.md,
section "Gateway metrics datasets".

Per-field operators follow the gateway's filtering tables exactly (for instance
``agentName`` refuses ``EQUAL`` and ``IS_NULL``), so the catalog itself rejects them.
Names starting with ``metadata.`` are request metadata (string span attributes) and
``__months.<n>`` is the calendar-month bucket the adapter uses for month intervals.
"""

from __future__ import annotations

from sqlglot import exp

from telequery import semconv as sc
from telequery.dialect import Dialect, Params, lit
from telequery.query.catalog import Builder, Dataset, Field, catalog_attr, col
from telequery.query.ir import Op, ValueType
from telequery.schema import Logical

# -- operator sets (the gateway's tables) ------------------------------------------------
AGENT_STRING_OPS = frozenset({Op.IN, Op.NOT_IN, Op.INCLUDES, Op.STARTS_WITH, Op.ENDS_WITH})
"""agentName / agentFramework / agentServerType: IS_NULL and EQUAL are refused upstream."""
STRING_OPS = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.INCLUDES, Op.NOT_INCLUDES,
                        Op.STARTS_WITH, Op.NOT_STARTS_WITH, Op.ENDS_WITH, Op.NOT_ENDS_WITH})
"""The full string operator set (userEmail, virtualAccount, conversationID, metadata)."""
NULLABLE_STRING_OPS = STRING_OPS | {Op.IS_NULL}
STATUS_CODE_OPS = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.GT, Op.LT, Op.GTE, Op.LTE,
                             Op.IS_NULL})
LATENCY_OPS = frozenset({Op.GT, Op.LT, Op.GTE, Op.LTE, Op.BETWEEN})
"""latencyMs, and (upstream's model table) the token and cost columns: ranges only."""
NUMBER_OPS = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.GT, Op.LT, Op.GTE, Op.LTE,
                        Op.BETWEEN, Op.IS_NULL})
BOOL_OPS = frozenset({Op.EQ})
TEAM_OPS = frozenset({Op.ARRAY_HAS_ANY, Op.ARRAY_HAS_NONE})

METADATA_PREFIX = "metadata."
MONTHS_PREFIX = "__months."

LLM_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings")
"""gen_ai.operation.name values that are one LLM call (a modelMetrics row)."""


def _s(key: str) -> Builder:
    return catalog_attr("attrs_string", key)


def _n(key: str) -> Builder:
    return catalog_attr("attrs_number", key)


def _subject(d: Dialect, p: Params) -> exp.Expression:
    """Who made the call: the user's email, else the virtual account (gateway subject)."""
    return exp.Coalesce(this=_s(sc.USER_EMAIL)(d, p), expressions=[_s(sc.VIRTUAL_ACCOUNT)(d, p)])


def _subject_type(d: Dialect, p: Params) -> exp.Expression:
    """``user`` when a user.email is known, ``virtualaccount`` for a virtual account."""
    return exp.Case(ifs=[
        exp.If(this=exp.Not(this=exp.Is(this=_s(sc.USER_EMAIL)(d, p), expression=exp.null())),
               true=lit("user")),
        exp.If(this=exp.Not(this=exp.Is(this=_s(sc.VIRTUAL_ACCOUNT)(d, p),
                                        expression=exp.null())),
               true=lit("virtualaccount"))])


def _per_token(attribute: str, tokens_less: int) -> Builder:
    """The gateway attribute when set; else from the span: generation time after the
    first token (duration - time to first token) over output tokens (- ``tokens_less``)."""
    def build(d: Dialect, p: Params) -> exp.Expression:
        out = exp.Sub(this=exp.column("output_tokens", quoted=True),
                      expression=lit(tokens_less))
        after_first = exp.Sub(this=exp.column("duration_ms", quoted=True),
                              expression=_n(sc.GEN_AI_TTFT_MS)(d, p))
        derived = exp.Case(ifs=[exp.If(this=exp.GT(this=out.copy(), expression=lit(0)),
                                       true=exp.Div(this=exp.paren(after_first),
                                                    expression=d.to_double(out)))])
        return exp.Coalesce(this=_n(attribute)(d, p), expressions=[derived])
    return build


def _is_failure(d: Dialect, p: Params) -> exp.Expression:
    """A span whose OTel status is ERROR; never NULL."""
    return exp.Coalesce(this=exp.EQ(this=exp.column("status", quoted=True),
                                    expression=lit("error")), expressions=[exp.false()])


def _f(name: str, vtype: ValueType, build: Builder, ops: frozenset[Op], description: str
       ) -> Field:
    return Field(name, vtype, build, ops, description)


def _caller_fields(string_ops: frozenset[Op]) -> list[Field]:
    """Who called, shared by the three datasets."""
    return [
        _f("userEmail", ValueType.STRING, _s(sc.USER_EMAIL), string_ops, "user.email"),
        _f("virtualAccount", ValueType.STRING, _s(sc.VIRTUAL_ACCOUNT), string_ops,
           "telequery.virtual_account"),
        _f("createdBySubjectSlug", ValueType.STRING, _subject, string_ops,
           "user.email, else telequery.virtual_account"),
        _f("team", ValueType.ARRAY, col("teams"), TEAM_OPS, "telequery.team (array)"),
        _f("conversationID", ValueType.STRING, col("conversation_id"), string_ops,
           "gen_ai.conversation.id"),
        _f("latencyMs", ValueType.NUMBER, col("duration_ms"), LATENCY_OPS,
           "span duration in milliseconds"),
        _f("isFailure", ValueType.BOOLEAN, _is_failure, BOOL_OPS, "span status is ERROR"),
    ]


def _resolver(name: str, type: ValueType | None) -> Field | None:
    """``metadata.<key>``: a string span attribute; ``__months.<n>``: month buckets."""
    if name.startswith(METADATA_PREFIX) and len(name) > len(METADATA_PREFIX):
        key = name[len(METADATA_PREFIX):]
        return Field(name, ValueType.STRING,
                     lambda d, p: d.map_get(exp.column("attrs_string", quoted=True),
                                            p.bind(key, Logical.STRING)),
                     STRING_OPS, f"span attribute {key!r}")
    if name.startswith(MONTHS_PREFIX) and name[len(MONTHS_PREFIX):].isdigit():
        months = int(name[len(MONTHS_PREFIX):])
        if months < 1:
            return None
        return Field(name, ValueType.NUMBER,
                     lambda d, p: d.month_bucket(exp.column("timestamp", quoted=True), months),
                     frozenset(), f"{months}-month calendar bucket (months since 1970-01)")
    return None


def _fields(fields: list[Field]) -> dict[str, Field]:
    return {f.name: f for f in fields}


def _eq(column: str, value: str) -> exp.Expression:
    return exp.EQ(this=exp.column(column, quoted=True), expression=lit(value))


# -- agentMetrics -------------------------------------------------------------------------
def _agent_rows(d: Dialect, p: Params, where_events: exp.Expression) -> exp.Select:
    """Agent-server traffic: ``invoke_agent`` spans, plus the root server spans of every
    service that served an ``invoke_agent`` span in the same window (the agent servers'
    other requests: health checks, listings, agent-less completions). The latter have
    null agent fields: the gateway's "non-agent traffic" bucket."""
    agent_services = exp.select(exp.column("service", quoted=True)).from_("events").where(
        exp.and_(where_events.copy(), _eq("operation", sc.OP_INVOKE_AGENT),
                 exp.Not(this=exp.Is(this=exp.column("service", quoted=True),
                                     expression=exp.null()))))
    server_root = exp.and_(
        _eq("span_kind", "server"),
        exp.Is(this=exp.column("parent_span_id", quoted=True), expression=exp.null()),
        exp.In(this=exp.column("service", quoted=True), query=agent_services.subquery()),
    )
    return exp.select(exp.Star()).from_("events").where(exp.and_(
        where_events, _eq("kind", "span"),
        exp.paren(exp.or_(_eq("operation", sc.OP_INVOKE_AGENT), exp.paren(server_root)))))


AGENT_METRICS = Dataset(
    name="agentMetrics",
    fields=_fields([
        _f("agentName", ValueType.STRING, col("agent_name"), AGENT_STRING_OPS,
           "gen_ai.agent.name"),
        _f("agentFramework", ValueType.STRING, _s(sc.AGENT_FRAMEWORK), AGENT_STRING_OPS,
           "telequery.agent.framework"),
        _f("agentServerType", ValueType.STRING, _s(sc.AGENT_SERVER_TYPE), AGENT_STRING_OPS,
           "telequery.agent.server_type"),
        _f("httpStatusCode", ValueType.NUMBER, col("status_code"), STATUS_CODE_OPS,
           "http.response.status_code"),
        *_caller_fields(STRING_OPS),
    ]),
    derive=_agent_rows,
    resolver=_resolver,
    description="agent invocations and the agent servers' other (non-agent) traffic",
)


# -- modelMetrics -------------------------------------------------------------------------
def _llm_calls(d: Dialect, p: Params) -> exp.Expression:
    return exp.and_(_eq("kind", "span"), exp.In(
        this=exp.column("operation", quoted=True),
        expressions=[lit(op) for op in LLM_OPERATIONS]))


MODEL_METRICS = Dataset(
    name="modelMetrics",
    fields=_fields([
        _f("modelName", ValueType.STRING, col("model"), STRING_OPS,
           "gen_ai.response.model, else gen_ai.request.model (upstream: no IS_NULL)"),
        _f("virtualModelName", ValueType.STRING, _s(sc.GATEWAY_VIRTUAL_MODEL),
           NULLABLE_STRING_OPS, "telequery.gateway.virtual_model: the routing alias called "
                                "(null for a direct model call)"),
        _f("virtualModel", ValueType.STRING, _s(sc.GATEWAY_VIRTUAL_MODEL),
           NULLABLE_STRING_OPS, "the groupBy name of virtualModelName"),
        _f("providerModelName", ValueType.STRING, _s(sc.GEN_AI_RESPONSE_MODEL),
           NULLABLE_STRING_OPS, "gen_ai.response.model: the model the provider served"),
        _f("errorCode", ValueType.STRING, _s(sc.GATEWAY_ERROR_CODE), NULLABLE_STRING_OPS,
           "telequery.gateway.error_code"),
        _f("providerAccountType", ValueType.STRING, _s(sc.GATEWAY_PROVIDER_ACCOUNT_TYPE),
           NULLABLE_STRING_OPS, "telequery.gateway.provider_account_type"),
        _f("createdBySubjectType", ValueType.STRING, _subject_type, NULLABLE_STRING_OPS,
           "user when user.email is set, else virtualaccount"),
        _f("traceId", ValueType.STRING, col("trace_id"), NULLABLE_STRING_OPS, "trace id"),
        _f("httpStatusCode", ValueType.NUMBER, col("status_code"), STATUS_CODE_OPS,
           "http.response.status_code"),
        _f("requestModel", ValueType.STRING, _s(sc.GEN_AI_REQUEST_MODEL), NULLABLE_STRING_OPS,
           "gen_ai.request.model"),
        _f("provider", ValueType.STRING, col("provider"), NULLABLE_STRING_OPS,
           "gen_ai.provider.name (or gen_ai.system)"),
        _f("requestType", ValueType.STRING, col("operation"), NULLABLE_STRING_OPS,
           "gen_ai.operation.name"),
        _f("agentName", ValueType.STRING, col("agent_name"), NULLABLE_STRING_OPS,
           "gen_ai.agent.name of the calling agent"),
        _f("errorType", ValueType.STRING, _s(sc.ERROR_TYPE), NULLABLE_STRING_OPS,
           "error.type"),
        _f("inputTokens", ValueType.NUMBER, col("input_tokens"), LATENCY_OPS,
           "gen_ai.usage.input_tokens"),
        _f("outputTokens", ValueType.NUMBER, col("output_tokens"), LATENCY_OPS,
           "gen_ai.usage.output_tokens"),
        _f("costInUSD", ValueType.NUMBER, col("cost"), LATENCY_OPS, "gen_ai.usage.cost"),
        _f("timeToFirstTokenMs", ValueType.NUMBER, _n(sc.GEN_AI_TTFT_MS), NUMBER_OPS,
           "gen_ai.response.time_to_first_token_ms"),
        _f("interTokenLatencyMs", ValueType.NUMBER,
           _per_token(sc.GATEWAY_INTER_TOKEN_MS, 1), NUMBER_OPS,
           "telequery.gateway.inter_token_latency_ms, else (duration - time to first "
           "token) / (output tokens - 1)"),
        _f("timePerOutputTokenLatencyMs", ValueType.NUMBER,
           _per_token(sc.GATEWAY_TIME_PER_OUTPUT_TOKEN_MS, 0), NUMBER_OPS,
           "telequery.gateway.time_per_output_token_ms, else (duration - time to first "
           "token) / output tokens"),
        *_caller_fields(STRING_OPS),
    ]),
    predicate=_llm_calls,
    resolver=_resolver,
    description="LLM calls (gen_ai.operation.name chat, text_completion, ...)",
)


# -- mcpMetrics ---------------------------------------------------------------------------
def _mcp_calls(d: Dialect, p: Params) -> exp.Expression:
    return exp.and_(_eq("kind", "span"), exp.Not(this=exp.Is(
        this=_s(sc.MCP_SERVER_NAME)(d, p), expression=exp.null())))


MCP_METRICS = Dataset(
    name="mcpMetrics",
    fields=_fields([
        # upstream: IN, NOT_IN and STRING_CONTAINS / STARTS_WITH / ENDS_WITH only
        _f("mcpServerName", ValueType.STRING, _s(sc.MCP_SERVER_NAME), AGENT_STRING_OPS,
           "mcp.server.name"),
        _f("toolName", ValueType.STRING, col("tool_name"), AGENT_STRING_OPS,
           "gen_ai.tool.name"),
        _f("method", ValueType.STRING, _s(sc.MCP_METHOD_NAME), AGENT_STRING_OPS,
           "mcp.method.name"),
        _f("agentName", ValueType.STRING, col("agent_name"), NULLABLE_STRING_OPS,
           "gen_ai.agent.name of the calling agent"),
        _f("errorType", ValueType.STRING, _s(sc.ERROR_TYPE), NULLABLE_STRING_OPS,
           "error.type"),
        *_caller_fields(STRING_OPS),
    ]),
    predicate=_mcp_calls,
    resolver=_resolver,
    description="MCP calls (spans carrying mcp.server.name)",
)


# -- guardrailMetrics ---------------------------------------------------------------------
def _has(key: str) -> Builder:
    return lambda d, p: exp.and_(_eq("kind", "span"), exp.Not(this=exp.Is(
        this=_s(key)(d, p), expression=exp.null())))


GUARDRAIL_METRICS = Dataset(
    name="guardrailMetrics",
    fields=_fields([
        # upstream: the guardrail fields take IN, NOT_IN and the positive STRING_* only
        _f("guardrailName", ValueType.STRING, _s(sc.GUARDRAIL_NAME), AGENT_STRING_OPS,
           "telequery.guardrail.name"),
        _f("appliedOnEntityScope", ValueType.STRING, _s(sc.GUARDRAIL_SCOPE),
           AGENT_STRING_OPS, "telequery.guardrail.scope: input | output"),
        _f("guardrailResult", ValueType.STRING, _s(sc.GUARDRAIL_RESULT), AGENT_STRING_OPS,
           "telequery.guardrail.result: pass | fail | error"),
        _f("modelName", ValueType.STRING, _s(sc.GEN_AI_REQUEST_MODEL), NULLABLE_STRING_OPS,
           "gen_ai.request.model of the guarded call"),
        *_caller_fields(STRING_OPS),
    ]),
    predicate=_has(sc.GUARDRAIL_NAME),
    resolver=_resolver,
    description="guardrail evaluations (spans carrying telequery.guardrail.name)",
)


# -- cacheMetrics: modelMetrics rows with a cache lookup -----------------------------------
def _cache_lookups(d: Dialect, p: Params) -> exp.Expression:
    return exp.and_(_llm_calls(d, p), exp.Not(this=exp.Is(
        this=_s(sc.CACHE_LOOKUP_STATUS)(d, p), expression=exp.null())))


CACHE_METRICS = Dataset(
    name="cacheMetrics",
    fields={
        **MODEL_METRICS.fields,  # upstream: the model table's rows, so its fields too
        **_fields([
            _f("cacheType", ValueType.STRING, _s(sc.CACHE_TYPE), frozenset({Op.IN, Op.NOT_IN}),
               "telequery.cache.type: exact | semantic"),
            _f("cacheNamespace", ValueType.STRING, _s(sc.CACHE_NAMESPACE), AGENT_STRING_OPS,
               "telequery.cache.namespace"),
            _f("cacheLookupStatus", ValueType.STRING, _s(sc.CACHE_LOOKUP_STATUS), STRING_OPS,
               "telequery.cache.lookup_status: hit | miss | error"),
            _f("savedInputTokens", ValueType.NUMBER, _n(sc.CACHE_SAVED_INPUT_TOKENS),
               LATENCY_OPS, "telequery.cache.saved_input_tokens (a hit's tokens not sent)"),
            _f("savedOutputTokens", ValueType.NUMBER, _n(sc.CACHE_SAVED_OUTPUT_TOKENS),
               LATENCY_OPS, "telequery.cache.saved_output_tokens"),
            _f("savedCostInUSD", ValueType.NUMBER, _n(sc.CACHE_SAVED_COST), LATENCY_OPS,
               "telequery.cache.saved_cost (USD)"),
        ]),
    },
    predicate=_cache_lookups,
    resolver=_resolver,
    description="cache lookups: LLM calls carrying telequery.cache.lookup_status",
)


# -- configMetrics: routing, rate-limit and budget rule applications -----------------------
CONFIG_METRICS = Dataset(
    name="configMetrics",
    fields=_fields([
        _f("configType", ValueType.STRING, _s(sc.RULE_TYPE), AGENT_STRING_OPS,
           "telequery.gateway.rule.type: routing | ratelimit | budget"),
        _f("ruleId", ValueType.STRING, _s(sc.RULE_ID), AGENT_STRING_OPS,
           "telequery.gateway.rule.id"),
        _f("configResult", ValueType.STRING, _s(sc.RULE_RESULT), AGENT_STRING_OPS,
           "telequery.gateway.rule.result: routed | fallback | retried | allowed | "
           "throttled | blocked"),
        _f("targetModel", ValueType.STRING, _s(sc.RULE_TARGET_MODEL), NULLABLE_STRING_OPS,
           "telequery.gateway.rule.target_model: where the request was routed"),
        _f("modelName", ValueType.STRING, _s(sc.GEN_AI_REQUEST_MODEL), NULLABLE_STRING_OPS,
           "gen_ai.request.model: the model the caller asked for"),
        *_caller_fields(STRING_OPS),
    ]),
    predicate=_has(sc.RULE_TYPE),
    resolver=_resolver,
    description="routing, rate-limit and budget rule applications (telequery.gateway.rule.*)",
)
