"""``turns`` and ``sessions``: rollups of agent spans, one row per turn / per conversation.

Both are derived datasets (``Dataset.derive``): a GROUP BY subquery over the events the
compiler has already scoped to the org and time range, restricted to the GenAI agent
spans (``invoke_agent``, ``chat``, ``execute_tool``). A turn is everything carrying one
``telequery.turn.id``; a session everything carrying one ``gen_ai.conversation.id``.
The rules (status, duration, counts) are written out in docs/datasets.md.

Derived column names carry an ``r_`` prefix so no alias shadows an ``events`` column
(ClickHouse resolves aliases anywhere in the query, WHERE included).
"""

from __future__ import annotations

from sqlglot import exp

from telequery import semconv as sc
from telequery.dialect import Dialect, Params, lit
from telequery.query.catalog import Builder, Dataset, Field, col
from telequery.query.datasets.reports_common import (
    TIME_MS,
    avg_nonzero,
    c,
    count,
    dim,
    eq,
    flag,
    gen_ai_spans,
    measures,
    n_attr,
    num,
    s_attr,
    total,
    zero,
)

_AGENT_OPS = (sc.OP_INVOKE_AGENT, sc.OP_CHAT, sc.OP_EXECUTE_TOOL)

# Context a rollup takes from its spans (any non-null value: MAX).
_CONTEXT: tuple[tuple[str, Builder, str], ...] = (
    ("user", col("user_id"), "user.id"),
    ("principal", s_attr(sc.PRINCIPAL), sc.PRINCIPAL),
    ("agent", col("agent_id"), "gen_ai.agent.id"),
    ("agent_name", col("agent_name"), "gen_ai.agent.name"),
    ("harness", s_attr(sc.HARNESS_ID), sc.HARNESS_ID),
    ("harness_name", s_attr(sc.HARNESS_NAME), sc.HARNESS_NAME),
    ("app", s_attr(sc.APP), sc.APP),
    ("blueprint", s_attr(sc.BLUEPRINT), sc.BLUEPRINT),
)


def _a(e: exp.Expression, name: str) -> exp.Expression:
    return exp.alias_(e, name, quoted=True, copy=False)  # builders below never share nodes


def _sum(e: exp.Expression) -> exp.Expression:
    return zero(exp.Sum(this=e))


def _rollup(d: Dialect, p: Params, key: exp.Expression, key_name: str,
            where: exp.Expression) -> tuple[exp.Select, dict[str, exp.Expression]]:
    """SELECT key, context, times, status, counts FROM events WHERE ... GROUP BY key.

    Returns the select and the aggregate expressions callers add columns from.
    """
    is_root, is_chat, is_tool = (eq(c("operation"), o) for o in _AGENT_OPS)
    start = exp.Min(this=c("timestamp"))
    end = exp.Max(this=exp.Coalesce(this=c("end_time"), expressions=[c("timestamp")]))
    span_ms = exp.Div(this=exp.paren(exp.Sub(this=d.epoch_us(end.copy()),
                                             expression=d.epoch_us(start.copy()))),
                      expression=lit(1000.0))
    roots = _sum(flag(is_root.copy()))
    # Failed when its invoke_agent span(s) ended in error; with no invoke_agent span
    # (dropped or not instrumented), when any of its spans did.
    failed = exp.If(
        this=exp.GT(this=roots.copy(), expression=lit(0)),
        true=exp.Max(this=flag(exp.and_(is_root.copy(), eq(c("status"), "error")))),
        false=exp.Max(this=flag(eq(c("status"), "error"))))
    outcome = exp.If(this=exp.EQ(this=failed, expression=lit(1)), true=lit("failed"),
                     false=lit("completed"))

    def chat_sum(column: str) -> exp.Expression:
        return _sum(exp.If(this=is_chat.copy(), true=zero(c(column)), false=lit(0)))

    def chat_attr(key: str) -> exp.Expression:
        return _sum(exp.If(this=is_chat.copy(), true=zero(n_attr(key)(d, p)), false=lit(0)))

    parts = {
        "r_start": start, "r_last": exp.Max(this=c("timestamp")), "r_span_ms": span_ms,
        "r_outcome": outcome, "r_roots": roots, "r_chats": _sum(flag(is_chat)),
        "r_tool_calls": _sum(flag(is_tool)),
        "r_input_tokens": chat_sum("input_tokens"), "r_output_tokens": chat_sum("output_tokens"),
        "r_cache_read_tokens": chat_attr(sc.GEN_AI_CACHE_READ_TOKENS),
        "r_cache_creation_tokens": chat_attr(sc.GEN_AI_CACHE_CREATION_TOKENS),
    }
    cols = [_a(key, key_name)]
    cols += [_a(exp.Max(this=build(d, p)), f"r_{name}") for name, build, _ in _CONTEXT]
    cols += [_a(e.copy(), name) for name, e in parts.items()]
    # copy=False: each builder call would otherwise deep-copy the whole SELECT (~60% of
    # the compile time of a sessions query).
    sel = exp.select(*cols).from_(exp.to_table("events"), copy=False).where(
        exp.and_(where, exp.Not(this=exp.Is(this=key.copy(), expression=exp.null()))),
        copy=False).group_by(key.copy(), copy=False)
    return sel, parts


