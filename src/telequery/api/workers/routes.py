"""HTTP routes under ``/client/v4/accounts/{account_id}/workers/observability``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketState

from telequery.api.deps import Services, require, services
from telequery.api.errors import ApiError
from telequery.api.openapi import raw_body
from telequery.api.workers import destinations, dispatch, saved, shares
from telequery.api.workers import keys as keys_api
from telequery.api.workers import request as parse
from telequery.api.workers.live_tail import TailHub, stream
from telequery.api.workers.response import iso, ok
from telequery.meta import Document, Principal
from telequery.store.base import Stats

PREFIX = "/client/v4/accounts/{account_id}/workers/observability"
router = APIRouter(prefix=PREFIX, tags=["workers-observability"])
_RUNS = saved.RunHistory()


def _principal(request: Request, account_id: str, scope: str = "query") -> Principal:
    """401 without a valid token; 403 when the token's org is not ``account_id``."""
    principal = require(request, scope)
    if principal.org != account_id:
        raise ApiError(403, "Forbidden: the token does not belong to this account",
                       "account_id", "forbidden")
    return principal


async def _json(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise parse.bad("body", "a JSON object is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise parse.bad("body", f"invalid JSON: {e}") from None
    try:  # parameters are echoed and saved as sent: they must serialize back (254 levels)
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        raise parse.bad("body", "nests too deeply") from None
    return body


def _statistics(stats: list[Stats]) -> dict[str, float]:
    return {"elapsed": sum(s.elapsed for s in stats),
            "rows_read": sum(s.rows_read for s in stats),
            "bytes_read": sum(s.bytes_read for s in stats)}


@router.post("/telemetry/query",
              openapi_extra=raw_body("A telemetry query: view, timeframe, parameters"),
              responses={404: {"description": "No saved query with this queryId"}})
async def telemetry_query(account_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    body = await _json(request)
    svc = services(request)
    saved_doc = None
    if isinstance(body, dict) and body.get("parameters") is None:
        query_id = parse.text(body.get("queryId"), "queryId")
        saved_doc = saved.get(svc.meta, principal.org, query_id)  # type: ignore[arg-type]
    req = parse.query_request(body, saved_doc.body.get("parameters") if saved_doc else None)
    # query, run record and JSON in one worker-thread call: the event loop only sends
    return await run_in_threadpool(_answer, svc, req, principal, account_id, saved_doc)


def _answer(svc: Services, req: parse.QueryRequest, principal: Principal, account_id: str,
            saved_doc: Document | None) -> Response:
    outcome = dispatch.run_view(svc.store, req, principal.org)
    now = iso(datetime.now(UTC))
    statistics = _statistics(outcome.stats)
    statistics["freshness_lag_ms"] = round(svc.freshness_lag_ms())  # telequery extension
    if saved_doc is not None:
        query = saved.query_json(saved_doc)
    else:
        query = {"id": req.query_id, "adhoc": True, "name": req.query_id, "description": None,
                 "parameters": req.params.raw, "created": now, "updated": now,
                 "createdBy": principal.token_id, "updatedBy": principal.token_id}
    run = {"id": str(uuid.uuid4()), "accountId": account_id, "dry": req.dry,
           "granularity": outcome.granularity, "status": "COMPLETED",
           "timeframe": {"from": req.from_ms, "to": req.to_ms}, "userId": principal.token_id,
           "created": now, "updated": now, "statistics": statistics, "query": query}
    if not req.dry:
        run["id"] = _RUNS.record(svc.meta, principal.org, req.query_id, run)
    return ok({"run": run, "statistics": statistics, **outcome.body})


@router.post("/telemetry/live-tail", openapi_extra=raw_body(
    "Which events to stream: filters, filterCombination, needle, scriptId"),
             responses={429: {"description": "Too many open live tails for the account"}})
async def open_live_tail(account_id: str, request: Request) -> Response:
    """Open a live tail; its events stream on the WebSocket at ``wsUrl``."""
    principal = _principal(request, account_id)
    b = parse.obj(await _json(request), "body")
    flt = parse.filters(b.get("filters"), b.get("filterCombination"), "filters",
                        "filterCombination")
    needle = parse.needle(b.get("needle"), "needle")
    script = parse.text(b.get("scriptId"), "scriptId", required=False)
    tail = _tails(request).open(principal.org, flt, needle, script, principal.token_id)
    base = str(request.base_url).replace("http", "ws", 1).rstrip("/")
    path = PREFIX.replace("{account_id}", account_id)
    return ok({"wsUrl": f"{base}{path}/telemetry/live-tail/ws/{tail.id}"})


@router.post("/telemetry/live-tail/heartbeat",
             openapi_extra=raw_body("Optional scriptId: keep that script's tails open",
                                    required=False))
async def live_tail_heartbeat(account_id: str, request: Request) -> Response:
    """Keep the account's live tails (of one script, if named) open."""
    principal = _principal(request, account_id)
    b = parse.obj(await _json(request), "body") if (await request.body()).strip() else {}
    script = parse.text(b.get("scriptId"), "scriptId", required=False)
    return ok({"tails": _tails(request).heartbeat(principal.org, script)})


@router.websocket("/telemetry/live-tail/ws/{tail_id}")
async def live_tail_socket(websocket: WebSocket, account_id: str, tail_id: str) -> None:
    hub: TailHub = websocket.app.state.live_tails
    meta = websocket.app.state.services.meta

    async def token_live() -> bool:
        return await asyncio.to_thread(meta.token_active, tail.token_id)

    tail = hub.attach(tail_id, asyncio.get_running_loop())
    if tail is None or tail.org != account_id:
        await websocket.close(code=4404, reason="no such live tail")
        return
    if not await token_live():  # the wsUrl alone is no capability once its token is gone
        hub.close(tail)
        await websocket.close(code=4401, reason="the token that opened this tail is revoked")
        return
    await websocket.accept()
    try:
        await stream(tail, websocket.send_json,
                     lambda: websocket.client_state is WebSocketState.CONNECTED, token_live)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the reader went away
    finally:
        hub.close(tail)
        if websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close()


def _tails(request: Request) -> TailHub:
    return request.app.state.live_tails


@router.post("/shared/query", openapi_extra=raw_body(
    "A query to share, as telemetry/query takes it (parameters inline, or the queryId of a "
    "saved query); telequery extension: expiresInSeconds"))
async def create_share(account_id: str, request: Request) -> Response:
    """A share link: the query is checked now and stored under an unguessable id."""
    principal = _principal(request, account_id)
    body = await _json(request)
    svc = services(request)
    doc = shares.create(svc.meta, principal.org, principal.token_id, body,
                        lambda query_id: saved.get(svc.meta, principal.org, query_id))
    return ok({"id": doc.id})


@router.get("/shared/query/{share_id}",
            responses={404: {"description": "No such share in this account (or expired)"}})
async def get_share(account_id: str, share_id: str, request: Request,
                    view: str = "events") -> Response:
    """The shared query run now, in the view asked for (events by default)."""
    principal = _principal(request, account_id)
    svc = services(request)
    body = shares.body_for(svc.meta, principal.org, share_id, view)
    req = parse.query_request(body)
    return await run_in_threadpool(_answer, svc, req, principal, account_id, None)


@router.post("/telemetry/keys",
              openapi_extra=raw_body("Keys request: timeframe, datasets, filters, needle"))
async def telemetry_keys(account_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    body = await _json(request)
    result, _ = await run_in_threadpool(keys_api.keys, services(request).store, principal.org,
                                        body)
    return ok(result)


@router.post("/telemetry/values",
              openapi_extra=raw_body("Values request: key, type, timeframe, filters"))
async def telemetry_values(account_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    body = await _json(request)
    result, _ = await run_in_threadpool(keys_api.values, services(request).store,
                                        principal.org, body)
    return ok(result)


@router.get("/queries")
async def list_queries(account_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    docs, info = saved.list_page(services(request).meta, principal.org,
                                 dict(request.query_params))
    return ok([saved.query_json(d) for d in docs], result_info=info)


@router.post("/queries", openapi_extra=raw_body("A saved query: name, description, parameters"))
async def create_query(account_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    body = await _json(request)
    doc = saved.create(services(request).meta, principal.org, principal.token_id, body)
    return ok(saved.query_json(doc))


@router.get("/queries/{query_id}")
async def get_query(account_id: str, query_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    return ok(saved.query_json(saved.get(services(request).meta, principal.org, query_id)))


@router.patch("/queries/{query_id}", openapi_extra=raw_body("Fields of the saved query to change"))
async def update_query(account_id: str, query_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    body = await _json(request)
    doc = saved.update(services(request).meta, principal.org, principal.token_id, query_id,
                       body)
    return ok(saved.query_json(doc))


@router.delete("/queries/{query_id}")
async def delete_query(account_id: str, query_id: str, request: Request) -> Response:
    principal = _principal(request, account_id)
    doc = saved.delete(services(request).meta, principal.org, query_id)
    return ok(saved.query_json(doc))


@router.get("/destinations")
async def list_destinations(account_id: str, request: Request) -> Response:
    """The account's export destinations, each with its export status."""
    principal = _principal(request, account_id)
    svc = services(request)
    dests, info = destinations.list_page(svc.meta, principal.org, dict(request.query_params))
    return ok([destinations.as_json(d, svc.exporter) for d in dests], result_info=info)


@router.post("/destinations", openapi_extra=raw_body(
    "A destination: name, enabled, configuration {type: logpush, logpushDataset, url, "
    "headers}, skipPreflightCheck"))
async def create_destination(account_id: str, request: Request) -> Response:
    """Export the account's traces or logs to an OTLP/HTTP endpoint (admin scope)."""
    principal = _principal(request, account_id, "admin")
    body = await _json(request)
    svc = services(request)
    dest = await run_in_threadpool(destinations.create, svc.meta, svc.exporter,
                                   principal.org, body)
    return ok(destinations.as_json(dest, svc.exporter))


@router.patch("/destinations/{slug}", openapi_extra=raw_body(
    "enabled and configuration {type, url, headers} of the destination"))
async def update_destination(account_id: str, slug: str, request: Request) -> Response:
    principal = _principal(request, account_id, "admin")
    body = await _json(request)
    svc = services(request)
    dest = await run_in_threadpool(destinations.update, svc.meta, svc.exporter,
                                   principal.org, slug, body)
    return ok(destinations.as_json(dest, svc.exporter))


@router.delete("/destinations/{slug}")
async def delete_destination(account_id: str, slug: str, request: Request) -> Response:
    """Stop exporting and drop what was still queued."""
    principal = _principal(request, account_id, "admin")
    svc = services(request)
    dest = await run_in_threadpool(destinations.delete, svc.meta, svc.exporter,
                                   principal.org, slug)
    return ok(destinations.as_json(dest, svc.exporter))
