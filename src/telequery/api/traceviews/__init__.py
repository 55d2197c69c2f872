"""Traces, agent runs and log patterns for the Workers Observability API.

``install`` mounts the trace-detail route (a telequery extension) and registers the
``traces``, ``agents`` and ``patterns`` views with the ``telemetry/query`` dispatch of
``api.workers``. Behaviour: docs/workers-observability.md ("Traces, agents and
patterns") and docs/patterns.md.
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api.traceviews.detail import router
from telequery.api.traceviews.patterns import patterns
from telequery.api.traceviews.views import agents, traces
from telequery.api.workers.views import register_view


def register_views() -> None:
    """Answer the three views from this package (idempotent)."""
    register_view("traces", traces)
    register_view("agents", agents)
    register_view("patterns", patterns)


def install(app: FastAPI) -> None:
    # The Workers Observability formatter (prefix /client/v4) renders this route's errors.
    app.include_router(router)
    register_views()


register_views()