def _derive_turns(d: Dialect, p: Params, where: exp.Expression) -> exp.Select:
    is_root = eq(c("operation"), sc.OP_INVOKE_AGENT)
    sel, parts = _rollup(d, p, s_attr(sc.TURN_ID)(d, p), "r_turn", where)

    def root_value(e: exp.Expression) -> exp.Expression:
        return exp.Max(this=exp.If(this=is_root.copy(), true=e, false=exp.null()))

    # The root span times the turn; without it, first start to last end of its spans.
    duration = exp.Coalesce(this=root_value(c("duration_ms")),
                            expressions=[parts["r_span_ms"].copy()])
    # telequery.turn.iterations on the root; without it, the number of LLM calls.
    iterations = exp.Coalesce(this=root_value(n_attr(sc.TURN_ITERATIONS)(d, p)),
                              expressions=[parts["r_chats"].copy()])
    # telequery.turn.status on the root when the framework sets it, else the outcome
    status = exp.Coalesce(this=root_value(s_attr(sc.TURN_STATUS)(d, p)),
                          expressions=[parts["r_outcome"].copy()])
    total_tokens = exp.Add(this=parts["r_input_tokens"].copy(),
                           expression=parts["r_output_tokens"].copy())  # upstream: no cache
    return sel.select(_a(exp.Max(this=c("conversation_id")), "r_session"),
                      _a(duration, "r_duration_ms"), _a(iterations, "r_iterations"),
                      _a(status, "r_status"), _a(total_tokens, "r_total_tokens"), copy=False)


def _derive_sessions(d: Dialect, p: Params, where: exp.Expression) -> exp.Select:
    sel, parts = _rollup(d, p, c("conversation_id"), "r_session", where)
    turn_ids = d.uniq(s_attr(sc.TURN_ID)(d, p))
    # Distinct telequery.turn.id; spans without turn ids count their invoke_agent spans.
    turns = exp.If(this=exp.GT(this=turn_ids, expression=lit(0)), true=turn_ids.copy(),
                   false=parts["r_roots"].copy())
    total_tokens = exp.Add(this=exp.Add(this=parts["r_input_tokens"].copy(),
                                        expression=parts["r_output_tokens"].copy()),
                           expression=exp.Add(this=parts["r_cache_read_tokens"].copy(),
                                              expression=parts["r_cache_creation_tokens"].copy()))
    return sel.select(_a(parts["r_span_ms"].copy(), "r_duration_ms"), _a(turns, "r_turn_count"),
                      _a(_session_status(d, p, parts), "r_status"),
                      _a(total_tokens, "r_total_tokens"), copy=False)


