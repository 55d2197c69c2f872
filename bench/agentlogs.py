"""A labelled set of agent and serverless log lines with known templates.

Loghub is system logs (Hadoop, sshd, kernels); what telequery mostly receives is what
agents, tool calls, LLM clients and Workers print. This set is written from what those
programs print (the lines of the Workers runtime, OpenAI/Anthropic client retries, agent
frameworks' tool loops, MCP servers, queue consumers), each template with typed slots, and
``lines()`` fills the slots with seeded random values, so every line has its template as a
label. It is scored with the same grouping accuracy as loghub (bench/patterns.py). It was
written before measuring the miner on it, and is not used to choose any constant.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

# (template with {slot}s, label). A label is the template as a pattern reader would want
# it: the slots are the variable parts.
TEMPLATES: tuple[str, ...] = (
    "tool {tool} failed: timeout after {ms}ms",
    "tool {tool} returned {n} results in {ms}ms",
    "calling tool {tool} with {n} arguments",
    "tool call {call_id} ({tool}) succeeded",
    "agent {agent} started run {run_id} for user {user}",
    "agent {agent} finished run {run_id}: {n} steps, {tokens} tokens, ${usd}",
    "agent {agent} hit max iterations ({n}) on run {run_id}",
    "LLM request to {model} took {ms}ms (input={tokens}, output={tokens2})",
    "Retrying request to /v1/chat/completions in {sec} seconds",
    "HTTP Request: POST https://api.{provider}.com/v1/{endpoint} \"HTTP/1.1 {status} {reason}\"",
    "rate limited by {provider} (429), backing off {ms}ms",
    "model {model} returned finish_reason={finish}",
    "prompt cache hit for {model}: {tokens} cached tokens",
    "context window nearly full for {model}: {tokens}/{tokens2} tokens",
    "session {session} resumed with {n} messages",
    "conversation {session} closed by {user}",
    "[{component}] guardrail {guardrail} blocked output for run {run_id}",
    "[{component}] memory store saved {n} items for {user}",
    "MCP server {mcp} connected ({n} tools)",
    "MCP server {mcp} disconnected: {mcperr}",
    "listing tools from MCP server {mcp}",
    "GET {path} {status} {ms}ms",
    "POST {path} {status} {ms}ms",
    "Worker exceeded CPU time limit ({ms}ms) on {path}",
    "Uncaught (in promise) TypeError: Cannot read properties of undefined (reading '{prop}')",
    "queue {queue} delivered batch of {n} messages (attempt {attempt})",
    "queue {queue} message {msg_id} retried ({attempt}/{n})",
    "cron {cron} triggered at {iso}",
    "KV GET {key} miss",
    "D1 query on {table} returned {n} rows in {ms}ms",
    "R2 put {object} ({bytes} bytes)",
    "Durable Object {do_id} hibernated after {sec}s idle",
    "cache {cache_status} for {path}",
    "embedding batch of {n} texts with {embed_model} took {ms}ms",
    "vector search in index {index} top_k={n} returned {n2} matches",
    "user {user} feedback: {feedback} on run {run_id}",
    "budget for {team} at {pct}% of ${usd}",
    "cost of run {run_id}: ${usd} ({tokens} tokens)",
    "webhook to {url} failed with status {status}",
    "validation error on field '{field}': expected {type}, got {type2}",
)

_TOOLS = ("web_search", "fetch_url", "code_interpreter", "sql_query", "vector_search",
          "get_weather", "calculator", "send_email", "create_ticket", "lookup_order",
          "github.search_code", "filesystem.read_file", "slack.post_message",
          "linear.create_issue", "postgres.query")
_AGENTS = ("support-triage", "research-assistant", "code-reviewer", "sales-copilot",
           "billing-helper", "onboarding_bot", "planner", "summarizer")
_MODELS = ("gpt-4o-mini", "gpt-4.1", "o3-mini", "claude-3-5-sonnet-20241022",
           "claude-sonnet-4-5", "gemini-2.5-flash", "llama-3.3-70b-instruct", "mistral-large")
_PROVIDERS = ("openai", "anthropic", "mistral", "groq", "together")
_ENDPOINTS = ("chat/completions", "messages", "embeddings", "responses")
_STATUS = ((200, "OK"), (201, "Created"), (400, "Bad Request"), (429, "Too Many Requests"),
           (500, "Internal Server Error"), (503, "Service Unavailable"))
_FINISH = ("stop", "length", "tool_calls", "content_filter")
_COMPONENTS = ("planner", "executor", "memory", "router", "guard")
_GUARDRAILS = ("pii-filter", "toxicity", "jailbreak", "topic_allowlist")
_MCP = ("github", "filesystem", "postgres", "slack", "linear", "browser")
_MCPERR = ("EOF", "timeout", "ECONNRESET", "closed")
_PATHS = ("/api/orders", "/api/users/me", "/v1/chat", "/healthz", "/api/search", "/webhooks/stripe")
_PROPS = ("map", "length", "id", "user", "then", "json")
_QUEUES = ("emails", "ingest-events", "billing", "thumbnails")
_CRONS = ("*/5 * * * *", "0 * * * *", "0 3 * * *")
_TABLES = ("users", "orders", "sessions", "products", "audit_log")
_CACHE = ("HIT", "MISS", "EXPIRED", "BYPASS")
_EMBED = ("text-embedding-3-small", "text-embedding-3-large", "voyage-3", "bge-m3")
_INDEXES = ("docs", "tickets", "kb_articles", "code")
_FEEDBACK = ("thumbs_up", "thumbs_down")
_TEAMS = ("growth", "support", "platform", "research")
_FIELDS = ("email", "amount", "quantity", "country", "start_date")
_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")


_B62 = string.ascii_letters + string.digits


def _hex(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice("0123456789abcdef") for _ in range(n))


def _word(rnd: random.Random, lo: int = 4, hi: int = 9) -> str:
    return "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(lo, hi)))


def _slots(rnd: random.Random) -> dict[str, Callable[[], str]]:
    status = rnd.choice(_STATUS)
    return {
        "tool": lambda: rnd.choice(_TOOLS),
        "agent": lambda: rnd.choice(_AGENTS),
        "model": lambda: rnd.choice(_MODELS),
        "provider": lambda: rnd.choice(_PROVIDERS),
        "endpoint": lambda: rnd.choice(_ENDPOINTS),
        "status": lambda: str(status[0]),
        "reason": lambda: status[1],
        "finish": lambda: rnd.choice(_FINISH),
        "component": lambda: rnd.choice(_COMPONENTS),
        "guardrail": lambda: rnd.choice(_GUARDRAILS),
        "mcp": lambda: rnd.choice(_MCP),
        "mcperr": lambda: rnd.choice(_MCPERR),
        "path": lambda: rnd.choice(_PATHS),
        "prop": lambda: rnd.choice(_PROPS),
        "queue": lambda: rnd.choice(_QUEUES),
        "cron": lambda: rnd.choice(_CRONS),
        "table": lambda: rnd.choice(_TABLES),
        "cache_status": lambda: rnd.choice(_CACHE),
        "embed_model": lambda: rnd.choice(_EMBED),
        "index": lambda: rnd.choice(_INDEXES),
        "feedback": lambda: rnd.choice(_FEEDBACK),
        "team": lambda: rnd.choice(_TEAMS),
        "field": lambda: rnd.choice(_FIELDS),
        "type": lambda: rnd.choice(_TYPES),
        "type2": lambda: rnd.choice(_TYPES),
        "user": lambda: rnd.choice((f"user_{rnd.randint(1, 999)}", f"{_word(rnd)}@example.com",
                                    _word(rnd))),
        "session": lambda: f"sess_{_hex(rnd, 12)}",
        "run_id": lambda: f"run_{_hex(rnd, 10)}",
        "call_id": lambda: f"call_{''.join(rnd.choice(_B62) for _ in range(24))}",
        "msg_id": lambda: _hex(rnd, 32),
        "do_id": lambda: _hex(rnd, 64),
        "key": lambda: f"session:{_hex(rnd, 8)}",
        "object": lambda: f"uploads/{_hex(rnd, 6)}/{_word(rnd)}.png",
        "url": lambda: f"https://{_word(rnd)}.example.com/hooks/{_hex(rnd, 6)}",
        "iso": lambda: f"2026-11-{rnd.randint(10, 28)}T{rnd.randint(0, 23):02d}:00:00.000Z",
        "ms": lambda: str(rnd.randint(1, 30000)),
        "sec": lambda: f"{rnd.uniform(0.2, 9.0):.6f}",
        "n": lambda: str(rnd.randint(0, 50)),
        "n2": lambda: str(rnd.randint(0, 50)),
        "attempt": lambda: str(rnd.randint(1, 5)),
        "tokens": lambda: str(rnd.randint(10, 200000)),
        "tokens2": lambda: str(rnd.randint(10, 200000)),
        "usd": lambda: f"{rnd.uniform(0.0001, 40):.4f}",
        "pct": lambda: str(rnd.randint(1, 120)),
        "bytes": lambda: str(rnd.randint(100, 10_000_000)),
    }


def lines(n: int = 4000, seed: int = 7) -> tuple[list[str], list[int]]:
    """``n`` lines and, for each, the index of its template in ``TEMPLATES``."""
    rnd = random.Random(seed)
    out: list[str] = []
    labels: list[int] = []
    weights = [1.0 / (1 + i % 7) for i in range(len(TEMPLATES))]  # uneven, like real logs
    for _ in range(n):
        i = rnd.choices(range(len(TEMPLATES)), weights)[0]
        slots = _slots(rnd)
        out.append(TEMPLATES[i].format_map({k: f() for k, f in slots.items()}))
        labels.append(i)
    return out, labels
