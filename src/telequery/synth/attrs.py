"""Pre-built attribute encoders, one per semconv key the generator writes.

Keys come only from ``telequery.semconv`` so the generator cannot emit a name the ingest
mapping does not read. ``S_*`` encode Span attributes, ``L_*`` LogRecord attributes;
low-cardinality values are encoded once and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telequery import semconv as sc
from telequery.synth.wire import (
    LOG_ATTR,
    any_bool,
    any_str_array,
    attr,
    cached,
    float_attr,
    int_attr,
    str_attr,
)


def _bool(key: str) -> Callable[[Any], bytes]:
    return cached(lambda v: attr(key, any_bool(v)))


def _str_array(key: str) -> Callable[[Any], bytes]:
    return cached(lambda v: attr(key, any_str_array(v)))


# --- worker / HTTP (span) ------------------------------------------------------------
S_TRIGGER = cached(str_attr(sc.FAAS_TRIGGER))
S_INVOCATION = str_attr(sc.FAAS_INVOCATION_ID)
S_COLDSTART = _bool(sc.FAAS_COLDSTART)
S_METHOD = cached(str_attr(sc.HTTP_METHOD))
S_ROUTE = cached(str_attr(sc.HTTP_ROUTE))
S_STATUS = cached(int_attr(sc.HTTP_STATUS_CODE))
S_URL = str_attr(sc.URL_FULL)
S_CLIENT = str_attr(sc.CLIENT_ADDRESS)
S_OUTCOME = cached(str_attr(sc.CF_OUTCOME))
S_COLO = cached(str_attr(sc.CF_COLO))
S_SCRIPT = cached(str_attr(sc.CF_SCRIPT_NAME))
S_CPU_MS = int_attr(sc.CF_CPU_TIME_MS)
S_ERROR_TYPE = cached(str_attr(sc.ERROR_TYPE))

# --- GenAI (span) --------------------------------------------------------------------
S_OPERATION = cached(str_attr(sc.GEN_AI_OPERATION))
S_AGENT_NAME = cached(str_attr(sc.GEN_AI_AGENT_NAME))
S_AGENT_ID = cached(str_attr(sc.GEN_AI_AGENT_ID))
S_CONVERSATION = str_attr(sc.GEN_AI_CONVERSATION_ID)
S_REQUEST_MODEL = cached(str_attr(sc.GEN_AI_REQUEST_MODEL))
S_RESPONSE_MODEL = cached(str_attr(sc.GEN_AI_RESPONSE_MODEL))
S_PROVIDER = cached(str_attr(sc.GEN_AI_PROVIDER))
S_INPUT_TOKENS = int_attr(sc.GEN_AI_INPUT_TOKENS)
S_OUTPUT_TOKENS = int_attr(sc.GEN_AI_OUTPUT_TOKENS)
S_CACHE_READ = int_attr(sc.GEN_AI_CACHE_READ_TOKENS)
S_CACHE_CREATION = int_attr(sc.GEN_AI_CACHE_CREATION_TOKENS)
S_COST = float_attr(sc.GEN_AI_COST)
S_FINISH = _str_array(sc.GEN_AI_FINISH_REASONS)
S_TTFT_MS = float_attr(sc.GEN_AI_TTFT_MS)
S_INPUT_MESSAGES = cached(str_attr(sc.GEN_AI_INPUT_MESSAGES))
S_TOOL_NAME = cached(str_attr(sc.GEN_AI_TOOL_NAME))
S_TOOL_CALL_ID = str_attr(sc.GEN_AI_TOOL_CALL_ID)
S_TOOL_TYPE = cached(str_attr(sc.GEN_AI_TOOL_TYPE))
S_TOOL_DISPLAY = cached(str_attr(sc.TOOL_DISPLAY_NAME))
S_TOOL_STATUS = cached(str_attr(sc.TOOL_STATUS))
S_CAPABILITY_ID = cached(str_attr(sc.CAPABILITY_ID))
S_CAPABILITY_NAME = cached(str_attr(sc.CAPABILITY_NAME))
S_MCP_SERVER = cached(str_attr(sc.MCP_SERVER_NAME))
S_MCP_METHOD = cached(str_attr(sc.MCP_METHOD_NAME))
S_VIRTUAL_MODEL = cached(str_attr(sc.GATEWAY_VIRTUAL_MODEL))
S_ERROR_CODE = cached(str_attr(sc.GATEWAY_ERROR_CODE))
S_PROVIDER_ACCOUNT_TYPE = cached(str_attr(sc.GATEWAY_PROVIDER_ACCOUNT_TYPE))
S_GUARDRAIL_NAME = cached(str_attr(sc.GUARDRAIL_NAME))
S_GUARDRAIL_SCOPE = cached(str_attr(sc.GUARDRAIL_SCOPE))
S_GUARDRAIL_RESULT = cached(str_attr(sc.GUARDRAIL_RESULT))
S_CACHE_STATUS = cached(str_attr(sc.CACHE_LOOKUP_STATUS))
S_CACHE_TYPE = cached(str_attr(sc.CACHE_TYPE))
S_CACHE_NAMESPACE = cached(str_attr(sc.CACHE_NAMESPACE))
S_CACHE_SAVED_IN = int_attr(sc.CACHE_SAVED_INPUT_TOKENS)
S_CACHE_SAVED_OUT = int_attr(sc.CACHE_SAVED_OUTPUT_TOKENS)
S_CACHE_SAVED_COST = float_attr(sc.CACHE_SAVED_COST)
S_RULE_TYPE = cached(str_attr(sc.RULE_TYPE))
S_RULE_ID = cached(str_attr(sc.RULE_ID))
S_RULE_RESULT = cached(str_attr(sc.RULE_RESULT))
S_RULE_TARGET = cached(str_attr(sc.RULE_TARGET_MODEL))

# --- caller and reporting context (span) ---------------------------------------------
S_USER_ID = cached(str_attr(sc.USER_ID))
S_USER_EMAIL = cached(str_attr(sc.USER_EMAIL))
S_TEAM = _str_array(sc.TEAM)
S_VIRTUAL_ACCOUNT = cached(str_attr(sc.VIRTUAL_ACCOUNT))
S_FRAMEWORK = cached(str_attr(sc.AGENT_FRAMEWORK))
S_SERVER_TYPE = cached(str_attr(sc.AGENT_SERVER_TYPE))
S_PRINCIPAL = cached(str_attr(sc.PRINCIPAL))
S_HARNESS_ID = cached(str_attr(sc.HARNESS_ID))
S_HARNESS_NAME = cached(str_attr(sc.HARNESS_NAME))
S_APP = cached(str_attr(sc.APP))
S_BLUEPRINT = cached(str_attr(sc.BLUEPRINT))
S_TURN_ID = str_attr(sc.TURN_ID)
S_TURN_ITERATIONS = int_attr(sc.TURN_ITERATIONS)

# --- logs ----------------------------------------------------------------------------
L_INVOCATION = str_attr(sc.FAAS_INVOCATION_ID, LOG_ATTR)
L_EXC_TYPE = cached(str_attr(sc.EXCEPTION_TYPE, LOG_ATTR))
L_EXC_MESSAGE = str_attr(sc.EXCEPTION_MESSAGE, LOG_ATTR)
L_CONVERSATION = str_attr(sc.GEN_AI_CONVERSATION_ID, LOG_ATTR)
L_USER_ID = cached(str_attr(sc.USER_ID, LOG_ATTR))
# Reporting context repeated on budget postings, so postings group like the spans do.
L_AGENT_NAME = cached(str_attr(sc.GEN_AI_AGENT_NAME, LOG_ATTR))
L_AGENT_ID = cached(str_attr(sc.GEN_AI_AGENT_ID, LOG_ATTR))
L_APP = cached(str_attr(sc.APP, LOG_ATTR))
L_BLUEPRINT = cached(str_attr(sc.BLUEPRINT, LOG_ATTR))
L_PRINCIPAL = cached(str_attr(sc.PRINCIPAL, LOG_ATTR))
L_HARNESS_ID = cached(str_attr(sc.HARNESS_ID, LOG_ATTR))
L_HARNESS_NAME = cached(str_attr(sc.HARNESS_NAME, LOG_ATTR))
L_EVENT_BUDGET = str_attr(sc.EVENT_NAME, LOG_ATTR)(sc.BUDGET_POSTING_EVENT)
L_BUDGET_ID = cached(str_attr(sc.BUDGET_ID, LOG_ATTR))
L_BUDGET_SUBJECT_TYPE = cached(str_attr(sc.BUDGET_SUBJECT_TYPE, LOG_ATTR))
L_BUDGET_SUBJECT = cached(str_attr(sc.BUDGET_SUBJECT, LOG_ATTR))
L_BUDGET_CURRENCY = cached(str_attr(sc.BUDGET_CURRENCY, LOG_ATTR))
L_BUDGET_METER = cached(str_attr(sc.BUDGET_METER_SOURCE, LOG_ATTR))
L_BUDGET_REF = cached(str_attr(sc.BUDGET_REF_TYPE, LOG_ATTR))
L_BUDGET_AMOUNT = float_attr(sc.BUDGET_AMOUNT, LOG_ATTR)
