"""Serverless worker invocations: a SERVER root span, CLIENT subrequests, and a few logs.

Shapes follow what Cloudflare Workers (and the otel-cf-workers instrumentation) export:
fetch / cron / queue triggers, an outcome per invocation, the colo that ran it, CPU time,
and logs tied to the invocation by trace context and ``faas.invocation_id``.
"""

from __future__ import annotations

from telequery.synth import attrs as A
from telequery.synth import catalog_data as cd
from telequery.synth import wire
from telequery.synth.common import NS_PER_MS, NS_PER_S, Env, Item, WeightedChoice
from telequery.synth.templates import (
    CANCEL_EXCEPTION,
    CPU_EXCEPTION,
    EXCEPTION_TEMPLATES,
    WORKER_TEMPLATES,
    TemplatePool,
)

_TRIGGERS = ("http", "timer", "pubsub")
_SEV = wire.SEVERITY_FIELDS
_NAMES: dict[str, bytes] = {}


def span_name(name: str) -> bytes:
    """The encoded Span.name field, cached (names come from small sets)."""
    b = _NAMES.get(name)
    if b is None:
        b = _NAMES[name] = wire.ld(b"\x2a", name.encode())
    return b


def cron_period(expr: str) -> tuple[int, int]:
    """(period, offset) in seconds of the simple cron schedules in the catalog."""
    minute, hour = expr.split()[:2]
    if minute.startswith("*/"):
        return int(minute[2:]) * 60, 0
    if hour == "*":
        return 3600, int(minute) * 60
    return 86_400, int(hour) * 3600 + int(minute) * 60


