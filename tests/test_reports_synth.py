"""The Reports datasets over the synthetic generator's traffic equal the oracle.

The generator drops some invoke_agent roots, sends finish reasons as arrays, mixes
agent-less chats, budget debits and credits: the catalog must read all of it right.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from reports_data import DATA_START, NOW, QUERY_RANGE, ReportsEnv, close, reports_server
from telequery.query.datasets.reports import REPORTS
from telequery.synth import generate


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsEnv]:
    def data(org: str) -> Iterator[object]:
        return generate(zlib.crc32(org.encode()), 6000, DATA_START, NOW)

    with reports_server(Path(tmp_path_factory.mktemp("reports_synth")), data=data) as e:
        yield e


@pytest.mark.parametrize("dataset", list(REPORTS))
def test_synthetic_traffic_matches_the_oracle(env: ReportsEnv, dataset: str) -> None:
    spec = REPORTS[dataset]
    measures = list(spec.measures)
    rows = env.oracle_rows(dataset)
    assert rows
    for dims in ([], ["agent_name"], ["day", "harness_name"], [spec.dimensions[-1]],
                 ["session"]):
        result = env.client.post("/query", json={
            "dataset": dataset, "time_range": QUERY_RANGE, "dimensions": dims,
            "measures": measures, "limit": 1000}).json()
        got = {tuple(r[d] for d in dims): r for r in result["rows"]}
        want = env.oracle.aggregate(rows, dims, measures)
        assert set(got) == set(want), (dataset, dims)
        for k, values in want.items():
            for m, v in values.items():
                assert close(got[k][m], v), (dataset, dims, k, m, got[k][m], v)
