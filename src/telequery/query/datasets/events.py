"""``events``: every log and span, with keys discovered from the data.

Names follow the Workers Observability API: ``$metadata.*`` are the promoted columns,
``$workers.*`` the worker invocation fields, and any other name is an attribute key,
looked up in the typed map that matches the requested type (string by default), then in
the resource attributes.
"""

from __future__ import annotations

from sqlglot import exp

from telequery.dialect import Dialect, Params, lit
from telequery.query.catalog import Dataset, Field, attr, column_field
from telequery.query.ir import ValueType
from telequery.schema import Logical

# $metadata key -> events column
METADATA_COLUMNS: dict[str, str] = {
    "id": "id",
    "service": "service",
    "level": "level",
    "message": "message",
    "error": "error",
    "traceId": "trace_id",
    "spanId": "span_id",
    "parentSpanId": "parent_span_id",
    "spanName": "span_name",
    "spanKind": "span_kind",
    "duration": "duration_ms",
    "startTime": "timestamp",
    "endTime": "end_time",
    "statusCode": "status_code",
    "requestId": "request_id",
    "url": "url",
    "trigger": "trigger",
    "origin": "origin",
    "region": "region",
    "type": "kind",
    "dataset": "dataset",
    "coldStart": "cold_start",
    "status": "status",
    "messageTemplate": "message_template",
    "errorTemplate": "error_template",
    "fingerprint": "fingerprint",
    "operation": "operation",
    "agentName": "agent_name",
    "agentId": "agent_id",
    "conversationId": "conversation_id",
    "model": "model",
    "provider": "provider",
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cost": "cost",
    "toolName": "tool_name",
    "userId": "user_id",
}

# $workers key -> events column
WORKERS_COLUMNS: dict[str, str] = {
    "outcome": "outcome",
    "scriptName": "service",
    "eventType": "trigger",
    "requestId": "request_id",
    "wallTimeMs": "duration_ms",
    "coldStart": "cold_start",
}

# Spans that may repeat their children's token and cost totals (agent runs, workflows,
# chains, tools): their token and cost columns are read as null, so every measure adds
# each LLM call once (docs/semconv.md).
TOTALS_OPERATIONS = ("invoke_agent", "create_agent", "execute_tool", "workflow")
ONCE_PER_CALL = ("input_tokens", "output_tokens", "cost")


def once_per_call(column: str) -> exp.Expression:
    """``column`` as counted: null on spans that may carry their children's totals."""
    return exp.If(this=exp.In(this=exp.column("operation", quoted=True),
                              expressions=[lit(op) for op in TOTALS_OPERATIONS]),
                  true=exp.null(), false=exp.column(column, quoted=True))


SAMPLE_RATE = "$metadata.sampleRate"
_FIELDS: dict[str, Field] = {}
for key, column in METADATA_COLUMNS.items():
    _FIELDS[f"$metadata.{key}"] = column_field(f"$metadata.{key}", column)
for key, column in (("inputTokens", "input_tokens"), ("outputTokens", "output_tokens"),
                    ("cost", "cost")):
    _FIELDS[f"$metadata.{key}"] = Field(
        f"$metadata.{key}", ValueType.NUMBER,
        lambda d, p, c=column: once_per_call(c),
        description=_FIELDS[f"$metadata.{key}"].description + " (once per LLM call)")
for key, column in WORKERS_COLUMNS.items():
    _FIELDS[f"$workers.{key}"] = column_field(f"$workers.{key}", column)
_FIELDS["$workers.cpuTimeMs"] = Field("$workers.cpuTimeMs", ValueType.NUMBER,
                                      attr("attrs_number", "cloudflare.cpu_time_ms"),
                                      description="CPU time of the invocation (ms)")
_FIELDS["$metadata.sampleInterval"] = column_field("$metadata.sampleInterval", "sample_interval")
# 1 / sample_interval. Summed with the sample-interval weight it counts stored rows
# (sum(si * 1/si) = n), which gives the API's "average sample interval" = count / n.
_FIELDS[SAMPLE_RATE] = Field(
    SAMPLE_RATE, ValueType.NUMBER,
    lambda d, p: exp.Div(this=exp.Literal.number(1),
                         expression=exp.column("sample_interval", quoted=True)),
    description="sampling rate of the event (1 / sample interval)", groupable=False)

# $metadata keys the keys endpoint lists (every promoted column the events view shows).
LISTED_METADATA: tuple[str, ...] = tuple(f"$metadata.{k}" for k in METADATA_COLUMNS)

_MAP_OF: dict[ValueType, str] = {
    ValueType.STRING: "attrs_string",
    ValueType.NUMBER: "attrs_number",
    ValueType.BOOLEAN: "attrs_bool",
}


def attribute_field(name: str, type: ValueType | None) -> Field | None:
    """Any non-``$`` name is an attribute key of the given type (string by default)."""
    if name.startswith("$") or not name:
        return None
    vtype = type if type in _MAP_OF else ValueType.STRING
    map_column = _MAP_OF[vtype]

    def build(d: Dialect, p: Params) -> exp.Expression:
        key = p.bind(name, Logical.STRING)
        value = d.map_get(exp.column(map_column, quoted=True), key)
        if vtype is ValueType.STRING:  # resource attributes are strings too
            return exp.Coalesce(this=value, expressions=[
                d.map_get(exp.column("resource", quoted=True), key)])
        return value

    return Field(name, vtype, build, description=f"attribute {name!r}")


EVENTS = Dataset(
    name="events",
    fields=_FIELDS,
    resolver=attribute_field,
    needle_columns=("message", "error", "span_name", "url", "service", "trace_id",
                    "request_id"),
    needle_maps=("attrs_string",),
    description="every log and span",
)

# Attribute maps whose keys the keys endpoint discovers, with the type each map holds.
ATTRIBUTE_MAPS: tuple[tuple[str, ValueType], ...] = (
    ("attrs_string", ValueType.STRING), ("attrs_number", ValueType.NUMBER),
    ("attrs_bool", ValueType.BOOLEAN), ("resource", ValueType.STRING),
)
