"""The OpenAPI document is true: schemathesis (its CLI, against a live server) generates
requests for every operation from the document and checks what comes back: no 5xx,
statuses, content types, headers and bodies as documented, auth enforced, schema-invalid
input refused. Bounded and derandomised here (seed 1); run it longer locally with
``schemathesis run URL/openapi.json --max-examples 500``.

``positive_data_acceptance`` is left out: it expects every schema-valid body to be
accepted, and the APIs validate what JSON Schema cannot say (field names from the
catalog, ``from`` before ``to``, a saved query that must exist), answering 400 as
documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import assert_schemathesis_clean, make_store, serve
from otlp_build import spans_table
from telequery.meta import Meta


def test_schemathesis_finds_no_server_error_and_no_conformance_failure(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    store.append(spans_table(500, "svc", org="o"))
    meta = Meta(tmp_path / "meta.sqlite")
    (tmp_path / "schemathesis.toml").write_text('[parameters]\n"path.account_id" = "o"\n')
    report = tmp_path / "report.json"
    with serve(store, meta) as live:
        token = live.token("o")
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run",
             live.url + "/openapi.json", "-H", f"Authorization: Bearer {token}",
             "--max-examples", "25", "--seed", "1", "--generation-deterministic",
             "--workers", "2", "--checks", "all",
             "--exclude-checks", "positive_data_acceptance", "--no-color",
             "--report", "json", "--report-json-path", str(report)],
            cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    store.close()
    meta.close()
    assert_schemathesis_clean(report, run, 500)


def test_report_and_gateway_bodies_have_real_schemas_and_no_422(tmp_path: Path) -> None:
    from telequery.api.app import create_app

    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    try:
        spec = create_app(store, meta).openapi()
    finally:
        store.close()
        meta.close()
    assert '"422"' not in json.dumps(spec)  # never sent: bad bodies are 400s

    def body(path: str) -> dict:
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"][
            "schema"]
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    gateway = body("/api/svc/v1/llm-gateway/metrics/query")
    assert {"startTs", "endTs", "datasource", "type"} <= set(gateway["required"])
    assert "EQUAL" in gateway["properties"]["filters"]["items"]["properties"]["operator"][
        "enum"]
    for path in ("/api/v1/reports/query", "/api/v1/reports/saved"):
        assert body(path)["properties"], path
