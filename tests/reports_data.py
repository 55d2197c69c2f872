"""Test data and an independent oracle for the Reports API tests.

``agent_traffic`` builds OTLP requests by hand (real protobuf types) carrying every
attribute the Reports datasets read: conversations of turns (invoke_agent roots, some
dropped, with chat and execute_tool children), agent-less chats, budget postings (debits
and credits), a sampled chat and unrelated worker noise.

``Oracle`` recomputes each dataset from the rows read back from the store with plain
Python, from the rules in docs/datasets.md, knowing nothing of SQL or the catalog code.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import LiveServer, make_store, serve
from otlp_build import Span, add_span, kvs
from telequery import semconv as sc
from telequery.ingest.load import load
from telequery.meta import Meta

if TYPE_CHECKING:
    from telequery.store.base import Store

AGENTS = (  # id, name, app, blueprint
    ("agt_support", "support-bot", "helpdesk", "bp_support_v2"),
    ("agt_coder", "code-assistant", "ide", "bp_coder_v1"),
    ("agt_research", "researcher", "portal", "bp_research_v3"),
)
HARNESSES = (("hrn_prod", "production"), ("hrn_eval", "evaluation"))
USERS = ("u_alice", "u_bob", "u_carol", "u_dave")
MODELS = (("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic"), ("gemini-2.5", "gcp.gemini"))
TOOLS = (  # name, display, capability id, capability name
    ("web_search", "Web search", "cap_search", "Search"),
    ("run_sql", "Run SQL", "cap_data", "Data"),
    ("send_email", "Send email", "cap_comms", "Comms"),
)
TOOL_STATUSES = ("success", "success", "success", "error", "timeout", "cancelled")
AGENT_OPS = (sc.OP_INVOKE_AGENT, sc.OP_CHAT, sc.OP_EXECUTE_TOOL)
NS = 1_000_000_000


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.traces = ExportTraceServiceRequest()
        self.logs = ExportLogsServiceRequest()
        self._spans = self.traces.resource_spans.add()
        self._spans.resource.attributes.extend(kvs({sc.SERVICE_NAME: "agent-server"}))
        self._span_scope = self._spans.scope_spans.add()
        self._logs = self.logs.resource_logs.add()
        self._logs.resource.attributes.extend(kvs({sc.SERVICE_NAME: "agent-server"}))
        self._log_scope = self._logs.scope_logs.add()

    def ids(self) -> tuple[bytes, bytes]:
        return self.rng.randbytes(16), self.rng.randbytes(8)

    def span(self, trace: bytes, span_id: bytes, parent: bytes | None, name: str, start: int,
             dur_ns: int, attrs: dict[str, object], error: bool = False) -> None:
        add_span(self._span_scope, Span("agent-server", name, start, dur_ns, trace, span_id,
                                        parent or b"", error, attrs))

    def posting(self, t: int, amount: float, attrs: dict[str, object]) -> None:
        rec = self._log_scope.log_records.add(time_unix_nano=t, severity_text="INFO",
                                              event_name=sc.BUDGET_POSTING_EVENT)
        rec.body.string_value = "budget posting"
        rec.attributes.extend(kvs({**attrs, sc.BUDGET_AMOUNT: amount}))

    def log(self, t: int, body: str, attrs: dict[str, object]) -> None:
        rec = self._log_scope.log_records.add(time_unix_nano=t, severity_text="INFO")
        rec.body.string_value = body
        rec.attributes.extend(kvs(attrs))


def agent_traffic(seed: int, start: datetime, end: datetime, sessions: int = 30,
                  agent_prefix: str = "") -> list[ExportTraceServiceRequest |
                                                   ExportLogsServiceRequest]:
    """Requests for ``sessions`` conversations plus extras, all inside [start, end)."""
    rng = random.Random(seed)
    b = _Builder(rng)
    t_lo = int(start.timestamp()) * NS
    span_ns = int((end - start).total_seconds() * 0.9) * NS
    for n in range(sessions):
        agent_id, agent_name, app, blueprint = AGENTS[n % len(AGENTS)]
        harness_id, harness_name = HARNESSES[rng.randrange(2)]
        user = USERS[rng.randrange(len(USERS))] if rng.random() < 0.8 else None
        conv = f"conv_{seed}_{n:03d}"
        ctx = {sc.GEN_AI_AGENT_ID: agent_id, sc.GEN_AI_AGENT_NAME: agent_prefix + agent_name,
               sc.APP: app, sc.BLUEPRINT: blueprint, sc.HARNESS_ID: harness_id,
               sc.HARNESS_NAME: harness_name, sc.GEN_AI_CONVERSATION_ID: conv,
               sc.USER_ID: user, sc.PRINCIPAL: f"user:{user}" if user else "va:batch"}
        budget = {sc.BUDGET_ID: f"bud_user_{user}" if user else "bud_org",
                  sc.BUDGET_SUBJECT_TYPE: "user" if user else "org",
                  sc.BUDGET_SUBJECT: user or "acme",
                  sc.BUDGET_CURRENCY: "EUR" if n % 4 == 0 else "USD"}
        t = t_lo + rng.randrange(span_ns)
        for k in range(1 + rng.randrange(3)):
            # some sessions report their lifecycle; third turns were cancelled
            lifecycle = ("started", "active", "idle")[k] if n % 5 == 1 else None
            t = _turn(b, rng, t, ctx, budget, f"turn_{seed}_{n:03d}_{k}",
                      drop_root=(n + k) % 7 == 3, cancelled=k == 2, lifecycle=lifecycle)
            t += rng.randrange(5, 600) * NS
    for n in range(6):  # agent-less chats (no conversation, no turn)
        trace, root = b.ids()
        model, provider = MODELS[n % 3]
        t = t_lo + rng.randrange(span_ns)
        b.span(trace, b.ids()[1], root, f"chat {model}", t, rng.randrange(200, 900) * 10**6,
               {sc.GEN_AI_OPERATION: sc.OP_CHAT, sc.GEN_AI_REQUEST_MODEL: model,
                sc.GEN_AI_PROVIDER: provider, sc.USER_ID: USERS[n % 4],
                sc.GEN_AI_INPUT_TOKENS: 100 + n, sc.GEN_AI_OUTPUT_TOKENS: 10 * n,
                sc.GEN_AI_FINISH_REASONS: "stop",  # a plain string, not an array
                sc.SAMPLE_INTERVAL: 2 if n == 0 else None})
    for n in range(3):  # credits (negative postings) and a posting of 0, no trace
        b.posting(t_lo + rng.randrange(span_ns), -25.0 * n,
                  {sc.BUDGET_ID: "bud_org", sc.BUDGET_SUBJECT_TYPE: "org",
                   sc.BUDGET_SUBJECT: "acme", sc.BUDGET_CURRENCY: "USD",
                   sc.BUDGET_METER_SOURCE: "manual", sc.BUDGET_REF_TYPE: "topup"})
    for _ in range(5):  # noise: worker spans and ordinary logs
        trace, sid = b.ids()
        t = t_lo + rng.randrange(span_ns)
        b.span(trace, sid, None, "GET /health", t, 5 * 10**6, {sc.FAAS_TRIGGER: "http"})
        b.log(t, "cache miss", {sc.GEN_AI_CONVERSATION_ID: "conv_noise"})
    return [b.traces, b.logs]


def _turn(b: _Builder, rng: random.Random, t: int, ctx: dict[str, object],
          budget: dict[str, object], turn_id: str, drop_root: bool, cancelled: bool = False,
          lifecycle: str | None = None) -> int:
    trace, root = b.ids()
    child = {**ctx, sc.TURN_ID: turn_id}
    cursor = t + 3 * 10**6
    iterations, failed = 0, False
    for i in range(1 + rng.randrange(3)):
        model, provider = MODELS[rng.randrange(3)]
        iterations += 1
        dur = rng.randrange(300, 3000) * 10**6
        error = rng.random() < 0.1
        attrs: dict[str, object] = {**child, sc.GEN_AI_OPERATION: sc.OP_CHAT,
                                    sc.GEN_AI_REQUEST_MODEL: model,
                                    sc.GEN_AI_PROVIDER: provider}
        if not error:
            attrs.update({
                sc.GEN_AI_RESPONSE_MODEL: model + "-2025", sc.GEN_AI_INPUT_TOKENS:
                rng.randrange(100, 5000), sc.GEN_AI_OUTPUT_TOKENS: rng.randrange(1, 800),
                sc.GEN_AI_FINISH_REASONS: ["tool_calls"] if i == 0 else ["stop", "length"],
                sc.GEN_AI_TTFT_MS: round(rng.uniform(50, 900), 1),
                sc.GEN_AI_CACHE_READ_TOKENS: rng.randrange(0, 90) if i else None,
                sc.GEN_AI_CACHE_CREATION_TOKENS: 40 if i == 0 and rng.random() < 0.5 else None})
        b.span(trace, b.ids()[1], root, f"chat {model}", cursor, dur, attrs, error)
        if not error:
            b.posting(cursor + dur, round(rng.uniform(0.001, 0.2), 6),
                      {**budget, **{k: v for k, v in child.items()},
                       sc.BUDGET_METER_SOURCE: "llm", sc.BUDGET_REF_TYPE: "generation"})
        cursor += dur + 10**6
        if error:
            failed = True
            break
        for _ in range(rng.randrange(3)):
            name, display, cap, cap_name = TOOLS[rng.randrange(3)]
            status = TOOL_STATUSES[rng.randrange(len(TOOL_STATUSES))]
            tdur = rng.randrange(10, 2000) * 10**6
            b.span(trace, b.ids()[1], root, f"execute_tool {name}", cursor, tdur,
                   {**child, sc.GEN_AI_OPERATION: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name,
                    sc.TOOL_DISPLAY_NAME: display, sc.CAPABILITY_ID: cap,
                    sc.CAPABILITY_NAME: cap_name,
                    sc.TOOL_STATUS: status if rng.random() < 0.9 else None},
                   error=status in ("error", "timeout"))
            failed |= status in ("error", "timeout")
            cursor += tdur + 10**6
    end = cursor + 2 * 10**6
    if not drop_root:
        b.span(trace, root, None, f"invoke_agent {ctx[sc.GEN_AI_AGENT_NAME]}", t, end - t,
               {**child, sc.GEN_AI_OPERATION: sc.OP_INVOKE_AGENT,
                sc.TURN_ITERATIONS: iterations,
                sc.TURN_STATUS: "cancelled" if cancelled else None,
                sc.SESSION_STATUS: lifecycle}, failed and not cancelled)
    return end


# --- the oracle ---------------------------------------------------------------------------
def _s(e: dict, key: str) -> object:
    return (e["attrs_string"] or {}).get(key)


def _n(e: dict, key: str) -> object:
    return (e["attrs_number"] or {}).get(key)


def _day(t: datetime) -> str:
    return t.date().isoformat()


def _common(e: dict) -> dict[str, object]:
    return {"session": e["conversation_id"], "user": e["user_id"],
            "principal": _s(e, sc.PRINCIPAL), "agent": e["agent_id"],
            "agent_name": e["agent_name"], "harness": _s(e, sc.HARNESS_ID),
            "harness_name": _s(e, sc.HARNESS_NAME), "app": _s(e, sc.APP),
            "blueprint": _s(e, sc.BLUEPRINT), "day": _day(e["timestamp"]),
            "turn": _s(e, sc.TURN_ID)}


def _finish(e: dict) -> object:
    raw = _s(e, sc.GEN_AI_FINISH_REASONS)
    if isinstance(raw, str) and raw.startswith("["):
        values = json.loads(raw)
        return values[0] if values else None
    return raw


def _llm(e: dict) -> dict[str, object]:
    err = e["status"] == "error"
    inp, out = e["input_tokens"], e["output_tokens"]
    return {**_common(e), "model": e["model"], "provider": e["provider"],
            "finish_reason": _finish(e), "w": e["sample_interval"],
            "input_tokens": inp, "output_tokens": out,
            "cache_read_tokens": _n(e, sc.GEN_AI_CACHE_READ_TOKENS),
            "cache_creation_tokens": _n(e, sc.GEN_AI_CACHE_CREATION_TOKENS),
            "total_tokens": (inp or 0) + (out or 0) + (_n(e, sc.GEN_AI_CACHE_READ_TOKENS) or 0)
            + (_n(e, sc.GEN_AI_CACHE_CREATION_TOKENS) or 0), "duration_ms": e["duration_ms"],
            "avg_duration_ms": e["duration_ms"],
            "time_to_first_token_ms": _n(e, sc.GEN_AI_TTFT_MS),
            "avg_time_to_first_token_ms": _n(e, sc.GEN_AI_TTFT_MS),
            "success_count": 0 if err else 1, "error_count": 1 if err else 0}


def _tool(e: dict) -> dict[str, object]:
    status = _s(e, sc.TOOL_STATUS) or ("error" if e["status"] == "error" else "success")
    return {**_common(e), "tool": e["tool_name"],
            "tool_display_name": _s(e, sc.TOOL_DISPLAY_NAME), "tool_status": status,
            "capability": _s(e, sc.CAPABILITY_ID), "capability_name": _s(e, sc.CAPABILITY_NAME),
            "w": e["sample_interval"], "call_count": 1,
            **{f"{s}_count": int(status == s) for s in ("success", "error", "timeout",
                                                        "cancelled")},
            "duration_ms": e["duration_ms"], "avg_duration_ms": e["duration_ms"]}


def _posting(e: dict) -> dict[str, object]:
    amount = _n(e, sc.BUDGET_AMOUNT)
    return {**_common(e), "budget": _s(e, sc.BUDGET_ID),
            "budget_subject_type": _s(e, sc.BUDGET_SUBJECT_TYPE),
            "budget_subject": _s(e, sc.BUDGET_SUBJECT), "currency": _s(e, sc.BUDGET_CURRENCY),
            "meter_source": _s(e, sc.BUDGET_METER_SOURCE), "ref_type": _s(e, sc.BUDGET_REF_TYPE),
            "w": e["sample_interval"], "amount": amount,
            "debit_count": int(amount is not None and amount >= 0),  # 0 is a debit
            "credit_count": int((amount or 0) < 0)}


def _rollup(spans: list[dict]) -> dict[str, object]:
    """A turn's or session's row from its spans (rules: docs/datasets.md)."""
    roots = [s for s in spans if s["operation"] == sc.OP_INVOKE_AGENT]
    chats = [s for s in spans if s["operation"] == sc.OP_CHAT]
    start = min(s["timestamp"] for s in spans)
    end = max(s["end_time"] or s["timestamp"] for s in spans)
    failed = any(s["status"] == "error" for s in (roots or spans))

    def first(key: str) -> object:
        values = [v for v in (s.get(key) for s in spans) if v is not None]
        return max(values) if values else None

    def first_attr(key: str) -> object:
        values = [_s(s, key) for s in spans if _s(s, key) is not None]
        return max(values) if values else None

    inp = sum(s["input_tokens"] or 0 for s in chats)
    out = sum(s["output_tokens"] or 0 for s in chats)
    cache = sum((_n(s, sc.GEN_AI_CACHE_READ_TOKENS) or 0)
                + (_n(s, sc.GEN_AI_CACHE_CREATION_TOKENS) or 0) for s in chats)
    outcome = "failed" if failed else "completed"
    said = [_s(s, sc.TURN_STATUS) for s in roots if _s(s, sc.TURN_STATUS)]
    states = [LIFECYCLE.index(_s(s, sc.SESSION_STATUS)) for s in spans
              if _s(s, sc.SESSION_STATUS) in LIFECYCLE]
    return {
        "session": first("conversation_id"), "user": first("user_id"),
        "principal": first_attr(sc.PRINCIPAL), "agent": first("agent_id"),
        "agent_name": first("agent_name"), "harness": first_attr(sc.HARNESS_ID),
        "harness_name": first_attr(sc.HARNESS_NAME), "app": first_attr(sc.APP),
        "blueprint": first_attr(sc.BLUEPRINT), "day": _day(start),
        "status": max(said) if said else outcome,
        "session_state": LIFECYCLE[max(states)] if states else outcome, "w": 1,
        "span_ms": (end - start) / timedelta(milliseconds=1),
        "root_ms": max(s["duration_ms"] for s in roots) if roots else None,
        "root_iterations": max((_n(s, sc.TURN_ITERATIONS) for s in roots
                                if _n(s, sc.TURN_ITERATIONS) is not None), default=None),
        "chats": len(chats), "roots": len(roots),
        "tool_call_count": sum(1 for s in spans if s["operation"] == sc.OP_EXECUTE_TOOL),
        "turn_ids": {_s(s, sc.TURN_ID) for s in spans} - {None},
        "input_tokens": inp, "output_tokens": out, "total_tokens": inp + out,
        "session_total_tokens": inp + out + cache,
    }


LIFECYCLE = ["started", "active", "idle", "completed", "failed"]  # furthest last


def _turn_row(spans: list[dict]) -> dict[str, object]:
    r = _rollup(spans)
    duration = r["root_ms"] if r["root_ms"] is not None else r["span_ms"]
    return {**r, "turn": next(iter(r["turn_ids"])), "turn_status": r["status"],
            "turn_count": 1, "duration_ms": duration, "avg_duration_ms": duration,
            "iterations": r["root_iterations"] if r["root_iterations"] is not None
            else r["chats"], "success_count": int(r["status"] == "completed"),
            "error_count": int(r["status"] in ("failed", "cancelled"))}


def _session_row(spans: list[dict]) -> dict[str, object]:
    r = _rollup(spans)
    return {**r, "session_status": r["session_state"], "session_count": 1,
            "total_tokens": r["session_total_tokens"],
            "duration_ms": r["span_ms"], "avg_duration_ms": r["span_ms"],
            "turn_count": len(r["turn_ids"]) or r["roots"]}


AVG_MEASURES = {"avg_duration_ms", "avg_time_to_first_token_ms"}


class Oracle:
    """Each Reports dataset, recomputed from stored event rows in plain Python."""

    def __init__(self, events: Iterable[dict]) -> None:
        self.events = list(events)

    def rows(self, dataset: str, start: datetime, end: datetime) -> list[dict]:
        ev = [e for e in self.events if start <= e["timestamp"].replace(tzinfo=UTC) < end]
        agent = [e for e in ev if e["kind"] == "span" and e["operation"] in AGENT_OPS]
        if dataset == "llm_generations":
            return [_llm(e) for e in agent if e["operation"] == sc.OP_CHAT]
        if dataset == "tool_calls":
            return [_tool(e) for e in agent if e["operation"] == sc.OP_EXECUTE_TOOL]
        if dataset == "budget_postings":
            return [_posting(e) for e in ev if e["kind"] == "log"
                    and _s(e, sc.EVENT_NAME) == sc.BUDGET_POSTING_EVENT]
        key: Callable[[dict], object]
        if dataset == "turns":
            key, build = (lambda e: _s(e, sc.TURN_ID)), _turn_row
        else:
            key, build = (lambda e: e["conversation_id"]), _session_row
        groups: dict[object, list[dict]] = defaultdict(list)
        for e in agent:
            if key(e) is not None:
                groups[key(e)].append(e)
        return [build(spans) for spans in groups.values()]

    def aggregate(self, rows: list[dict], dims: list[str], measures: list[str],
                  where: Callable[[dict], bool] = lambda r: True) -> dict[tuple, dict]:
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            if where(r):
                groups[tuple(r[d] for d in dims)].append(r)
        if not dims and not groups:
            groups[()] = []
        out = {}
        for k, rs in groups.items():
            values = {}
            for m in measures:
                if m in AVG_MEASURES:
                    xs = [r[m] for r in rs if r[m] not in (None, 0)]
                    values[m] = sum(xs) / len(xs) if xs else 0
                else:
                    values[m] = sum((r[m] or 0) * r["w"] for r in rs)
            out[k] = values
        return out


def close(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


# --- a live server over that data ---------------------------------------------------------
ORG, OTHER = "acme", "globex"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DATA_START = NOW - timedelta(days=3)
QUERY_RANGE = {"from": (DATA_START - timedelta(hours=1)).isoformat(),
               "to": (NOW + timedelta(hours=1)).isoformat()}


@dataclass
class ReportsEnv:
    """The live server, an authenticated client per org, and the oracle over ORG's rows."""

    live: LiveServer
    client: httpx.Client
    other: httpx.Client
    oracle: Oracle
    other_oracle: Oracle

    def oracle_rows(self, dataset: str, time_range: dict[str, str] | None = None
                    ) -> list[dict]:
        tr = time_range or QUERY_RANGE
        return self.oracle.rows(dataset, datetime.fromisoformat(tr["from"]),
                                datetime.fromisoformat(tr["to"]))


