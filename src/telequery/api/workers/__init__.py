"""Workers Observability telemetry API (Cloudflare-compatible), for the ``cloudflare`` SDK.

Contract: the SDK's generated types (cloudflare==5.9.0) and
/work/shared/contracts/workers-observability.md; behaviour in docs/workers-observability.md.
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api import errors as api_errors
from telequery.api.workers.errors import ENVELOPE, PREFIX, envelope_error
from telequery.api.workers.live_tail import TailHub
from telequery.api.workers.routes import router
from telequery.api.workers.trace_detail import router as trace_router

__all__ = ["envelope_error", "install"]


def install(app: FastAPI) -> None:
    hub = TailHub()
    app.state.live_tails = hub
    app.state.services.writer.taps.append(hub.offer)  # live tails see what is acknowledged
    app.include_router(router)
    app.include_router(trace_router)  # a telequery extension: one trace's spans and logs
    api_errors.register_formatter(PREFIX, envelope_error, ENVELOPE)
