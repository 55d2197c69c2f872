"""The ``cloudflare`` SDK's **own** Workers Observability tests, run against a live telequery.

The tests come from the ``cloudflare==5.9.0`` sdist (downloaded from the package index
once and kept in the virtualenv), ``tests/api_resources/workers/observability/``, with the
markers that skip them against Stainless' mock server removed. They read
``TEST_API_BASE_URL`` and authenticate with ``X-Auth-Email`` + ``X-Auth-Key``; the account
is ``account_id``. The server is seeded with what the fixtures name as if it existed: that
key as a token of org ``account_id``, some telemetry, a saved query whose id is ``queryId``
and (before every test, since the suite deletes it) a destination whose slug is ``slug``.

Tests left out are those whose fixtures only a mock server accepts, and the shared-query
``get`` tests, which fail in the SDK itself; each is listed in ``EXCLUDED`` with its
reason, and everything else must pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ENGINES, LiveServer, make_store, serve
from otlp_build import Log, logs_request
from telequery.meta import Meta

VERSION = "5.9.0"
SUITE = "tests/api_resources/workers/observability"
API_KEY = "144c9defac04969c7bfad8efaa8ea194"  # the SDK's tests/conftest.py
ACCOUNT = "account_id"
TOTAL = 315  # tests the four observability modules collect
CACHE = Path(sys.prefix) / "cache" / "cloudflare-sdist"

# (class, test) -> why only a mock server accepts the fixture. A class name matches its
# sync and async variants (TestQueries, TestAsyncQueries) and every client variant.
_EMPTY_WINDOW = "timeframe {from: 0, to: 0} is an empty window: refused with a 400"
_SDK_MODEL = "the SDK's SharedQueryGetResponse model does not build (PydanticSchemaGenerationError)"
_EMPTY_GROUP = "an empty filter group: the spec wants at least one item (a 400)"
EXCLUDED: dict[tuple[str, str], str] = {
    ("Telemetry", "test_method_query"): _EMPTY_WINDOW,
    ("Telemetry", "test_raw_response_query"): _EMPTY_WINDOW,
    ("Telemetry", "test_streaming_response_query"): _EMPTY_WINDOW,
    ("Telemetry", "test_method_query_with_all_params"):
        f"{_EMPTY_WINDOW}; {_EMPTY_GROUP}; a having on calculation 'key', which the query "
        "does not compute",
    ("Telemetry", "test_method_values"): _EMPTY_WINDOW,
    ("Telemetry", "test_raw_response_values"): _EMPTY_WINDOW,
    ("Telemetry", "test_streaming_response_values"): _EMPTY_WINDOW,
    ("Telemetry", "test_method_values_with_all_params"): f"{_EMPTY_WINDOW}; {_EMPTY_GROUP}",
    ("Telemetry", "test_method_keys_with_all_params"): _EMPTY_GROUP,
    ("Telemetry", "test_method_live_tail_with_all_params"): _EMPTY_GROUP,
    ("Queries", "test_method_create_with_all_params"):
        "a having on calculation 'key', which the saved query does not compute",
    ("SharedQueries", "test_method_create"): _EMPTY_WINDOW,
    ("SharedQueries", "test_raw_response_create"): _EMPTY_WINDOW,
    ("SharedQueries", "test_streaming_response_create"): _EMPTY_WINDOW,
    ("SharedQueries", "test_method_create_with_all_params"): _EMPTY_WINDOW,
    # Not a fixture but the SDK itself: SharedQueryGetResponse cannot be built by pydantic
    # (its RunQueryParametersNeedleValue is a plain class with no schema), so these fail
    # against any server; test_workers_keys.py reads shares over HTTP instead.
    ("SharedQueries", "test_method_get"): _SDK_MODEL,
    ("SharedQueries", "test_method_get_with_all_params"): _SDK_MODEL,
    ("SharedQueries", "test_raw_response_get"): _SDK_MODEL,
    ("SharedQueries", "test_streaming_response_get"): _SDK_MODEL,
}


def _sdist() -> Path:
    """The sdist, downloaded into the virtualenv's cache on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"cloudflare-{VERSION}.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", f"cloudflare=={VERSION}", "-d", str(CACHE)],
                       check=True, timeout=600)
        found = sorted(CACHE.glob(f"cloudflare-{VERSION}.tar.gz"))
    assert found, f"pip did not fetch the cloudflare {VERSION} sdist"
    return found[0]


