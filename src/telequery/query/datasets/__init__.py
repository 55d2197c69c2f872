"""The catalog: every dataset, by name, in one explicit mapping."""

from __future__ import annotations

from telequery.query.catalog import Dataset
from telequery.query.datasets.events import EVENTS
from telequery.query.datasets.gateway import (
    AGENT_METRICS,
    CACHE_METRICS,
    CONFIG_METRICS,
    GUARDRAIL_METRICS,
    MCP_METRICS,
    MODEL_METRICS,
)
from telequery.query.datasets.reports import BUDGET_POSTINGS, LLM_GENERATIONS, TOOL_CALLS
from telequery.query.datasets.reports_rollups import SESSIONS, TURNS
from telequery.query.datasets.traces import AGENT_RUNS, TRACES

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    EVENTS,
    TRACES, AGENT_RUNS,
    AGENT_METRICS, MODEL_METRICS, MCP_METRICS, GUARDRAIL_METRICS, CACHE_METRICS,
    CONFIG_METRICS,
    LLM_GENERATIONS, TOOL_CALLS, BUDGET_POSTINGS, TURNS, SESSIONS,
)}
