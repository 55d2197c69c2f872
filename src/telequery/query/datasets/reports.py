"""Reports datasets (Everruns-compatible semantic layer) over the ingested OTel data.

Five datasets; the mapping from span/log attributes to dimensions and measures is written
out in docs/datasets.md ("Reports datasets"):

- ``llm_generations``: one row per ``chat`` span (``gen_ai.operation.name = chat``);
- ``tool_calls``: one row per ``execute_tool`` span;
- ``budget_postings``: one row per log record with ``event.name =
  telequery.budget.posting``;
- ``turns`` and ``sessions``: rollups (one row per ``telequery.turn.id`` / per
  ``gen_ai.conversation.id``), derived in ``reports_rollups``.

``REPORTS`` lists what the Reports catalog shows for each (dimensions, measures, filter
fields); the registered ``Dataset``s carry the SQL. Measures are named ``Measure``s in
``Dataset.measures`` so the API adapter only ever speaks IR.
"""

from __future__ import annotations

from sqlglot import exp

from telequery import semconv as sc
from telequery.dialect import Dialect, Params, lit
from telequery.query.catalog import Builder, Dataset, col
from telequery.query.datasets import reports_rollups as rollups
from telequery.query.datasets.reports_common import (
    COMMON_DIMENSIONS,
    TIME_MS,
    ReportSpec,
    avg_nonzero,
    c,
    count,
    dim,
    eq,
    event_dimensions,
    flag,
    gen_ai_spans,
    measures,
    n_attr,
    num,
    s_attr,
    total,
    zero,
)
from telequery.query.ir import Measure

__all__ = ["REPORTS", "TIME_MS", "ReportSpec", "report_measure", "report_spec"]


def _is_error(d: Dialect, p: Params) -> exp.Expression:
    return eq(c("status"), "error")


def _finish_reason(d: Dialect, p: Params) -> exp.Expression:
    # gen_ai.response.finish_reasons is a string array; ingest keeps arrays as JSON text.
    # The dimension is its first element (a plain string value is taken as is).
    raw = s_attr(sc.GEN_AI_FINISH_REASONS)(d, p)
    return exp.If(this=d.starts_with(raw, lit("[")), true=d.json_array_first(raw), false=raw)


def zero_false(cond: exp.Expression) -> exp.Expression:
    """A condition with NULL read as false."""
    return exp.Coalesce(this=cond, expressions=[exp.false()])


# --- llm_generations: chat spans --------------------------------------------------------
_LLM_FIELDS = {
    **event_dimensions(with_turn=True),
    **{f.name: f for f in (
        dim("model", col("model"), "gen_ai.response.model, else gen_ai.request.model"),
        dim("provider", col("provider"), "gen_ai.provider.name (or gen_ai.system)"),
        dim("finish_reason", _finish_reason, "first of gen_ai.response.finish_reasons"),
        num("__input_tokens", col("input_tokens")),
        num("__output_tokens", col("output_tokens")),
        num("__cache_read_tokens", n_attr(sc.GEN_AI_CACHE_READ_TOKENS)),
        num("__cache_creation_tokens", n_attr(sc.GEN_AI_CACHE_CREATION_TOKENS)),
        # upstream: input + output + cache read + cache creation
        num("__total_tokens", lambda d, p: exp.Add(
            this=exp.Add(this=zero(c("input_tokens")), expression=zero(c("output_tokens"))),
            expression=exp.Add(this=zero(n_attr(sc.GEN_AI_CACHE_READ_TOKENS)(d, p)),
                               expression=zero(n_attr(sc.GEN_AI_CACHE_CREATION_TOKENS)(d, p))))),
        num("__duration_ms", col("duration_ms")),
        num("__ttft_ms", n_attr(sc.GEN_AI_TTFT_MS)),
        num("__success", lambda d, p: flag(exp.Not(this=zero_false(_is_error(d, p))))),
        num("__error", lambda d, p: flag(_is_error(d, p))),
    )},
}


LLM_GENERATIONS = Dataset(
    name="llm_generations",
    fields=_LLM_FIELDS,
    predicate=gen_ai_spans(sc.OP_CHAT),
    measures=measures(
        total("input_tokens", "__input_tokens"),
        total("output_tokens", "__output_tokens"),
        total("cache_read_tokens", "__cache_read_tokens"),
        total("cache_creation_tokens", "__cache_creation_tokens"),
        total("total_tokens", "__total_tokens"),
        total("duration_ms", "__duration_ms"),
        avg_nonzero("avg_duration_ms", "__duration_ms"),
        total("time_to_first_token_ms", "__ttft_ms"),
        avg_nonzero("avg_time_to_first_token_ms", "__ttft_ms"),
        total("success_count", "__success"),
        total("error_count", "__error"),
    ),
    description="one row per LLM call (chat span)",
)


