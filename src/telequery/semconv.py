"""Attribute keys telequery understands, named once.

The OTLP -> row mapping (``ingest.mapping``) and the synthetic generator (``synth``) both
import these names, so the generator can only emit what the mapping reads. Keys follow
the OpenTelemetry semantic conventions where one exists (``gen_ai.*`` from the GenAI
conventions, ``http.*``/``url.*``, ``faas.*``, ``cloud.*``, ``service.*``, ``error.type``);
the few that no convention covers (worker outcome, cost, budget postings, reporting
context such as harness and blueprint) use the ``cloudflare.*``, ``gen_ai.usage.cost``
and ``telequery.*`` prefixes and are documented in docs/datasets.md.
"""

from __future__ import annotations

# --- resource -------------------------------------------------------------------------
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"
CLOUD_REGION = "cloud.region"
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"
DATASET = "telequery.dataset"  # which dataset a resource's telemetry lands in

# --- worker / HTTP ----------------------------------------------------------------------
FAAS_TRIGGER = "faas.trigger"  # semconv values: http | timer | pubsub | datasource | other
FAAS_INVOCATION_ID = "faas.invocation_id"  # -> request_id
FAAS_COLDSTART = "faas.coldstart"
HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_STATUS_CODE = "http.response.status_code"
URL_FULL = "url.full"
CLIENT_ADDRESS = "client.address"
CF_OUTCOME = "cloudflare.outcome"  # ok | exception | exceededCpu | canceled
CF_COLO = "cloudflare.colo"  # -> origin (the data centre that ran the invocation)
CF_SCRIPT_NAME = "cloudflare.script_name"
CF_CPU_TIME_MS = "cloudflare.cpu_time_ms"
ERROR_TYPE = "error.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_TYPE = "exception.type"

# Cloudflare names a worker's trigger by its event type; OTel by faas.trigger.
TRIGGER_FROM_FAAS = {"http": "fetch", "timer": "cron", "pubsub": "queue"}

# --- GenAI (OTel GenAI semantic conventions) --------------------------------------------
GEN_AI_OPERATION = "gen_ai.operation.name"  # invoke_agent | chat | execute_tool | ...
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # older spelling of the provider
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
# telequery's own key: a span's gen_ai.* events (content in event form), as one JSON list
GEN_AI_SPAN_EVENTS = "telequery.gen_ai.events"
# content key of a gen_ai.* log event's body
CONTENT_LOG_BODY = "log.body"
GEN_AI_CACHE_READ_TOKENS = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation_input_tokens"
GEN_AI_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_COST = "gen_ai.usage.cost"  # USD; not in semconv yet, the common extension
GEN_AI_TTFT_MS = "gen_ai.response.time_to_first_token_ms"
# message content (kept apart from the attribute maps by ingest.content)
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"

OP_INVOKE_AGENT = "invoke_agent"
OP_CHAT = "chat"
OP_EXECUTE_TOOL = "execute_tool"

# --- users, tenancy of the caller (not of telequery) ------------------------------------
USER_ID = "user.id"
USER_EMAIL = "user.email"
TEAM = "telequery.team"  # array of team names; the gateway unnests it
VIRTUAL_ACCOUNT = "telequery.virtual_account"
AGENT_FRAMEWORK = "telequery.agent.framework"  # langgraph, crewai, openai-agents, ...
AGENT_SERVER_TYPE = "telequery.agent.server_type"  # a2a, mcp, http
# AI-gateway attributes with no GenAI semconv (docs/datasets.md "Gateway metrics")
GATEWAY_VIRTUAL_MODEL = "telequery.gateway.virtual_model"  # the routing alias called
GATEWAY_ERROR_CODE = "telequery.gateway.error_code"  # provider error code, e.g. rate_limited
GATEWAY_PROVIDER_ACCOUNT_TYPE = "telequery.gateway.provider_account_type"
GATEWAY_INTER_TOKEN_MS = "telequery.gateway.inter_token_latency_ms"
GATEWAY_TIME_PER_OUTPUT_TOKEN_MS = "telequery.gateway.time_per_output_token_ms"
# guardrail evaluations (a span per evaluation)
GUARDRAIL_NAME = "telequery.guardrail.name"
GUARDRAIL_SCOPE = "telequery.guardrail.scope"  # input | output
GUARDRAIL_RESULT = "telequery.guardrail.result"  # pass | fail | error
# cache lookups (on the LLM call span the gateway served or forwarded)
CACHE_LOOKUP_STATUS = "telequery.cache.lookup_status"  # hit | miss | error
CACHE_TYPE = "telequery.cache.type"  # exact | semantic
CACHE_NAMESPACE = "telequery.cache.namespace"
CACHE_SAVED_INPUT_TOKENS = "telequery.cache.saved_input_tokens"
CACHE_SAVED_OUTPUT_TOKENS = "telequery.cache.saved_output_tokens"
CACHE_SAVED_COST = "telequery.cache.saved_cost"  # USD
# routing / rate-limit / budget rule applications (a span per rule applied)
RULE_TYPE = "telequery.gateway.rule.type"  # routing | ratelimit | budget
RULE_ID = "telequery.gateway.rule.id"
# routed | fallback | retried | allowed | throttled | blocked
RULE_RESULT = "telequery.gateway.rule.result"
RULE_TARGET_MODEL = "telequery.gateway.rule.target_model"
MCP_SERVER_NAME = "mcp.server.name"
MCP_METHOD_NAME = "mcp.method.name"

# --- reporting context (Everruns-style semantic layer) ---------------------------------
PRINCIPAL = "telequery.principal"
HARNESS_ID = "telequery.harness.id"
HARNESS_NAME = "telequery.harness.name"
APP = "telequery.app"
BLUEPRINT = "telequery.blueprint"
TURN_ID = "telequery.turn.id"
TURN_ITERATIONS = "telequery.turn.iterations"
TURN_STATUS = "telequery.turn.status"  # completed | failed | cancelled (on invoke_agent)
SESSION_STATUS = "telequery.session.status"  # started | active | idle | completed | failed
TOOL_DISPLAY_NAME = "telequery.tool.display_name"
TOOL_STATUS = "telequery.tool.status"  # success | error | timeout | cancelled
CAPABILITY_ID = "telequery.capability.id"
CAPABILITY_NAME = "telequery.capability.name"

# Budget postings are log records with this event name.
EVENT_NAME = "event.name"
BUDGET_POSTING_EVENT = "telequery.budget.posting"
BUDGET_ID = "telequery.budget.id"
BUDGET_SUBJECT_TYPE = "telequery.budget.subject_type"
BUDGET_SUBJECT = "telequery.budget.subject"
BUDGET_CURRENCY = "telequery.budget.currency"
BUDGET_METER_SOURCE = "telequery.budget.meter_source"
BUDGET_REF_TYPE = "telequery.budget.ref_type"
BUDGET_AMOUNT = "telequery.budget.amount"  # positive = debit, negative = credit

# Sampling: an item that stands for N items (head sampling at 1/N) carries N here.
SAMPLE_INTERVAL = "telequery.sample_interval"
