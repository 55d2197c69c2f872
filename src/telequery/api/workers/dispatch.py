"""Which function answers each ``telemetry/query`` view: one explicit table.

The upstream views (``views.py``) and telequery's trace, agent and pattern views
(``trace_views.py``, ``patterns.py``) are listed here, so a view exists exactly when it
is in this table (no registration by import side effect).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from telequery.api.errors import ApiError
from telequery.api.workers.patterns import patterns
from telequery.api.workers.request import MAX_LIMIT, QueryRequest, bad
from telequery.api.workers.trace_views import agents, traces
from telequery.api.workers.views import Outcome, calculations, events, invocations

if TYPE_CHECKING:
    from telequery.store.base import Store

ViewRunner = Callable[["Store", QueryRequest, str], Outcome]
VIEWS: dict[str, ViewRunner] = {
    "calculations": calculations,
    "events": events,
    "invocations": invocations,
    "requests": invocations,  # undocumented upstream; answers like invocations
    "traces": traces,
    "agents": agents,
    "patterns": patterns,
}


def run_view(store: Store, req: QueryRequest, org: str) -> Outcome:
    runner = VIEWS.get(req.view)
    if runner is None:
        raise ApiError(400, f"view {req.view!r} is not supported yet", "view",
                       "invalid_request")
    if req.limit is not None and req.limit > MAX_LIMIT:
        raise bad("limit", f"must be at most {MAX_LIMIT}")
    return runner(store, req, org)
