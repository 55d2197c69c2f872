"""Redaction means the value is nowhere (issue 29), on both engines, through a real
``telequery serve`` process: secrets planted where issue 29 found raw copies (promoted
columns, the resource map, content under instrumentations' own keys, the detector gaps,
an e-mail cut by the truncation) must be absent from every answer, the ingest log, the
destinations' spools, the database files and the server's log."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from conftest import ENGINES, free_port, start_server
from otlp_build import Log, Span, logs_request, traces_request
from telequery.meta import Meta
from telequery.redaction import DEFAULT, Policy, Rule

ALL, DEFAULT_ORG = "scope-all", "default-policy"

# The secret part of each planted value: none may survive anywhere.
PROMOTED = {  # span attribute -> value (each fills a promoted column too)
    "user.id": "alice.secret@example.com",
    "url.full": "https://api.example.com/v1/items?api_key=QWERTYUIOPASDFGH1234",
    "gen_ai.conversation.id": "conv-bob.secret@example.org",
    "gen_ai.agent.name": "agent of carol.secret@example.net",
    "gen_ai.tool.name": "tool sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX",
    "gen_ai.operation.name": "chat",
}
RESOURCE = {"host.owner": "dave.secret@example.com", "deploy.key": "API_KEY=ZXCVBNMASDFG9876"}
SPAN_NAME = "call with Bearer SPANTOKEN1234567890abcd"
CONTENT = {  # under instrumentations' own keys: content by default
    "langfuse.observation.input": "ask erin.secret@example.com",
    "lmnr.span.input": "ask 4111 1111 1111 1111",
    "mlflow.spanInputs": "ask frank.secret@example.com",
    "gcp.vertex.agent.llm_request": "ask gina.secret@example.com",
    "gen_ai.choice": "answer hal.secret@example.com",
    "ai.response.reasoning": "think ivan.secret@example.com",
    "llm.input_messages": "ask judy.secret@example.com",
    "INPUT.VALUE": "ask kim.secret@example.com",
    "input": "ask leo.secret@example.com",
}
GAPS = [  # log bodies, scope all
    "ｍａｌｌｏｒｙ＠ｅｘａｍｐｌｅ．ｃｏｍ", "nina%40example.com", "josé.secret@exämple.com",
    "4111\u00a01111\u00a01111\u00a01111", "4111.1111.1111.1111", "4111/1111/1111/1111",
    "４１１１１１１１１１１１１１１１", '{"api_key": "JSONKEY12345678"}', "API_KEY=ENVKEY12345678",
    "Authorization: Basic QkFTSUNDUkVEMTIzNDU2", "sk_live_STRIPEKEY1234567890",
    "aws_secret_access_key=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "hf_HUGGINGFACETOKEN1234567890abcdefgh", "glpat-GITLABTOKEN1234567890",
    "BEARER UPPERBEARER1234567890", "Bearer\tTABBEARER1234567890",
]
SECRETS = [
    "alice.secret", "QWERTYUIOPASDFGH1234", "bob.secret", "carol.secret",
    "ABCDEFGHIJKLMNOPQRSTUVWX",
    "dave.secret", "ZXCVBNMASDFG9876", "SPANTOKEN1234567890", "erin.secret", "4111 1111",
    "frank.secret", "gina.secret", "hal.secret", "ivan.secret", "judy.secret", "kim.secret",
    "leo.secret", "ｍａｌｌｏｒｙ", "nina%40", "josé.secret", "4111\u00a01111", "4111.1111",
    "4111/1111", "４１１１", "JSONKEY12345678", "ENVKEY12345678", "QkFTSUNDUkVEMTIzNDU2",
    "STRIPEKEY1234567890", "wJalrXUtnFEMIK7MDENG", "HUGGINGFACETOKEN", "GITLABTOKEN",
    "UPPERBEARER", "TABBEARER", "oscar.cut@", "custom-rule-hit",
]
CUT = "x" * 16_370 + " oscar.cut@example.com"  # truncated at 16,384 mid-address


def _requests(org: str) -> tuple[bytes, bytes]:
    """Everything for the org whose scope is ``all``; only content for the other (the
    default policy redacts content, and leaves the rest as it came)."""
    now = time.time_ns()
    attrs = {**PROMOTED, **CONTENT, "note": CUT, "custom": "custom-rule-hit",
             "acme.secret": "acme-internal-key"} if org == ALL else dict(CONTENT)
    spans = [Span("svc", SPAN_NAME if org == ALL else "plain", now - 10**9, 10**6,
                  b"\x01" * 16, b"\x02" * 8, attrs=attrs,
                  resource=RESOURCE if org == ALL else {})]
    logs = [Log("svc", f"body {g}" if org == ALL else "plain", now - 10**9 + i)
            for i, g in enumerate(GAPS)]
    return (traces_request(spans).SerializeToString(),
            logs_request(logs).SerializeToString())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_redacted_value_is_nowhere(engine: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    meta = Meta(data / "meta.sqlite")
    tokens = {org: meta.create_token(org, ["ingest", "query", "admin"])
              for org in (ALL, DEFAULT_ORG)}
    meta.close()
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    store = f"chdb:{tmp_path / 'ch'}" if engine == "chdb" else None
    proc = start_server(data, port, store=store, log=log, apply_delay=0.2)
    try:
        auth = {org: {"authorization": f"Bearer {t}"} for org, t in tokens.items()}
        r = httpx.put(url + "/api/v1/redaction", headers=auth[ALL], timeout=60, json={
            "scope": "all", "rules": [{"name": "custom", "pattern": "custom-rule-hit"}],
            "content_keys": ["acme.*"]})
        assert r.status_code == 200, r.text
        for org in (ALL, DEFAULT_ORG):
            # a destination that cannot send keeps what it was given in its spool
            r = httpx.post(f"{url}/client/v4/accounts/{org}/workers/observability/"
                           "destinations", headers=auth[org], timeout=60, json={
                               "name": "spool", "enabled": True, "skipPreflightCheck": True,
                               "configuration": {"type": "logpush",
                                                 "logpushDataset": "opentelemetry-traces",
                                                 "url": "https://nowhere.example.com/v1",
                                                 "headers": {}}})
            assert r.status_code == 200, r.text
            spans, logs = _requests(org)
            for path, body in (("/v1/traces", spans), ("/v1/logs", logs)):
                r = httpx.post(url + path, content=body, timeout=60, headers={
                    **auth[org], "content-type": "application/x-protobuf"})
                assert r.status_code == 200, r.text
        answers = []
        for org in (ALL, DEFAULT_ORG):
            r = httpx.post(url + "/api/v1/sql", headers=auth[org], timeout=60,
                           json={"sql": "SELECT * FROM events"})
            assert r.status_code == 200, r.text
            assert len(r.json()["rows"]) == 1 + len(GAPS)
            answers.append(r.text)
        assert "[REDACTED:email]" in answers[0] and "[REDACTED:email]" in answers[1]
        # the org's own content key moved the value out of the attributes, into content
        r = httpx.post(url + "/api/v1/sql", headers=auth[ALL], timeout=60, json={
            "sql": "SELECT content['acme.secret'], attrs_string['acme.secret'] FROM spans"})
        assert r.json()["rows"] == [["acme-internal-key", None]], r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    for secret in SECRETS:
        for answer in answers:
            assert secret not in answer, secret
    # the ingest log, spools and database files; the server's log
    blobs = [(p, p.read_bytes()) for p in [*data.rglob("*"), *tmp_path.glob("ch/**/*")]
             if p.is_file() and "meta.sqlite" not in p.name]
    blobs.append((log, log.read_bytes()))
    spooled = [p for p, _ in blobs if "destinations" in p.parts and "queue" in p.parts]
    assert spooled, "the destination's spool holds the batches"
    for secret in SECRETS:
        for path, blob in blobs:
            assert secret.encode() not in blob, (secret, path)


def test_the_detectors_close_the_gaps_of_issue_29() -> None:
    for text in [*GAPS, CUT[:16_384] + "…[truncated]"]:
        out = DEFAULT.redact(text)
        assert "[REDACTED:" in out, text
    in_gaps = [s for s in SECRETS if s in " ".join(GAPS)]
    assert len(in_gaps) >= 15
    assert not any(s in DEFAULT.redact(" ".join(GAPS)) for s in in_gaps)
    # and do not take ids, versions, times or counts for secrets
    for text in ["trace 4bf92f3577b34da6a3ce929d0e0e4736", "v1.2.3 at 2026-12-08 10:00",
                 "max_tokens=4096", "token count: 12", "took 1234.5678 ms", "id=1234567890123"]:
        assert DEFAULT.redact(text) == text
    policy = Policy(rules=(Rule("x", "custom-rule-hit"),), content_keys=("acme.*",))
    assert policy.redact("a custom-rule-hit b") == "a [REDACTED:x] b"