_MOCK_SKIP = re.compile(r'^\s*@pytest\.mark\.skip\(reason="HTTP \d+ error from prism"\)\n',
                        re.M)

# Runs inside the SDK's suite: the destination the update/delete fixtures name exists
# before each test (the suite deletes it along the way).
_SEED_CONFTEST = '''
import os
import httpx
import pytest

@pytest.fixture(autouse=True)
def _slug_destination():
    base = os.environ["TEST_API_BASE_URL"] + "/accounts/account_id/workers/observability"
    headers = {"x-auth-key": os.environ["TQ_SDK_KEY"], "x-auth-email": "user@example.com"}
    listed = httpx.get(base + "/destinations", headers=headers).json()["result"]
    for d in listed:  # what earlier tests created: an account has at most 10
        if d["slug"] != "slug":
            httpx.delete(base + "/destinations/" + d["slug"], headers=headers)
    if not any(d["slug"] == "slug" for d in listed):
        r = httpx.post(base + "/destinations", headers=headers, json={
            "name": "slug", "enabled": False, "skipPreflightCheck": True,
            "configuration": {"type": "logpush", "logpushDataset": "opentelemetry-traces",
                              "url": "https://collector.example.com/v1/traces",
                              "headers": {}}})
        assert r.status_code == 200, r.text
        assert r.json()["result"]["slug"] == "slug"
    yield
'''


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SDK's tests unpacked into a folder of their own, mock-only skips removed."""
    root = tmp_path_factory.mktemp("cloudflare-sdk")
    prefix = f"cloudflare-{VERSION}/"
    wanted = ("tests/__init__.py", "tests/conftest.py", "tests/utils.py",
              "tests/api_resources/__init__.py", "tests/api_resources/workers/__init__.py",
              SUITE + "/")
    with tarfile.open(_sdist()) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(prefix)
            if member.isfile() and name.startswith(wanted):
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                target.write_text(_MOCK_SKIP.sub("", text))
    (root / SUITE / "conftest.py").write_text(_SEED_CONFTEST)
    (root / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n"
                                     "asyncio_default_fixture_loop_scope = session\n")
    return root


def _seed(live: LiveServer) -> None:
    live.meta.issue_token(ACCOUNT, ["query", "ingest", "admin"], "sdk tests", value=API_KEY)
    now = time.time_ns()
    logs = [Log("sdk-svc", f"hello {i}", now - i * 1_000_000_000) for i in range(20)]
    r = httpx.post(live.url + "/v1/logs", content=logs_request(logs).SerializeToString(),
                   headers={"authorization": f"Bearer {API_KEY}",
                            "content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    live.meta.put("cf_query", ACCOUNT, "seeded", {
        "name": "seeded", "description": None,
        "parameters": {"calculations": [{"operator": "count"}], "datasets": []},
    }, doc_id="queryId")
    hour_ago = int(time.time() * 1000) - 3_600_000
    live.meta.put("cf_share", ACCOUNT, "seeded", {"query": {
        "queryId": "queryId", "timeframe": {"from": hour_ago, "to": hour_ago + 7_200_000},
        "parameters": {"calculations": [{"operator": "count"}], "datasets": []},
    }, "createdBy": "sdk tests"}, doc_id="id")


@pytest.fixture(params=ENGINES)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    store = make_store(request.param, tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    with serve(store, meta) as server:
        _seed(server)
        yield server
    store.close()
    meta.close()


def _deselect() -> str:
    """The ``-k`` expression leaving out ``EXCLUDED`` (names match as substrings, so
    ``test_method_query`` also leaves out ``..._with_all_params``, excluded anyway)."""
    return "not (" + " or ".join(f"({cls} and {test})" for cls, test in EXCLUDED) + ")"


def test_the_sdk_suite_passes_against_telequery(suite: Path, live: LiveServer) -> None:
    env = {**os.environ, "TEST_API_BASE_URL": live.url + "/client/v4", "TQ_SDK_KEY": API_KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-k", _deselect(),
         "-c", str(suite / "pytest.ini"), "--rootdir", str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|deselected|skipped|"
                                                 r"errors?)", proc.stdout)}
    # five client variants per test: sync loose/strict, async loose/strict/aiohttp
    assert counts.get("deselected") == 5 * len(EXCLUDED), tail
    assert counts.get("passed") == TOTAL - 5 * len(EXCLUDED), tail
