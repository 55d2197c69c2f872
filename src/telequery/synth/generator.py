"""Drive the builders over time and batch their output into OTLP export requests.

The range is cut into slices; each slice gets a share of the events proportional to a
seasonal weight (busy afternoons, quiet nights and weekends), and units of work (a worker
invocation, an agent conversation, ...) start at random instants inside it until the
slice's share is used. The last unit is trimmed so the total is exact; items of a unit are
ordered parents-first, so a trimmed unit never has a child without its parent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from telequery import semconv as sc
from telequery.synth import catalog_data as cd
from telequery.synth import wire
from telequery.synth.agents import AgentTraffic
from telequery.synth.common import NS_PER_S, Env, Item
from telequery.synth.templates import all_patterns
from telequery.synth.workers import WorkerTraffic

CLOUDFLARE_DATASET = "cloudflare-workers"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Share of units of work by kind (not of events: a conversation yields ~25 events, an
# invocation ~4). Tuned so agent conversations are about a third of all events.
_UNIT_MIX = (
    ("conversation", 0.092),
    ("direct_chat", 0.02),
    ("plain_request", 0.03),
    ("budget_credit", 0.002),
)


@dataclass
class GeneratedStats:
    """What a run produced; pass one to ``generate(stats=...)`` and read it afterwards."""

    events: int = 0
    spans: int = 0
    logs: int = 0
    batches: int = 0
    units: Counter[str] = field(default_factory=Counter)  # units of work by kind
    unit_events: Counter[str] = field(default_factory=Counter)  # events by unit kind
    templates: Counter[str] = field(default_factory=Counter)  # log pattern -> records emitted

    @property
    def templates_used(self) -> list[str]:
        """The distinct log message templates emitted, as ``<*>`` patterns, sorted."""
        return sorted(self.templates)


def message_templates() -> list[str]:
    """Every log message template the generator can emit, as ``<*>`` patterns."""
    return all_patterns()


def _to_ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def seasonality(t_ns: int) -> float:
    """Relative traffic at an instant: daily peak ~14:00 UTC, a lull at night and weekends,
    and a small bump at the top of each hour (cron jobs, dashboards refreshing)."""
    sec = t_ns // NS_PER_S
    hour = (sec % 86_400) / 3600.0
    daily = 0.3 + 0.7 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 2.0) / 24.0))
    weekday = (sec // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = 0.55 if weekday >= 5 else 1.0
    minute = (sec % 3600) / 60.0
    hourly = 1.0 + 0.25 * math.exp(-minute / 4.0)
    return daily * weekly * hourly


def _resources(org_dataset: str) -> tuple[list[bytes], list[bytes]]:
    res, scopes = [], []
    for s in cd.SERVICES:
        res.append(
            wire.resource(
                {
                    sc.SERVICE_NAME: s.name,
                    sc.SERVICE_VERSION: s.version,
                    sc.CLOUD_REGION: s.region,
                    sc.DATASET: CLOUDFLARE_DATASET if s.cloudflare else org_dataset,
                    sc.DEPLOYMENT_ENVIRONMENT: s.env,
                }
            )
        )
        if s.role == "agent":
            scopes.append(wire.scope("opentelemetry.instrumentation.genai", "0.4b0"))
        else:
            scopes.append(wire.scope("@microlabs/otel-cf-workers", "1.0.0-rc.52"))
    return res, scopes


def generate(
    seed: int,
    events: int,
    start: datetime,
    end: datetime,
    *,
    org_dataset: str = "otel",
    stats: GeneratedStats | None = None,
) -> Iterator[ExportTraceServiceRequest | ExportLogsServiceRequest]:
    """Yield export requests holding exactly ``events`` spans + log records in [start, end).

    Deterministic: the same arguments give byte-identical requests. Naive datetimes are
    taken as UTC. Requests hold a few hundred to ~2,000 items, traces and logs separately.
    """
    start_ns, end_ns = _to_ns(start), _to_ns(end)
    if events < 0:
        raise ValueError("events must be >= 0")
    if end_ns <= start_ns:
        raise ValueError("end must be after start")
    if events == 0:
        return
    env = Env(seed, start_ns, end_ns, org_dataset)
    rng = env.rng
    workers = WorkerTraffic(env)
    agents = AgentTraffic(env)
    builders = {
        "conversation": agents.conversation,
        "direct_chat": agents.direct_chat,
        "budget_credit": agents.budget_credit,
        "plain_request": lambda t: workers.plain_request(
            t, agents.agent_server[int(rng.random() * 2)]
        ),
        "invocation": workers.invocation,
    }
    cum_mix, acc = [], 0.0
    for kind, p in _UNIT_MIX:
        acc += p
        cum_mix.append((acc, kind))
    resources, scopes = _resources(org_dataset)
    n_svc = len(cd.SERVICES)
    bufs: list[list[bytes]] = [[] for _ in range(2 * n_svc)]

    def flush(parity: int) -> bytes:
        groups = []
        for i in range(n_svc):
            b = bufs[2 * i + parity]
            if b:
                groups.append(wire.resource_group(resources[i], scopes[i], b))
                bufs[2 * i + parity] = []
        return b"".join(groups)

    # Slices and their cumulative event targets.
    n_slices = max(1, min(events // 250, 4000))
    length = end_ns - start_ns
    bounds = [start_ns + length * k // n_slices for k in range(n_slices + 1)]
    weights = [seasonality((bounds[k] + bounds[k + 1]) // 2) for k in range(n_slices)]
    total_w = sum(weights)

    produced = n_spans = n_logs = 0
    span_limit = 500 + int(rng.random() * 1500)
    log_limit = 500 + int(rng.random() * 1500)
    acc = 0.0
    for k in range(n_slices):
        acc += weights[k]
        target = events if k == n_slices - 1 else round(events * acc / total_w)
        lo, width = bounds[k], bounds[k + 1] - bounds[k]
        while produced < target:
            t0 = lo + int(rng.random() * width)
            x = rng.random()
            kind = "invocation"
            for c, name in cum_mix:
                if x < c:
                    kind = name
                    break
            items: list[Item] = builders[kind](t0)
            if not items:
                continue
            remaining = events - produced
            if len(items) > remaining:
                items = items[:remaining]
            produced += len(items)
            logs_here = 0
            for slot, payload, pattern in items:
                bufs[slot].append(payload)
                if slot & 1:
                    logs_here += 1
                    if stats is not None:
                        stats.templates[pattern] += 1  # type: ignore[index]
            n_logs += logs_here
            n_spans += len(items) - logs_here
            if stats is not None:
                stats.units[kind] += 1
                stats.unit_events[kind] += len(items)
                stats.events += len(items)
                stats.spans += len(items) - logs_here
                stats.logs += logs_here
            if n_spans >= span_limit:
                yield _emit_traces(flush(0), stats)
                n_spans, span_limit = 0, 500 + int(rng.random() * 1500)
            if n_logs >= log_limit:
                yield _emit_logs(flush(1), stats)
                n_logs, log_limit = 0, 500 + int(rng.random() * 1500)
    if n_spans:
        yield _emit_traces(flush(0), stats)
    if n_logs:
        yield _emit_logs(flush(1), stats)


def _emit_traces(data: bytes, stats: GeneratedStats | None) -> ExportTraceServiceRequest:
    if stats is not None:
        stats.batches += 1
    return ExportTraceServiceRequest.FromString(data)


def _emit_logs(data: bytes, stats: GeneratedStats | None) -> ExportLogsServiceRequest:
    if stats is not None:
        stats.batches += 1
    return ExportLogsServiceRequest.FromString(data)