def stored_events(store: Store, org: str) -> list[dict]:
    """Every stored row of ``org``, read back with plain SQL."""
    placeholder = "$org" if store.dialect.name == "duckdb" else "{org:String}"
    res = store.execute(f"SELECT * FROM events WHERE org_id = {placeholder}", {"org": org})
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


@contextmanager
def reports_server(path: Path, engine: str = "duckdb",
                   data: Callable[[str], Iterable[object]] | None = None
                   ) -> Iterator[ReportsEnv]:
    """A live server over ``data(org)`` for both orgs (default: ``agent_traffic``)."""
    store = make_store(engine, path)
    meta = Meta(path / "meta.sqlite")
    if data is None:
        load(store, ORG, agent_traffic(1, DATA_START, NOW))
        load(store, OTHER, agent_traffic(2, DATA_START, NOW, sessions=10,
                                         agent_prefix="globex-"))
    else:
        load(store, ORG, data(ORG))  # type: ignore[arg-type]
        load(store, OTHER, data(OTHER))  # type: ignore[arg-type]
    try:
        with serve(store, meta) as live:
            viewer_and_manager = ("query", "reports:manage")
            headers = {"Authorization": f"Bearer {live.token(ORG, viewer_and_manager)}"}
            other = {"Authorization": f"Bearer {live.token(OTHER, viewer_and_manager)}"}
            with httpx.Client(base_url=live.url + "/api/v1/reports", headers=headers,
                              timeout=60) as client, \
                    httpx.Client(base_url=live.url + "/api/v1/reports", headers=other,
                                 timeout=60) as other_client:
                yield ReportsEnv(live, client, other_client,
                                 Oracle(stored_events(store, ORG)),
                                 Oracle(stored_events(store, OTHER)))
    finally:
        meta.close()
        store.close()