class WorkerTraffic:
    """Builds worker invocations and plain HTTP requests (no agent fields) as items."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.pool = TemplatePool(WORKER_TEMPLATES)
        workers = [s for s in cd.SERVICES if s.role == "worker"]
        self.pick_service = WeightedChoice(
            [env.service_index[s.name] for s in workers], [s.weight for s in workers]
        )
        self.pick_route = [
            WeightedChoice(s.routes, [r.weight for r in s.routes]) if s.routes else None
            for s in cd.SERVICES
        ]
        self.pick_trigger = [WeightedChoice(_TRIGGERS, s.triggers) for s in cd.SERVICES]
        self.pick_colo = WeightedChoice(cd.COLOS, cd.COLO_WEIGHTS)
        self.pick_level = WeightedChoice(("DEBUG", "INFO", "WARN", "ERROR"), (30, 52, 14, 4))
        self.pick_children = WeightedChoice((0, 1, 2, 3, 4), (25, 30, 25, 12, 8))
        self.pick_logs = WeightedChoice((0, 1, 2, 3, 4), (22, 30, 24, 14, 10))
        self.pick_outcome = WeightedChoice(cd.OUTCOME_ERRORS, (80, 12, 8))
        self.script = [A.S_SCRIPT(s.name) for s in cd.SERVICES]
        # Subrequest kinds per service: fetches to its upstreams plus platform bindings.
        self.subrequests = [
            [("fetch", h) for h in s.upstreams]
            + [("kv", "get"), ("kv", "put"), ("d1", "query"), ("cache", "match")]
            for s in cd.SERVICES
        ]

    def invocation(self, t0: int) -> list[Item]:
        """One invocation of a worker service picked by traffic weight."""
        env = self.env
        r = env.rng
        svc_i: int = self.pick_service(r.random())  # type: ignore[assignment]
        svc = cd.SERVICES[svc_i]
        trigger: str = self.pick_trigger[svc_i](r.random())  # type: ignore[assignment]
        return self._request(t0, svc_i, svc, trigger)

    def plain_request(self, t0: int, svc_i: int) -> list[Item]:
        """An HTTP request to an agent server that is not an agent run (health, listings)."""
        return self._request(t0, svc_i, cd.SERVICES[svc_i], "http")

    def _request(self, t0: int, svc_i: int, svc: cd.Service, trigger: str) -> list[Item]:
        env = self.env
        r = env.rng
        rnd = r.random
        burst = env.service_bursts[svc_i].rate(t0)
        fail = rnd() < 0.004 + burst
        route = None
        # Only workers carry the Cloudflare/FaaS fields; the agent servers are plain HTTP.
        is_worker = svc.role == "worker"
        attrs: list[bytes] = []
        if is_worker:
            attrs += (A.S_TRIGGER(trigger), self.script[svc_i], A.S_COLO(self.pick_colo(rnd())))
        if trigger == "http":
            route = self.pick_route[svc_i](rnd())  # type: ignore[misc]
            assert isinstance(route, cd.Route)
            name = f"{route.method} {route.route}"
            median = route.median_ms
            path = (
                route.route.replace(":id", str(r.getrandbits(24)))
                if ":id" in route.route
                else route.route
            )
            if fail:
                status = cd.HTTP_5XX[int(rnd() * len(cd.HTTP_5XX))]
            elif rnd() < 0.05 + burst * 0.3:
                status = cd.HTTP_4XX[int(rnd() * len(cd.HTTP_4XX))]
            else:
                status = 200 if route.method in ("GET", "PUT", "PATCH") or rnd() < 0.6 else 201
            b = r.getrandbits(32)
            attrs += (
                A.S_METHOD(route.method),
                A.S_ROUTE(route.route),
                A.S_URL(f"https://{svc.host}{path}"),
                A.S_STATUS(status),
                A.S_CLIENT(f"{(b >> 24) % 223 + 1}.{b >> 16 & 255}.{b >> 8 & 255}.{b & 255}"),
            )
        elif trigger == "timer":
            cron = svc.crons[int(rnd() * len(svc.crons))]
            name = "cron " + cron
            median = 800.0
            status = 0
            # Crons fire on their schedule (plus dispatch jitter), not at random instants.
            period, offset = cron_period(cron)
            period *= NS_PER_S
            snapped = t0 - (t0 - offset * NS_PER_S) % period + int(rnd() * 2 * NS_PER_S)
            if snapped >= env.start_ns:
                t0 = snapped
        else:
            name = "queue " + svc.queues[int(rnd() * len(svc.queues))]
            median = 120.0
            status = 0
        outcome = self.pick_outcome(rnd()) if fail else "ok"
        dur_ms = env.lognormal_ms(median, 0.9)
        if outcome == "exceededCpu":
            dur_ms += 50.0
        elif status == 504:
            dur_ms = 30_000.0 + dur_ms
        cpu_ms = int(dur_ms * (0.05 + 0.35 * rnd())) + 1
        request_id = f"{r.getrandbits(64):016x}"
        if is_worker:
            attrs += (
                A.S_OUTCOME(outcome),
                A.S_CPU_MS(cpu_ms),
                A.S_INVOCATION(request_id),
                A.S_COLDSTART(rnd() < 0.03),
            )
        start = env.clamp(t0)
        end = start + int(dur_ms * NS_PER_MS)
        trace_id = env.trace_id()
        root_id = env.span_id()

        exc = None
        if fail:
            if outcome == "exceededCpu":
                exc = CPU_EXCEPTION
            elif outcome == "canceled":
                exc = CANCEL_EXCEPTION
            else:
                etype, tpl = EXCEPTION_TEMPLATES[int(rnd() * len(EXCEPTION_TEMPLATES))]
                exc = (etype, tpl.render(r))
            attrs.append(A.S_ERROR_TYPE(exc[0]))

        items: list[Item] = []
        slot = svc_i * 2
        if rnd() >= env.drop_root_rate:
            items.append(
                (
                    slot,
                    wire.span(
                        trace_id,
                        root_id,
                        None,
                        span_name(name),
                        wire.KIND_SERVER,
                        start,
                        end,
                        b"".join(attrs),
                        wire.STATUS_ERROR if fail else 0,
                        exc[1] if exc else "",
                    ),
                    None,
                )
            )
        # Subrequests run one after another inside the invocation.
        n_children: int = self.pick_children(rnd())  # type: ignore[assignment]
        cursor = start + int(NS_PER_MS * (0.2 + rnd()))
        subs = self.subrequests[svc_i]
        for k in range(n_children):
            kind, what = subs[int(rnd() * len(subs))]
            remaining = end - cursor
            if remaining <= 0:
                break
            c_dur = int(remaining * (0.1 + 0.5 * rnd()))
            c_start = env.clamp(cursor)
            c_attrs: list[bytes]
            c_status = 0
            if kind == "fetch":
                c_name = "fetch " + what
                code = 200
                if fail and k == n_children - 1 and exc and exc[0] == "Error":
                    code, c_status = 502, wire.STATUS_ERROR
                c_attrs = [
                    A.S_METHOD("GET" if rnd() < 0.7 else "POST"),
                    A.S_URL(f"https://{what}/v1/{r.getrandbits(20)}"),
                    A.S_STATUS(code),
                ]
            else:
                c_name = f"{kind}.{what}"
                c_attrs = []
            items.append(
                (
                    slot,
                    wire.span(
                        trace_id,
                        env.span_id(),
                        root_id,
                        span_name(c_name),
                        wire.KIND_CLIENT,
                        c_start,
                        c_start + c_dur,
                        b"".join(c_attrs),
                        c_status,
                        "upstream error" if c_status else "",
                    ),
                    None,
                )
            )
            cursor += c_dur
        # Logs of the invocation; a failing one ends with its ERROR log.
        n_logs: int = self.pick_logs(rnd())  # type: ignore[assignment]
        if fail and n_logs == 0:
            n_logs = 1
        log_inv = A.L_INVOCATION(request_id) if is_worker else b""
        pool = self.pool
        dur_ns = end - start
        for k in range(n_logs):
            last = fail and k == n_logs - 1
            level: str = "ERROR" if last else self.pick_level(rnd())  # type: ignore[assignment]
            tpl = pool.choose(level, rnd())
            l_attrs = log_inv
            if level == "ERROR":
                if exc is None or k != n_logs - 1:
                    etype, etpl = EXCEPTION_TEMPLATES[int(rnd() * len(EXCEPTION_TEMPLATES))]
                    e = (etype, etpl.render(r))
                else:
                    e = exc
                l_attrs = log_inv + A.L_EXC_TYPE(e[0]) + A.L_EXC_MESSAGE(e[1])
            ts = env.clamp(start + int(dur_ns * (k + rnd()) / n_logs))
            items.append(
                (
                    slot + 1,
                    wire.log_record(ts, _SEV[level], tpl.render(r), l_attrs, trace_id, root_id),
                    tpl.pattern,
                )
            )
        return items
