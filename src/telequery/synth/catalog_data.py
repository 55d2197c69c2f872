"""The fixed cast of the synthetic world: services, routes, agents, models, tools, people.

Plain data, no randomness: the seed only decides who does what when, so two runs with
different seeds still describe the same company (handy when comparing demo screenshots).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Route:
    """An HTTP route a worker serves; ``:id`` segments are filled with random ids."""

    method: str
    route: str
    weight: float = 1.0
    median_ms: float = 40.0


@dataclass(frozen=True)
class Service:
    """A deployed service: one OTel Resource.

    ``triggers`` weights fetch (http) / cron (timer) / queue (pubsub) invocations; ``role``
    is ``worker`` (serverless worker) or ``agent`` (the agent server).
    """

    name: str
    version: str
    region: str
    host: str
    weight: float
    routes: tuple[Route, ...] = ()
    crons: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    triggers: tuple[float, float, float] = (1.0, 0.0, 0.0)
    role: str = "worker"
    cloudflare: bool = False  # sends to the "cloudflare-workers" dataset
    env: str = "production"
    upstreams: tuple[str, ...] = field(default=())


R = Route
SERVICES: tuple[Service, ...] = (
    Service(
        "api-gateway",
        "2.14.3",
        "us-east-1",
        "api.acme.dev",
        14.0,
        (
            R("GET", "/api/users/:id", 6, 25),
            R("GET", "/api/products", 5, 35),
            R("GET", "/api/products/:id", 4, 20),
            R("POST", "/api/orders", 2, 90),
            R("GET", "/api/orders/:id", 2, 30),
            R("GET", "/healthz", 3, 2),
            R("PUT", "/api/users/:id/preferences", 0.6, 45),
            R("DELETE", "/api/sessions/:id", 0.4, 15),
        ),
        upstreams=("users.internal.acme.dev", "catalog.internal.acme.dev"),
        cloudflare=True,
    ),
    Service(
        "auth-service",
        "1.8.0",
        "us-east-1",
        "auth.acme.dev",
        8.0,
        (
            R("POST", "/oauth/token", 5, 60),
            R("GET", "/.well-known/jwks.json", 3, 3),
            R("POST", "/login", 2, 120),
            R("POST", "/logout", 0.5, 10),
            R("GET", "/session/:id", 2, 8),
        ),
        crons=("0 * * * *",),
        triggers=(0.97, 0.03, 0.0),
        upstreams=("id.acme.dev",),
    ),
    Service(
        "checkout-worker",
        "3.2.1",
        "eu-west-1",
        "checkout.acme.dev",
        6.0,
        (
            R("POST", "/checkout", 3, 240),
            R("POST", "/checkout/:id/confirm", 2, 310),
            R("GET", "/cart/:id", 4, 25),
            R("POST", "/cart/:id/items", 2, 40),
        ),
        queues=("orders", "payments"),
        triggers=(0.75, 0.0, 0.25),
        upstreams=("api.stripe.com", "api.paypal.com"),
        cloudflare=True,
    ),
    Service(
        "user-service",
        "5.0.4",
        "us-west-2",
        "users.internal.acme.dev",
        6.0,
        (
            R("GET", "/users/:id", 6, 12),
            R("PATCH", "/users/:id", 1, 35),
            R("GET", "/users/:id/teams", 2, 18),
            R("POST", "/users", 0.4, 80),
        ),
        upstreams=("postgres.internal",),
    ),
    Service(
        "search-api",
        "0.19.2",
        "us-east-1",
        "search.acme.dev",
        6.0,
        (
            R("GET", "/search", 8, 85),
            R("GET", "/suggest", 5, 15),
            R("POST", "/reindex/:id", 0.3, 900),
        ),
        crons=("*/15 * * * *",),
        triggers=(0.98, 0.02, 0.0),
        upstreams=("opensearch.internal",),
    ),
    Service(
        "image-resizer",
        "1.3.7",
        "eu-central-1",
        "img.acme.dev",
        5.0,
        (
            R("GET", "/img/:id", 9, 70),
            R("POST", "/img/upload", 1, 450),
        ),
        upstreams=("r2.acme-assets",),
    ),
    Service(
        "notifications",
        "2.0.0",
        "us-east-1",
        "notify.acme.dev",
        4.0,
        (
            R("POST", "/notify/email", 2, 150),
            R("POST", "/notify/push", 2, 90),
        ),
        crons=("*/5 * * * *",),
        queues=("emails", "push"),
        triggers=(0.3, 0.1, 0.6),
        upstreams=("api.sendgrid.com", "fcm.googleapis.com"),
    ),
    Service(
        "billing-cron",
        "1.1.0",
        "us-east-1",
        "billing.acme.dev",
        1.5,
        (),
        crons=("0 2 * * *", "*/10 * * * *", "30 * * * *"),
        triggers=(0.0, 1.0, 0.0),
        upstreams=("api.stripe.com", "postgres.internal"),
    ),
    Service(
        "inventory-service",
        "4.6.0",
        "ap-southeast-1",
        "inventory.acme.dev",
        4.0,
        (
            R("GET", "/inventory/:id", 6, 20),
            R("POST", "/inventory/:id/reserve", 2, 55),
            R("POST", "/inventory/sync", 0.3, 1200),
        ),
        queues=("stock-updates",),
        triggers=(0.85, 0.0, 0.15),
        upstreams=("postgres.internal",),
    ),
    Service(
        "analytics-ingest",
        "0.9.12",
        "us-west-2",
        "collect.acme.dev",
        5.0,
        (
            R("POST", "/collect", 10, 8),
            R("POST", "/batch", 2, 60),
        ),
        queues=("events",),
        triggers=(0.7, 0.0, 0.3),
        upstreams=("clickhouse.internal",),
    ),
    Service(
        "agent-server",
        "0.42.0",
        "us-east-1",
        "agents.acme.dev",
        0.0,
        (
            R("GET", "/health", 5, 2),
            R("GET", "/v1/agents", 2, 25),
            R("GET", "/v1/conversations/:id", 3, 40),
            R("POST", "/v1/conversations", 1, 60),
            R("GET", "/v1/models", 1, 15),
        ),
        role="agent",
        upstreams=("api.openai.com", "api.anthropic.com"),
    ),
    Service(
        "copilot-api",
        "1.5.2",
        "eu-west-1",
        "copilot.acme.dev",
        0.0,
        (
            R("GET", "/health", 3, 2),
            R("GET", "/v1/threads/:id", 2, 30),
        ),
        role="agent",
        upstreams=("api.openai.com",),
    ),
)

COLOS = (
    "IAD",
    "EWR",
    "ORD",
    "DFW",
    "SJC",
    "LAX",
    "SEA",
    "AMS",
    "FRA",
    "LHR",
    "CDG",
    "NRT",
    "SIN",
    "SYD",
    "GRU",
    "BOM",
    "HKG",
    "MAD",
    "WAW",
    "YYZ",
)
COLO_WEIGHTS = (9, 6, 5, 4, 5, 4, 2, 5, 5, 6, 3, 3, 3, 2, 2, 2, 2, 1, 1, 2)

OUTCOME_ERRORS = ("exception", "exceededCpu", "canceled")
HTTP_4XX = (400, 401, 403, 404, 404, 404, 409, 422, 429)
HTTP_5XX = (500, 500, 500, 502, 503, 503, 504)
REASON = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    429: "Too Many Requests",
}