# --- tool_calls: execute_tool spans -----------------------------------------------------
def _tool_status(d: Dialect, p: Params) -> exp.Expression:
    # telequery.tool.status when the framework sets it, else from the span status.
    fallback = exp.If(this=eq(c("status"), "error"), true=lit("error"), false=lit("success"))
    return exp.Coalesce(this=s_attr(sc.TOOL_STATUS)(d, p), expressions=[fallback])


def _status_is(value: str) -> Builder:
    return lambda d, p: flag(eq(_tool_status(d, p), value))


TOOL_CALLS = Dataset(
    name="tool_calls",
    fields={
        **event_dimensions(with_turn=True),
        **{f.name: f for f in (
            dim("tool", col("tool_name"), "gen_ai.tool.name"),
            dim("tool_display_name", s_attr(sc.TOOL_DISPLAY_NAME), sc.TOOL_DISPLAY_NAME),
            dim("tool_status", _tool_status, "telequery.tool.status, else from span status"),
            dim("capability", s_attr(sc.CAPABILITY_ID), sc.CAPABILITY_ID),
            dim("capability_name", s_attr(sc.CAPABILITY_NAME), sc.CAPABILITY_NAME),
            num("__duration_ms", col("duration_ms")),
            num("__success", _status_is("success")),
            num("__error", _status_is("error")),
            num("__timeout", _status_is("timeout")),
            num("__cancelled", _status_is("cancelled")),
        )},
    },
    predicate=gen_ai_spans(sc.OP_EXECUTE_TOOL),
    measures=measures(
        count("call_count"),
        total("success_count", "__success"),
        total("error_count", "__error"),
        total("timeout_count", "__timeout"),
        total("cancelled_count", "__cancelled"),
        total("duration_ms", "__duration_ms"),
        avg_nonzero("avg_duration_ms", "__duration_ms"),
    ),
    description="one row per tool call (execute_tool span)",
)


# --- budget_postings: log records event.name = telequery.budget.posting ----------------
def _is_posting(d: Dialect, p: Params) -> exp.Expression:
    return exp.and_(eq(c("kind"), "log"),
                    eq(s_attr(sc.EVENT_NAME)(d, p), sc.BUDGET_POSTING_EVENT))


_AMOUNT = n_attr(sc.BUDGET_AMOUNT)

BUDGET_POSTINGS = Dataset(
    name="budget_postings",
    fields={
        **event_dimensions(with_turn=False),
        **{f.name: f for f in (
            dim("budget", s_attr(sc.BUDGET_ID), sc.BUDGET_ID),
            dim("budget_subject_type", s_attr(sc.BUDGET_SUBJECT_TYPE), sc.BUDGET_SUBJECT_TYPE),
            dim("budget_subject", s_attr(sc.BUDGET_SUBJECT), sc.BUDGET_SUBJECT),
            dim("currency", s_attr(sc.BUDGET_CURRENCY), sc.BUDGET_CURRENCY),
            dim("meter_source", s_attr(sc.BUDGET_METER_SOURCE), sc.BUDGET_METER_SOURCE),
            dim("ref_type", s_attr(sc.BUDGET_REF_TYPE), sc.BUDGET_REF_TYPE),
            num("__amount", _AMOUNT),
            # upstream: a posting of 0 is a debit
            num("__debit", lambda d, p: flag(exp.GTE(this=_AMOUNT(d, p), expression=lit(0)))),
            num("__credit", lambda d, p: flag(exp.LT(this=_AMOUNT(d, p), expression=lit(0)))),
        )},
    },
    predicate=_is_posting,
    measures=measures(
        total("amount", "__amount"),
        total("debit_count", "__debit"),
        total("credit_count", "__credit"),
    ),
    description="one row per budget posting (debits positive, credits negative)",
)


# --- the catalog the Reports API shows ----------------------------------------------------
def _spec(ds: Dataset, extra: tuple[str, ...], with_turn: bool) -> ReportSpec:
    dims = COMMON_DIMENSIONS + (("turn",) if with_turn else ()) + extra
    missing = [n for n in dims if n not in ds.fields]
    assert not missing, f"{ds.name}: dimensions without a field: {missing}"
    return ReportSpec(ds.name, dims, tuple(ds.measures), ds.description)


REPORTS: dict[str, ReportSpec] = {s.name: s for s in (
    _spec(LLM_GENERATIONS, ("model", "provider", "finish_reason"), True),
    _spec(TOOL_CALLS, ("tool", "tool_display_name", "tool_status", "capability",
                       "capability_name"), True),
    _spec(rollups.TURNS, ("turn_status",), True),
    _spec(rollups.SESSIONS, ("session_status",), False),
    _spec(BUDGET_POSTINGS, ("budget", "budget_subject_type", "budget_subject", "currency",
                            "meter_source", "ref_type"), False),
)}


def report_spec(name: str) -> ReportSpec | None:
    return REPORTS.get(name)


def report_measure(dataset: str, name: str) -> Measure:
    """The named measure of a Reports dataset (its alias is the measure's name)."""
    from telequery.query.catalog import dataset as lookup

    return lookup(dataset).measures[name]
