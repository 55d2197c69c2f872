"""The HTTP floor: what an API call costs on this machine when the server does nothing.

The overhead target (API latency / engine latency <= 1.2) is hardest for the fastest
suite queries (8-10 ms in the engine at 1M events). This measures what any Python ASGI
server pays around that much work, with no telequery code at all: a bare FastAPI app
under uvicorn (in a thread, as ``bench.queries`` serves) whose endpoints read a JSON body
and then wait ``--ms`` milliseconds in a worker thread (as a query does), or in the event
loop, or do nothing. The client is a keep-alive ``http.client`` connection in this
process. Median of ``--runs`` requests each.

    python -m bench.floor [--ms 8] [--runs 300]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

if not __package__:  # plain `python bench/floor.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.queries import free_port, wait_healthy


def app(ms: float) -> FastAPI:
    api = FastAPI()
    empty = Response(b"{}", media_type="application/json")

    @api.get("/healthz")
    async def healthz() -> Response:
        return empty

    @api.post("/nothing")
    async def nothing(request: Request) -> Response:
        json.loads(await request.body())
        return empty

    @api.post("/thread")
    async def thread(request: Request) -> Response:
        json.loads(await request.body())
        await run_in_threadpool(time.sleep, ms / 1000)
        return empty

    @api.post("/loop")
    async def loop(request: Request) -> Response:
        json.loads(await request.body())
        time.sleep(ms / 1000)
        return empty

    return api


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ms", type=float, default=8.0, help="work per request (ms)")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args(argv)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app(args.ms), host="127.0.0.1", port=port,
                                           log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    wait_healthy(port, lambda: not th.is_alive())
    conn = http.client.HTTPConnection("127.0.0.1", port)
    payload = json.dumps({"timeframe": {"from": 0, "to": 1}, "keys": list(range(50))}).encode()

    def once(path: str) -> float:
        t = time.perf_counter()
        conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        return time.perf_counter() - t

    def sleep() -> float:
        t = time.perf_counter()
        time.sleep(args.ms / 1000)
        return time.perf_counter() - t

    base = statistics.median(sleep() for _ in range(args.runs)) * 1000
    print(f"time.sleep({args.ms:g} ms) alone: {base:.2f} ms")
    for path in ("/nothing", "/thread", "/loop"):
        for _ in range(20):
            once(path)
        ms = statistics.median(once(path) for _ in range(args.runs)) * 1000
        work = base if path != "/nothing" else 0.0
        ratio = f"  (x{ms / work:.2f} of the work)" if work else ""
        print(f"POST {path:<9} {ms:6.2f} ms{ratio}")
    server.should_exit = True
    th.join(10)


if __name__ == "__main__":
    main()
