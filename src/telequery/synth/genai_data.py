"""The GenAI side of the synthetic world: models and prices, tools, agents, people, teams.

Plain data like ``catalog_data``; prices are USD per million tokens, close to list prices
in 2025, so cost charts have realistic magnitudes.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- GenAI ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """An LLM: request name, the dated name providers answer with, and USD per 1M tokens."""

    request: str
    response: str
    provider: str
    price_in: float
    price_out: float
    price_cache_read: float
    price_cache_write: float
    ttft_ms: float  # median time to first token
    tokens_per_s: float


MODELS: tuple[Model, ...] = (
    Model("gpt-4o", "gpt-4o-2024-08-06", "openai", 2.5, 10.0, 1.25, 0.0, 450, 90),
    Model("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai", 0.15, 0.6, 0.075, 0.0, 300, 140),
    Model("gpt-4.1", "gpt-4.1-2025-04-14", "openai", 2.0, 8.0, 0.5, 0.0, 500, 80),
    Model("o3-mini", "o3-mini-2025-01-31", "openai", 1.1, 4.4, 0.55, 0.0, 1800, 120),
    Model(
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "anthropic",
        3.0,
        15.0,
        0.3,
        3.75,
        700,
        70,
    ),
    Model(
        "claude-haiku-4-5", "claude-haiku-4-5-20251001", "anthropic", 1.0, 5.0, 0.1, 1.25, 350, 150
    ),
    Model(
        "claude-opus-4-1", "claude-opus-4-1-20250805", "anthropic", 15.0, 75.0, 1.5, 18.75, 1100, 40
    ),
    Model("gemini-2.5-pro", "gemini-2.5-pro", "google", 1.25, 10.0, 0.31, 0.0, 900, 85),
    Model("gemini-2.5-flash", "gemini-2.5-flash", "google", 0.3, 2.5, 0.075, 0.0, 400, 180),
    Model("mistral-large-latest", "mistral-large-2411", "mistral", 2.0, 6.0, 0.0, 0.0, 500, 60),
    Model("mistral-small-latest", "mistral-small-2503", "mistral", 0.1, 0.3, 0.0, 0.0, 250, 150),
)
MODEL_BY_NAME = {m.request: m for m in MODELS}
PROVIDERS = tuple(sorted({m.provider for m in MODELS}))
# The gateway's routing aliases a direct (agent-less) call may name instead of a model;
# index 0 is a direct call to the model itself.
VIRTUAL_MODELS = (None, "prod/chat-default", "prod/chat-fast")
PROVIDER_ACCOUNT_TYPES = {"openai": "openai", "anthropic": "anthropic",
                          "gcp.gemini": "google-vertex", "aws.bedrock": "aws-bedrock"}
CHAT_ERRORS = {  # error.type per provider failure, the agent server's resulting status
    "rate_limit": ("rate_limit_exceeded", 429),
    "overloaded": ("overloaded_error", 503),
    "timeout": ("timeout", 504),
    "context": ("context_length_exceeded", 400),
    "server": ("internal_server_error", 502),
}


@dataclass(frozen=True)
class Tool:
    """A tool an agent can call; ``mcp_server`` set means it is reached over MCP."""

    name: str
    display: str
    type: str  # gen_ai.tool.type: function | extension | datastore
    capability: str
    median_ms: float
    mcp_server: str | None = None
    cost_usd: float = 0.0  # metered per call (budget posting with meter_source=tool)


TOOLS: tuple[Tool, ...] = (
    Tool("web_search", "Web Search", "extension", "research", 900, cost_usd=0.005),
    Tool("fetch_url", "Fetch URL", "extension", "research", 600),
    Tool("code_interpreter", "Code Interpreter", "extension", "compute", 2500, cost_usd=0.03),
    Tool("sql_query", "SQL Query", "datastore", "data", 350),
    Tool("vector_search", "Knowledge Base Search", "datastore", "data", 120),
    Tool("get_weather", "Weather", "function", "utilities", 200),
    Tool("calculator", "Calculator", "function", "utilities", 3),
    Tool("send_email", "Send Email", "function", "communication", 400),
    Tool("create_ticket", "Create Ticket", "function", "support", 300),
    Tool("lookup_order", "Order Lookup", "function", "support", 80),
    Tool("refund_order", "Issue Refund", "function", "support", 450),
    Tool("github.search_code", "GitHub: Search Code", "extension", "engineering", 700, "github"),
    Tool(
        "github.create_pull_request", "GitHub: Open PR", "extension", "engineering", 1200, "github"
    ),
    Tool(
        "github.get_file_contents", "GitHub: Read File", "extension", "engineering", 250, "github"
    ),
    Tool("filesystem.read_file", "Read File", "extension", "engineering", 15, "filesystem"),
    Tool("filesystem.write_file", "Write File", "extension", "engineering", 25, "filesystem"),
    Tool("postgres.query", "Postgres Query", "datastore", "data", 180, "postgres"),
    Tool("slack.post_message", "Slack: Post Message", "extension", "communication", 350, "slack"),
    Tool("slack.search_messages", "Slack: Search", "extension", "communication", 500, "slack"),
    Tool("linear.create_issue", "Linear: Create Issue", "extension", "engineering", 420, "linear"),
    Tool("browser.navigate", "Browser: Navigate", "extension", "research", 1800, "playwright"),
    Tool("browser.screenshot", "Browser: Screenshot", "extension", "research", 900, "playwright"),
)
TOOL_BY_NAME = {t.name: t for t in TOOLS}
TOOL_ERRORS = (
    "ToolExecutionError",
    "ValidationError",
    "PermissionDenied",
    "NotFound",
    "RateLimited",
)


@dataclass(frozen=True)
class Agent:
    """An agent: its framework, how it is served, which models and tools it uses."""

    name: str
    id: str
    framework: str
    server_type: str  # a2a | mcp | http
    service: str
    models: tuple[str, ...]
    tools: tuple[str, ...]
    blueprint: str
    app: str
    weight: float


AGENTS: tuple[Agent, ...] = (
    Agent(
        "support-triage",
        "agt_01J8SUPPORT",
        "langgraph",
        "http",
        "agent-server",
        ("gpt-4o-mini", "claude-haiku-4-5"),
        ("lookup_order", "create_ticket", "refund_order", "vector_search", "send_email"),
        "support-v3",
        "helpdesk",
        10,
    ),
    Agent(
        "code-reviewer",
        "agt_01J8CODEREV",
        "openai-agents",
        "a2a",
        "agent-server",
        ("claude-sonnet-4-5", "gpt-4.1"),
        (
            "github.search_code",
            "github.get_file_contents",
            "github.create_pull_request",
            "filesystem.read_file",
        ),
        "code-review",
        "devtools",
        6,
    ),
    Agent(
        "research-assistant",
        "agt_01J8RESEARCH",
        "crewai",
        "http",
        "agent-server",
        ("gpt-4o", "gemini-2.5-pro", "claude-sonnet-4-5"),
        ("web_search", "fetch_url", "browser.navigate", "browser.screenshot", "vector_search"),
        "deep-research",
        "workbench",
        5,
    ),
    Agent(
        "data-analyst",
        "agt_01J8ANALYST",
        "pydantic-ai",
        "mcp",
        "agent-server",
        ("gpt-4.1", "o3-mini", "claude-sonnet-4-5"),
        ("sql_query", "postgres.query", "code_interpreter", "calculator"),
        "analytics-copilot",
        "workbench",
        5,
    ),
    Agent(
        "sales-copilot",
        "agt_01J8SALES",
        "langgraph",
        "http",
        "copilot-api",
        ("gpt-4o-mini", "gemini-2.5-flash"),
        ("vector_search", "send_email", "slack.post_message", "get_weather"),
        "sales-assist",
        "crm",
        4,
    ),
    Agent(
        "incident-responder",
        "agt_01J8INCIDENT",
        "autogen",
        "a2a",
        "agent-server",
        ("claude-opus-4-1", "claude-sonnet-4-5"),
        (
            "slack.search_messages",
            "slack.post_message",
            "linear.create_issue",
            "postgres.query",
            "fetch_url",
        ),
        "sre-oncall",
        "ops",
        2,
    ),
    Agent(
        "docs-writer",
        "agt_01J8DOCS",
        "llamaindex",
        "mcp",
        "copilot-api",
        ("mistral-large-latest", "mistral-small-latest", "gpt-4o-mini"),
        (
            "vector_search",
            "filesystem.read_file",
            "filesystem.write_file",
            "github.get_file_contents",
        ),
        "docs-gen",
        "devtools",
        3,
    ),
    Agent(
        "travel-planner",
        "agt_01J8TRAVEL",
        "openai-agents",
        "http",
        "copilot-api",
        ("gpt-4o", "gemini-2.5-flash"),
        ("web_search", "get_weather", "calculator", "send_email"),
        "concierge",
        "consumer",
        2,
    ),
)

HARNESSES = (
    ("hrn_web", "web-chat"),
    ("hrn_slack", "slack-bot"),
    ("hrn_api", "public-api"),
    ("hrn_ide", "ide-extension"),
    ("hrn_cli", "cli"),
)
HARNESS_WEIGHTS = (8, 4, 5, 3, 1)

TEAMS = (
    "platform",
    "payments",
    "growth",
    "support",
    "data",
    "security",
    "mobile",
    "infra",
    "research",
    "sales",
)
VIRTUAL_ACCOUNTS = (
    "va-ci-pipeline",
    "va-nightly-evals",
    "va-support-bot",
    "va-etl",
    "va-partner-acme",
    "va-loadtest",
)

FIRST = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yara",
    "zoe",
    "liam",
    "mia",
    "noah",
    "ava",
    "kenji",
    "priya",
    "mateo",
    "lena",
    "omar",
)
LAST = (
    "smith",
    "jones",
    "garcia",
    "miller",
    "davis",
    "lopez",
    "wilson",
    "nguyen",
    "kim",
    "patel",
    "muller",
    "rossi",
    "novak",
    "tanaka",
    "silva",
)
EMAIL_DOMAINS = ("acme.dev", "acme.dev", "acme.dev", "contractor.acme.dev")


@dataclass(frozen=True)
class User:
    """A person who talks to agents; belongs to one or two teams."""

    id: str
    email: str
    display: str
    teams: tuple[str, ...]


def _build_users() -> tuple[User, ...]:
    users = []
    for i in range(160):
        first = FIRST[(i * 7) % len(FIRST)]
        last = LAST[(i * 11 + i // len(FIRST)) % len(LAST)]
        suffix = "" if i < len(FIRST) * 2 else str(i)
        email = f"{first}.{last}{suffix}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}"
        teams = (TEAMS[i % len(TEAMS)],)
        if i % 3 == 0:
            teams += (TEAMS[(i * 3 + 1) % len(TEAMS)],)
        teams = tuple(dict.fromkeys(teams))
        users.append(
            User(
                f"usr_{i * 7919 % 100000:05d}{i:03d}",
                email,
                f"{first.title()} {last.title()}",
                teams,
            )
        )
    return tuple(users)


USERS = _build_users()
VA_TEAMS = {va: (TEAMS[i % len(TEAMS)],) for i, va in enumerate(VIRTUAL_ACCOUNTS)}
CURRENCY_EUR_SHARE = 0.06  # a few budgets are kept in EUR
EUR_PER_USD = 0.92


def _user_message(text: str) -> str:
    """``gen_ai.input.messages`` of one user turn (the GenAI conventions' JSON)."""
    import json

    return json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])


# What users ask, as the first message of a turn; some carry personal data, which ingest
# redacts (docs/content.md), so the demo shows both.
PROMPTS: tuple[str, ...] = tuple(_user_message(t) for t in (
    "Where is my order? It was supposed to arrive on Monday.",
    "Can you summarise the last three support tickets for the Acme account?",
    "Please refund order 88412, the item arrived broken. Reach me at dana.kim@example.com",
    "What changed in the pricing page since last week?",
    "Write a SQL query that counts signups per day for the last month.",
    "My card 4242 4242 4242 4242 was charged twice, can you check?",
    "Find the GitHub issue about the flaky login test and link it here.",
    "Call me back on +1 415-555-0143 about the enterprise plan.",
    "Explain why the nightly export failed and how to fix it.",
    "Draft a friendly reply to a customer asking for an invoice copy.",
    "Which of our docs mention the retention settings?",
    "Translate this release note into German and French.",
))
