"""Real instrumentation libraries, real spans: the OpenAI client instrumented by
OpenLLMetry (``opentelemetry-instrumentation-openai``) and by OpenInference
(``openinference-instrumentation-openai``), and a pydantic-ai agent with its built-in
instrumentation, call a local fake of the OpenAI API (the one part that cannot run here),
and the real OTel SDK exports the spans over OTLP/HTTP to a live telequery. What arrives
must land on the same columns: operation, model, provider,
tokens with cache reads, a cost priced by genai-prices (the oracle is the library called
here), and the prompt and completion in ``content``, the e-mail in the prompt redacted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import openai
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import LiveServer, serve_new

ORG = "acme"
PROMPT = "What is the capital of France? Reply to ana.lima@example.org"
MODEL, SERVED = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"
USAGE = {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230,
         "prompt_tokens_details": {"cached_tokens": 1024}}


class _FakeOpenAI(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions`` answered as OpenAI does (non-streaming)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": SERVED, "usage": USAGE,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Paris."}}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_new("duckdb", Path(tmp_path_factory.mktemp("instrumentations"))) as srv:
        yield srv


def _instrumentor(library: str):  # type: ignore[no-untyped-def]
    if library == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor
    return OpenAIInstrumentor()


def _oracle_cost() -> float:
    usage = Usage(input_tokens=USAGE["prompt_tokens"], output_tokens=USAGE["completion_tokens"],
                  cache_read_tokens=USAGE["prompt_tokens_details"]["cached_tokens"])
    return float(calc_price(usage, SERVED, provider_id="openai",
                            genai_request_timestamp=datetime.now(UTC)).total_price)


def _call_openai(library: str, provider: TracerProvider, base_url: str) -> None:
    instrumentor = _instrumentor(library)
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=base_url, api_key="sk-test-not-a-real-key")
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}])
        assert reply.choices[0].message.content == "Paris."
    finally:
        instrumentor.uninstrument()


def _run_agent(provider: TracerProvider, base_url: str) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=base_url,
                                                           api_key="sk-test-not-a-real-key"))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    try:
        assert Agent(model, name="geo").run_sync(PROMPT).output == "Paris."
    finally:
        Agent.instrument_all(False)


def _sql(live: LiveServer, token: str, sql: str) -> list[list]:
    r = httpx.post(live.url + "/api/v1/sql", headers={"Authorization": f"Bearer {token}"},
                   json={"sql": sql, "from": int(time.time() * 1000) - 600_000}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


@pytest.mark.parametrize("library", ["openllmetry", "openinference", "pydantic-ai"])
def test_library_spans_land_on_the_same_columns(library: str, live: LiveServer,
                                                fake_openai: str) -> None:
    token = live.token(ORG)
    provider = TracerProvider(resource=Resource.create({"service.name": f"app-{library}"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=live.url + "/v1/traces", headers={"Authorization": f"Bearer {token}"})))
    try:
        if library == "pydantic-ai":
            _run_agent(provider, fake_openai)
        else:
            _call_openai(library, provider, fake_openai)
    finally:
        provider.shutdown()
    rows = _sql(live, token, "SELECT operation, model, provider, input_tokens, output_tokens, "
                             "cost, attrs_string, content FROM spans "
                             f"WHERE service = 'app-{library}' ORDER BY operation")
    if library == "pydantic-ai":  # the agent run span carries its children's totals
        (row, agent_run) = rows
        assert agent_run[0] == "invoke_agent" and agent_run[3] is None
        assert "[REDACTED:email]" in json.dumps(agent_run[7])  # pydantic_ai.all_messages
        # counted once: summed over the run's spans, the one call's tokens and cost
        (once,) = _sql(live, token, "SELECT sum(input_tokens), sum(cost) FROM spans "
                                    f"WHERE service = 'app-{library}'")
        assert once[0] == 1200 and once[1] == pytest.approx(_oracle_cost(), rel=1e-9)
    else:
        (row,) = rows
    operation, model, prov, tin, tout, cost, strings, content = row
    assert (operation, model, prov, tin, tout) == ("chat", SERVED, "openai", 1200, 30)
    assert cost == pytest.approx(_oracle_cost(), rel=1e-9)
    text = json.dumps(content)
    assert "capital of France" in text and "Paris." in text
    assert "ana.lima@example.org" not in text and "[REDACTED:email]" in text
    assert "capital of France" not in json.dumps(strings)  # not in the attribute maps
