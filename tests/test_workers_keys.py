"""``telemetry/keys``, ``telemetry/values`` and saved queries through the real SDK (and raw
HTTP for the saved-query routes the SDK does not wrap), checked against the stored rows."""

from __future__ import annotations

import cloudflare
import httpx
import pytest
from cloudflare.types.workers.observability import (
    QueryCreateResponse,
    QueryListResponse,
    TelemetryKeysResponse,
    TelemetryValuesResponse,
)

from conftest import ENGINES
from telequery.query.datasets.events import METADATA_COLUMNS
from test_workers_common import (
    FROM,
    ORG,
    OTHER,
    TO,
    client,
    group_by,
    ms,
    rows,
    weighted,
    workers_server,
)

BASE = "/client/v4/accounts/{}/workers/observability"


@pytest.fixture(scope="module", params=ENGINES)
def live(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    with workers_server(tmp_path_factory.mktemp("wo_keys"), request.param) as server:
        yield server


@pytest.fixture(scope="module")
def token(live) -> str:  # type: ignore[no-untyped-def]
    return live.token(ORG)


@pytest.fixture(scope="module")
def cf(live, token):  # type: ignore[no-untyped-def]
    return client(live, token)


@pytest.fixture(scope="module")
def data(live) -> list[dict]:  # type: ignore[no-untyped-def]
    return rows(live)


def expected_keys(data: list[dict]) -> dict[tuple[str, str], int]:
    """(key, type) -> last seen (epoch ms), from every map and promoted column."""
    out: dict[tuple[str, str], int] = {}

    def see(key: str, type_: str, t: int) -> None:
        out[(key, type_)] = max(out.get((key, type_), t), t)

    for r in data:
        t = ms(r["timestamp"])
        for m, type_ in (("attrs_string", "string"), ("attrs_number", "number"),
                         ("attrs_bool", "boolean"), ("resource", "string")):
            for k in r[m] or {}:
                see(k, type_, t)
        for k, column in METADATA_COLUMNS.items():
            if r[column] is not None:
                type_ = {str: "string", bool: "boolean"}.get(type(r[column]), "number")
                see(f"$metadata.{k}", type_, t)
    return out


def test_keys_with_types_and_last_seen(cf, data) -> None:
    page = cf.workers.observability.telemetry.keys(account_id=ORG, from_=FROM, to=TO,
                                                   limit=5000)
    got = page.result
    assert all(isinstance(k, TelemetryKeysResponse) for k in got)
    want = expected_keys(data)
    got_map = {(k.key, k.type): k.last_seen_at for k in got
               if not k.key.startswith("$workers.")}
    assert got_map == want
    assert [k.last_seen_at for k in got] == sorted((k.last_seen_at for k in got), reverse=True)
    workers = {k.key for k in got if k.key.startswith("$workers.")}
    assert {"$workers.outcome", "$workers.cpuTimeMs"} <= workers


def test_keys_needle_filters_limit(cf, data) -> None:
    keys = cf.workers.observability.telemetry.keys
    got = keys(account_id=ORG, from_=FROM, to=TO, key_needle={"value": "WORK."}).result
    assert {(k.key, k.type) for k in got} == {("work.ms", "number"), ("work.ok", "boolean"),
                                              ("work.kind", "string")}
    got = keys(account_id=ORG, from_=FROM, to=TO,
               key_needle={"value": "WORK.", "matchCase": True}).result
    assert got == []
    got = keys(account_id=ORG, from_=FROM, to=TO,
               key_needle={"value": r"^gen_ai\.usage\.(input|output)_tokens$",
                           "isRegex": True}).result
    assert {k.key for k in got} == {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"}
    got = keys(account_id=ORG, from_=FROM, to=TO, datasets=["sampled"],
               filters=[{"key": "work.ok", "operation": "eq", "type": "boolean",
                         "value": True}]).result
    sampled = [r for r in data if r["dataset"] == "sampled" and r["attrs_bool"]["work.ok"]]
    assert {(k.key, k.type): k.last_seen_at for k in got
            if not k.key.startswith("$workers.")} == expected_keys(sampled)
    got = keys(account_id=ORG, from_=FROM, to=TO, needle={"value": "work item 1"}).result
    assert ("work.ms", "number") in {(k.key, k.type) for k in got}
    assert len(keys(account_id=ORG, from_=FROM, to=TO, limit=7).result) == 7


def test_values_with_dataset(cf, data) -> None:
    values = cf.workers.observability.telemetry.values
    got = values(account_id=ORG, key="$metadata.service", type="string",
                 timeframe={"from": FROM, "to": TO}, datasets=[], limit=1000).result
    assert all(isinstance(v, TelemetryValuesResponse) for v in got)
    groups = group_by([r for r in data if r["service"] is not None],
                      lambda r: (r["service"], r["dataset"]))
    want = sorted(groups, key=lambda k: (-weighted(groups[k]), k))
    assert [(v.value, v.dataset) for v in got] == want
    assert all(v.key == "$metadata.service" and v.type == "string" for v in got)
    got = values(account_id=ORG, key="work.ms", type="number",
                 timeframe={"from": FROM, "to": TO}, datasets=["sampled"], limit=3,
                 filters=[{"key": "work.kind", "operation": "eq", "type": "string",
                           "value": "beta"}]).result
    assert [v.value for v in got] == [11.0, 13.0, 15.0]  # equal counts: ascending value
    assert all(v.dataset == "sampled" and v.type == "number" for v in got)
    got = values(account_id=ORG, key="work.ok", type="boolean",
                 timeframe={"from": FROM, "to": TO}, datasets=[]).result
    assert [(v.value, v.dataset) for v in got] == [(True, "sampled"), (False, "sampled")]


def test_keys_values_stay_in_the_org(live, cf) -> None:
    theirs = client(live, live.token(OTHER))
    mine = {k.key for k in cf.workers.observability.telemetry.keys(
        account_id=ORG, from_=FROM, to=TO, limit=5000).result}
    other = {k.key for k in theirs.workers.observability.telemetry.keys(
        account_id=OTHER, from_=FROM, to=TO, limit=5000).result}
    assert "work.ms" in mine and "work.ms" not in other
    vals = theirs.workers.observability.telemetry.values(
        account_id=OTHER, key="$metadata.service", type="string",
        timeframe={"from": FROM, "to": TO}, datasets=[]).result
    assert "sampler" not in {v.value for v in vals}


# -- saved queries ------------------------------------------------------------------------
PARAMS = {"calculations": [{"operator": "count", "alias": "n"}],
          "groupBys": [{"type": "string", "value": "$metadata.dataset"}],
          "filters": [{"key": "$metadata.service", "operation": "neq", "type": "string",
                       "value": "sampler"}]}


def test_saved_query_lifecycle(live, cf, token, data) -> None:
    queries = cf.workers.observability.queries
    created = queries.create(account_id=ORG, name="by dataset", description="count per dataset",
                             parameters=PARAMS)  # type: ignore[arg-type]
    assert isinstance(created, QueryCreateResponse) and created.adhoc is False
    assert created.parameters.calculations[0].alias == "n"  # type: ignore[index, union-attr]
    assert created.parameters.group_bys[0].value == "$metadata.dataset"  # type: ignore[index]
    # run the saved one: queryId and no parameters
    r = cf.workers.observability.telemetry.query(account_id=ORG, query_id=created.id,
                                                 timeframe={"from": FROM, "to": TO},
                                                 ignore_series=True)
    assert r.run.query.id == created.id and r.run.query.adhoc is False
    assert r.run.query.name == "by dataset"
    want = group_by([x for x in data if x["service"] != "sampler"], lambda x: x["dataset"])
    got = {a.groups[0].value: a.count for a in r.calculations[0].aggregates}  # type: ignore
    assert got == {k: weighted(v) for k, v in want.items()}
    # get, patch, delete over raw HTTP (the SDK has no wrappers for them)
    h = {"Authorization": f"Bearer {token}"}
    url = live.url + BASE.format(ORG) + f"/queries/{created.id}"
    got_one = httpx.get(url, headers=h).json()
    assert got_one["success"] and got_one["result"]["name"] == "by dataset"
    QueryCreateResponse.model_validate(got_one["result"])
    patched = httpx.patch(url, headers=h, json={"name": "renamed", "description": None}).json()
    assert patched["result"]["name"] == "renamed" and patched["result"]["description"] is None
    assert patched["result"]["parameters"] == PARAMS
    assert patched["result"]["updated"] >= patched["result"]["created"]
    bad = httpx.patch(url, headers=h, json={"parameters": {"limit": "ten"}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "parameters.limit"
    deleted = httpx.delete(url, headers=h)
    assert deleted.status_code == 200 and deleted.json()["result"]["id"] == created.id
    for method in ("GET", "PATCH", "DELETE"):
        resp = httpx.request(method, url, headers=h, json={"name": "x"})
        assert resp.status_code == 404 and resp.json()["success"] is False
    with pytest.raises(cloudflare.NotFoundError):
        cf.workers.observability.telemetry.query(account_id=ORG, query_id=created.id,
                                                 timeframe={"from": FROM, "to": TO})


def test_saved_query_list_paging_and_order(live, token) -> None:
    cf = client(live, token)
    queries = cf.workers.observability.queries
    made = [queries.create(account_id=ORG, name=f"q{i}", description=None,
                           parameters={"calculations": [{"operator": "count"}]}).id
            for i in range(12)]
    listed = [q.id for q in queries.list(account_id=ORG, order="asc", order_by="created",
                                         per_page=50)]
    assert [i for i in listed if i in made] == made
    page = queries.list(account_id=ORG, order="desc", order_by="created", per_page=5, page=1)
    assert all(isinstance(q, QueryListResponse) for q in page.result)
    newest = [q.id for q in page.result]
    assert newest == made[::-1][:5]
    page2 = [q.id for q in queries.list(account_id=ORG, order="desc", order_by="created",
                                        per_page=5, page=2)]
    assert page2 == made[::-1][5:10]
    # the spec's defaults: 20 a page, newest updated first
    default = httpx.get(live.url + BASE.format(ORG) + "/queries",
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert default["result_info"]["per_page"] == 20
    assert default["result"][0]["id"] == made[-1]
    # updated order: touching the oldest makes it first
    h = {"Authorization": f"Bearer {token}"}
    httpx.patch(live.url + BASE.format(ORG) + f"/queries/{made[0]}", headers=h,
                json={"description": "touched"})
    first = queries.list(account_id=ORG, order_by="updated", order="desc", per_page=5)
    assert first.result[0].id == made[0] and first.result[0].description == "touched"
    # another org sees none of them
    theirs = client(live, live.token(OTHER))
    assert not {q.id for q in theirs.workers.observability.queries.list(
        account_id=OTHER)} & set(made)
    resp = httpx.get(live.url + BASE.format(OTHER) + f"/queries/{made[1]}",
                     headers={"Authorization": f"Bearer {live.token(OTHER)}"})
    assert resp.status_code == 404


def test_key_scan_reads_only_the_newest_rows(live, data) -> None:
    """The bounded scan (query/keys.py) lists exactly the keys of the newest N events, each
    with its exact last-seen time."""
    from datetime import UTC, datetime

    from telequery.api.workers.keys import LISTED_FIELDS
    from telequery.query.datasets.events import ATTRIBUTE_MAPS
    from telequery.query.ir import Query, TimeRange
    from telequery.query.keys import discover_keys

    tr = TimeRange(datetime.fromtimestamp(FROM / 1000, UTC), datetime.fromtimestamp(TO / 1000, UTC))
    found, stats = discover_keys(live.store, Query("events", tr), ORG,
                                 map_columns=ATTRIBUTE_MAPS, fields=LISTED_FIELDS, scan_rows=40)
    newest = sorted(data, key=lambda r: r["timestamp"], reverse=True)
    cutoff = newest[39]["timestamp"]
    kept = [r for r in data if r["timestamp"] >= cutoff]
    got = {(k.name, k.type.value): k.last_seen_ms for k in found
           if not k.name.startswith("$workers.")}
    assert got == expected_keys(kept) and stats.rows_read > 0


def test_shared_queries_through_the_sdk(live, token, data) -> None:
    """A share answers with the same numbers as the query it shares, in each view; it is
    readable by the creating org only, its id is unguessable, and it can expire. Created
    with the SDK; read over HTTP and checked against the SDK's query response model (the
    SDK's own SharedQueryGetResponse model does not build under pydantic 2.14:
    ``RunQueryParametersNeedleValue`` has no schema), whose shape it shares."""
    from cloudflare.types.workers.observability import TelemetryQueryResponse

    cf = client(live, token)
    shares = cf.workers.observability.shared_queries
    params = {"calculations": [{"operator": "count", "alias": "n"}],
              "groupBys": [{"type": "string", "value": "$metadata.service"}]}
    timeframe = {"from": FROM, "to": TO}
    h = {"Authorization": f"Bearer {token}"}
    url = live.url + BASE.format(ORG) + "/shared/query"

    def get(share_id: str, view: str) -> TelemetryQueryResponse:
        r = httpx.get(f"{url}/{share_id}", params={"view": view}, headers=h, timeout=30)
        assert r.status_code == 200, r.text
        return TelemetryQueryResponse.model_validate(r.json()["result"])

    def counts(resp: TelemetryQueryResponse) -> set[tuple[str, int]]:
        assert resp.calculations
        return {(str(a.groups[0].value), round(a.value))  # type: ignore[index]
                for a in resp.calculations[0].aggregates}

    made = shares.create(account_id=ORG, query_id="share-adhoc", timeframe=timeframe,
                         parameters=params, view="calculations")
    assert len(made.id) >= 22  # 128 random bits, url-safe
    direct = cf.workers.observability.telemetry.query(
        account_id=ORG, query_id="direct", timeframe=timeframe, parameters=params,
        view="calculations")
    want = counts(direct)
    assert want and counts(get(made.id, "calculations")) == want
    events = get(made.id, "events")
    assert events.events is not None and events.events.count == sum(n for _, n in want)
    # a saved query can be shared by its id; the share keeps its parameters
    saved = cf.workers.observability.queries.create(
        account_id=ORG, name="to share", description=None, parameters=params)
    by_id = shares.create(account_id=ORG, query_id=saved.id, timeframe=timeframe)
    assert counts(get(by_id.id, "calculations")) == want
    # another org's token: not found; a bad view: 400; an expired share: not found
    other = httpx.get(live.url + BASE.format(OTHER) + f"/shared/query/{made.id}",
                      headers={"Authorization": f"Bearer {live.token(OTHER)}"})
    assert other.status_code == 404
    assert httpx.get(f"{url}/{made.id}?view=traces", headers=h).status_code == 400
    short = httpx.post(url, headers=h, json={"queryId": "x", "timeframe": timeframe,
                                             "parameters": params, "expiresInSeconds": 1})
    assert short.status_code == 200
    import time

    time.sleep(1.2)
    assert httpx.get(f"{url}/{short.json()['result']['id']}", headers=h).status_code == 404
    bad = httpx.post(url, headers=h, json={"queryId": "x", "timeframe": timeframe,
                                           "parameters": {"calculations": [{"operator": "p99"}]}})
    assert bad.status_code == 400