# Lifecycle states, furthest last: a session reports the furthest any of its spans says.
SESSION_STATES = ("started", "active", "idle", "completed", "failed")


def _session_status(d: Dialect, p: Params, parts: dict[str, exp.Expression]
                    ) -> exp.Expression:
    """``telequery.session.status`` when spans carry it (the furthest lifecycle state any
    of them reports); otherwise ``failed`` or ``completed`` by the outcome rule."""
    value = s_attr(sc.SESSION_STATUS)(d, p)
    rank = exp.Case(ifs=[exp.If(this=eq(value.copy(), state), true=lit(i + 1))
                         for i, state in enumerate(SESSION_STATES)])
    furthest = exp.Max(this=rank)
    named = exp.Case(ifs=[exp.If(this=exp.EQ(this=furthest.copy(), expression=lit(i + 1)),
                                 true=lit(state)) for i, state in enumerate(SESSION_STATES)])
    return exp.Coalesce(this=named, expressions=[parts["r_outcome"].copy()])


def _context_fields(with_turn: bool) -> dict[str, Field]:
    fields = [dim("session", col("r_session"), "gen_ai.conversation.id")]
    fields += [dim(name, col(f"r_{name}"), meaning) for name, _, meaning in _CONTEXT]
    fields.append(dim("day", lambda d, p: d.utc_date(c("r_start")),
                      "UTC date of the first span's start"))
    if with_turn:
        fields.append(dim("turn", col("r_turn"), sc.TURN_ID))
    fields += [
        num(TIME_MS, lambda d, p: d.epoch_ms(c("r_last")), "newest span start"),
        num("__duration_ms", col("r_duration_ms")),
        num("__tool_calls", col("r_tool_calls")),
        num("__input_tokens", col("r_input_tokens")),
        num("__output_tokens", col("r_output_tokens")),
        num("__total_tokens", col("r_total_tokens")),
    ]
    return {f.name: f for f in fields}


_TOKENS = (total("input_tokens", "__input_tokens"), total("output_tokens", "__output_tokens"),
           total("total_tokens", "__total_tokens"))

TURNS = Dataset(
    name="turns",
    fields={
        **_context_fields(with_turn=True),
        "turn_status": dim("turn_status", col("r_status"), "completed | failed | cancelled"),
        "__iterations": num("__iterations", col("r_iterations")),
        "__success": num("__success", lambda d, p: flag(eq(c("r_status"), "completed"))),
        # upstream: failed and cancelled turns both count as errors
        "__error": num("__error", lambda d, p: flag(exp.Not(this=eq(c("r_status"),
                                                                     "completed")))),
    },
    predicate=gen_ai_spans(*_AGENT_OPS),
    derive=_derive_turns,
    time_column="r_start",
    weight=None,
    measures=measures(
        count("turn_count"),
        total("duration_ms", "__duration_ms"),
        avg_nonzero("avg_duration_ms", "__duration_ms"),
        total("iterations", "__iterations"),
        total("tool_call_count", "__tool_calls"),
        total("success_count", "__success"),
        total("error_count", "__error"),
        *_TOKENS,
    ),
    description="one row per agent turn (telequery.turn.id): an invoke_agent run",
)

SESSIONS = Dataset(
    name="sessions",
    fields={
        **_context_fields(with_turn=False),
        "session_status": dim("session_status", col("r_status"),
                              "lifecycle: " + " | ".join(SESSION_STATES)),
        "__turn_count": num("__turn_count", col("r_turn_count")),
    },
    predicate=gen_ai_spans(*_AGENT_OPS),
    derive=_derive_sessions,
    time_column="r_start",
    weight=None,
    measures=measures(
        count("session_count"),
        total("duration_ms", "__duration_ms"),
        avg_nonzero("avg_duration_ms", "__duration_ms"),
        total("turn_count", "__turn_count"),
        total("tool_call_count", "__tool_calls"),
        *_TOKENS,
    ),
    description="one row per conversation (gen_ai.conversation.id)",
)
