"""Everruns' own OpenAPI document (``tests/vendor/everruns``) against telequery's reports
API: schemathesis generates requests for each of upstream's 13 ``/v1/reports`` operations
from upstream's schemas and checks what telequery answers.

Left out, with the reason:
- ``content_type_conformance``: every error is ``application/problem+json`` (RFC 9457), as
  upstream's server sends it (its ``problem_json_content_type`` layer), while its document
  declares ``application/json``;
- ``positive_data_acceptance``: a body valid by the schema can still name a dimension the
  dataset does not have (upstream validates that too, answering 400);
- negative data (``--mode positive``): upstream's document lists no 400/415 for a missing
  or malformed body on several operations (``backfill``, ``export``), which its server
  answers all the same.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import assert_schemathesis_clean, make_store, serve
from reports_data import DATA_START, NOW, ORG, agent_traffic
from telequery.ingest.load import load
from telequery.meta import Meta

UPSTREAM = Path(__file__).parent / "vendor" / "everruns" / "openapi.json"


def test_upstreams_document_finds_no_failure(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    load(store, ORG, agent_traffic(1, DATA_START, NOW))
    meta = Meta(tmp_path / "meta.sqlite")
    report = tmp_path / "report.json"
    try:
        with serve(store, meta) as live:
            run = subprocess.run(
                [str(Path(sys.executable).parent / "schemathesis"), "run", str(UPSTREAM),
                 "--url", live.url + "/api", "--include-path-regex", "^/v1/reports",
                 "-H", f"Authorization: Bearer {live.token(ORG)}", "--mode", "positive",
                 "--max-examples", "20", "--seed", "1", "--generation-deterministic",
                 "--workers", "2", "--checks", "all", "--exclude-checks",
                 "positive_data_acceptance,content_type_conformance", "--no-color",
                 "--report", "json", "--report-json-path", str(report)],
                cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    finally:
        store.close()
        meta.close()
    assert_schemathesis_clean(report, run, 100)
