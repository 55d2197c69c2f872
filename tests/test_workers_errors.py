"""Every invalid request gets Cloudflare's error envelope with a 4xx naming the field at
fault, never a 500 (raw HTTP, so malformed bodies reach the server as sent)."""

from __future__ import annotations

import httpx
import pytest

from test_workers_common import FROM, ORG, OTHER, TO, workers_server

BASE = f"/client/v4/accounts/{ORG}/workers/observability"
TF = {"from": FROM, "to": TO}
COUNT = [{"operator": "count"}]


@pytest.fixture(scope="module")
def live(tmp_path_factory):  # type: ignore[no-untyped-def]
    with workers_server(tmp_path_factory.mktemp("wo_err")) as server:
        yield server


@pytest.fixture(scope="module")
def http(live):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live.url + BASE,
                      headers={"Authorization": f"Bearer {live.token(ORG)}"}) as c:
        yield c


def q(params: object = None, **top: object) -> dict:
    body: dict[str, object] = {"queryId": "x", "timeframe": TF}
    if params is not None:
        body["parameters"] = params
    body.update(top)
    return body


def leaf(**kw: object) -> dict:
    out: dict[str, object] = {"key": "$metadata.service", "operation": "eq", "type": "string",
                              "value": "a"}
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


def nest(depth: int) -> dict:
    node: dict = leaf()
    for _ in range(depth):
        node = {"kind": "group", "filterCombination": "and", "filters": [node]}
    return node


QUERY_CASES = [
    ("no-query-id", {"timeframe": TF, "parameters": {}}, "queryId"),
    ("query-id-number", {"queryId": 3, "timeframe": TF, "parameters": {}}, "queryId"),
    ("no-timeframe", {"queryId": "x", "parameters": {}}, "timeframe"),
    ("timeframe-not-object", q({}, timeframe=[1, 2]), "timeframe"),
    ("timeframe-no-from", q({}, timeframe={"to": TO}), "timeframe.from"),
    ("timeframe-text", q({}, timeframe={"from": "yesterday", "to": TO}), "timeframe.from"),
    ("timeframe-reversed", q({}, timeframe={"from": TO, "to": FROM}), "timeframe"),
    ("timeframe-too-long", q({}, timeframe={"from": FROM - 100 * 86_400_000, "to": TO}),
     "timeframe"),
    ("view", q({}, view="logs"), "view"),
    ("view-number", q({}, view=5), "view"),
    ("parameters-array", q([1]), "parameters"),
    ("limit-negative", q({}, limit=-1), "limit"),
    ("limit-fraction", q({}, limit=2.5), "limit"),
    ("limit-huge", q({}, limit=10**7), "limit"),
    ("limit-text", q({}, limit="10"), "limit"),
    ("offset-number", q({}, offset=5), "offset"),
    ("offset-by", q({}, offsetBy=-3), "offsetBy"),
    ("offset-direction", q({}, offsetDirection="up"), "offsetDirection"),
    ("dry", q({}, dry="yes"), "dry"),
    ("granularity-zero", q({}, granularity=0), "granularity"),
    ("granularity-huge", q({}, granularity=10**6), "granularity"),
    ("chart-type", q({}, chartType="pie"), "chartType"),
    ("distribution-scale", q({}, distributionScale="sqrt"), "distributionScale"),
    ("distribution-compare", q({"calculations": [{"operator": "max", "key": "$metadata.duration"}]},
                               chartType="distribution", compare=True), "compare"),
    ("distribution-no-key", q({"calculations": COUNT}, chartType="distribution"),
     "parameters.calculations"),
    ("compare-text", q({}, compare="true"), "compare"),
    ("filters-object", q({"filters": {"key": "a"}}), "parameters.filters"),
    ("filter-not-object", q({"filters": ["x"]}), "parameters.filters[0]"),
    ("filter-no-key", q({"filters": [leaf(key=None)]}), "parameters.filters[0].key"),
    ("filter-no-operation", q({"filters": [leaf(operation=None)]}),
     "parameters.filters[0].operation"),
    ("filter-operation", q({"filters": [leaf(), leaf(), leaf(operation="like")]}),
     "parameters.filters[2].operation"),
    ("filter-type", q({"filters": [leaf(type="date")]}), "parameters.filters[0].type"),
    ("filter-kind", q({"filters": [leaf(kind="leaf")]}), "parameters.filters[0].kind"),
    ("filter-unknown-field", q({"filters": [leaf(key="$metadata.nope")]}),
     "parameters.filters[0].key"),
    ("filter-number-value", q({"filters": [leaf(key="$metadata.statusCode", value="abc",
                                                type="number")]}),
     "parameters.filters[0].value"),
    ("filter-bool-value", q({"filters": [leaf(key="flag", value="maybe", type="boolean")]}),
     "parameters.filters[0].value"),
    ("filter-no-value", q({"filters": [leaf(value=None)]}), "parameters.filters[0].value"),
    ("filter-object-value", q({"filters": [leaf(value={"a": 1})]}),
     "parameters.filters[0].value"),
    ("filter-bad-regex", q({"filters": [leaf(operation="regex", value="(a")]}),
     "parameters.filters[0].value"),
    ("filter-regex-lookahead", q({"filters": [leaf(operation="MATCH_REGEX", value="a(?=b)")]}),
     "parameters.filters[0].value"),
    ("filter-in-empty", q({"filters": [leaf(operation="in", value=" , ")]}),
     "parameters.filters[0].value"),
    ("filter-op-for-type", q({"filters": [leaf(key="$metadata.statusCode", operation="includes",
                                               type="number", value="2")]}),
     "parameters.filters[0].operation"),
    ("filter-bool-op", q({"filters": [leaf(key="flag", operation="gt", type="boolean",
                                           value=True)]}), "parameters.filters[0].operation"),
    ("filter-combination", q({"filters": [leaf()], "filterCombination": "xor"}),
     "parameters.filterCombination"),
    ("group-combination", q({"filters": [{"kind": "group", "filterCombination": "nand",
                                          "filters": [leaf()]}]}),
     "parameters.filters[0].filterCombination"),
    ("group-filters", q({"filters": [{"kind": "group", "filterCombination": "and",
                                      "filters": "x"}]}), "parameters.filters[0].filters"),
    ("group-too-deep", q({"filters": [nest(5)]}),
     "parameters.filters[0].filters[0].filters[0].filters[0].filters[0]"),
    ("group-child", q({"filters": [{"kind": "group", "filterCombination": "or",
                                    "filters": [leaf(), leaf(operation="~")]}]}),
     "parameters.filters[0].filters[1].operation"),
    ("calcs-object", q({"calculations": {"operator": "count"}}), "parameters.calculations"),
    ("calc-operator", q({"calculations": [{"operator": "mode", "key": "a"}]}),
     "parameters.calculations[0].operator"),
    ("calc-no-operator", q({"calculations": [{"key": "a"}]}),
     "parameters.calculations[0].operator"),
    ("calc-no-key", q({"calculations": [{"operator": "p99"}]}),
     "parameters.calculations[0].key"),
    ("calc-key-type", q({"calculations": [{"operator": "avg", "key": "a", "keyType": "int"}]}),
     "parameters.calculations[0].keyType"),
    ("calc-string-avg", q({"calculations": [{"operator": "AVG", "key": "$metadata.service"}]}),
     "parameters.calculations[0].key"),
    ("calc-unknown-field", q({"calculations": [{"operator": "max", "key": "$workers.nope"}]}),
     "parameters.calculations[0].key"),
    ("calc-alias", q({"calculations": [{"operator": "count", "alias": 5}]}),
     "parameters.calculations[0].alias"),
    ("group-by-no-value", q({"calculations": COUNT, "groupBys": [{"type": "string"}]}),
     "parameters.groupBys[0].value"),
    ("group-by-type", q({"calculations": COUNT, "groupBys": [{"type": "x", "value": "a"}]}),
     "parameters.groupBys[0].type"),
    ("group-by-unknown", q({"calculations": COUNT,
                            "groupBys": [{"type": "string", "value": "$metadata.x"}]}),
     "parameters.groupBys[0].value"),
    ("having-key", q({"calculations": COUNT, "havings": [{"key": "p99", "operation": "gt",
                                                          "value": 1}]}),
     "parameters.havings[0].key"),
    ("having-operation", q({"calculations": COUNT, "havings": [{"key": "count",
                                                                "operation": "like",
                                                                "value": 1}]}),
     "parameters.havings[0].operation"),
    ("having-value", q({"calculations": COUNT, "havings": [{"key": "count", "operation": "gt",
                                                            "value": "many"}]}),
     "parameters.havings[0].value"),
    ("having-no-value", q({"calculations": COUNT, "havings": [{"key": "count",
                                                               "operation": "gt"}]}),
     "parameters.havings[0].value"),
    ("order-by-value", q({"calculations": COUNT, "orderBy": {"value": "avg"}}),
     "parameters.orderBy.value"),
    ("order-by-order", q({"calculations": COUNT, "orderBy": {"value": "count",
                                                             "order": "up"}}),
     "parameters.orderBy.order"),
    ("params-limit", q({"limit": "ten"}), "parameters.limit"),
    ("needle-object", q({"needle": "x"}), "parameters.needle"),
    ("needle-no-value", q({"needle": {"isRegex": True}}), "parameters.needle.value"),
    ("needle-regex", q({"needle": {"value": "[a", "isRegex": True}}), "parameters.needle.value"),
    ("needle-flag", q({"needle": {"value": "a", "matchCase": "yes"}}),
     "parameters.needle.matchCase"),
    ("datasets-string", q({"datasets": "otel"}), "parameters.datasets"),
    ("datasets-item", q({"datasets": ["otel", 3]}), "parameters.datasets[1]"),
]


@pytest.mark.parametrize(("name", "body", "field"), QUERY_CASES, ids=[c[0] for c in QUERY_CASES])
def test_query_rejects(http, name: str, body: dict, field: str) -> None:
    check(http.post("/telemetry/query", json=body), 400, field)


def check(resp: httpx.Response, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    err = body["errors"][0]
    assert err["code"] == status and err["message"] and err["detail"]
    if field is not None:
        assert err["field"] == field, err
    title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
             405: "Method not allowed"}[status]
    assert err["message"] == title  # the spec's fixed title; what and where go to detail
    if status == 400:
        assert err["detail"].startswith(f"{field}: ")
    return err


@pytest.mark.parametrize(("name", "content"), [
    ("empty", b""), ("not-json", b"{queryId: x"), ("array", b"[]"), ("string", b'"x"'),
    ("truncated", b'{"queryId": "x", "timeframe": {"from": 1'),
])
def test_malformed_bodies(http, name: str, content: bytes) -> None:
    for path in ("/telemetry/query", "/telemetry/keys", "/telemetry/values", "/queries"):
        resp = http.post(path, content=content, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.json()["success"] is False, (path, resp.text)


def test_missing_saved_query_is_404(http) -> None:
    err = check(http.post("/telemetry/query", json=q(None, queryId="nope")), 404, "queryId")
    assert "no saved query 'nope'" in err["detail"]


KEYS_CASES = [
    ("from-text", {"from": "x"}, "from"),
    ("reversed", {"from": TO, "to": FROM}, "from"),
    ("limit-zero", {"limit": 0}, "limit"),
    ("key-needle-regex", {"keyNeedle": {"value": "(", "isRegex": True}}, "keyNeedle.value"),
    ("needle", {"needle": {"value": None}}, "needle.value"),
    ("filters", {"filters": [{"key": "a", "operation": "??", "type": "string"}]},
     "filters[0].operation"),
    ("datasets", {"datasets": "x"}, "datasets"),
]


@pytest.mark.parametrize(("name", "body", "field"), KEYS_CASES, ids=[c[0] for c in KEYS_CASES])
def test_keys_rejects(http, name: str, body: dict, field: str) -> None:
    check(http.post("/telemetry/keys", json=body), 400, field)


V = {"key": "$metadata.service", "type": "string", "timeframe": TF, "datasets": []}
VALUES_CASES = [
    ("no-key", {**V, "key": None}, "key"),
    ("no-type", {k: v for k, v in V.items() if k != "type"}, "type"),
    ("bad-type", {**V, "type": "text"}, "type"),
    ("no-timeframe", {k: v for k, v in V.items() if k != "timeframe"}, "timeframe"),
    ("reversed", {**V, "timeframe": {"from": TO, "to": FROM}}, "timeframe"),
    ("unknown", {**V, "key": "$metadata.nope"}, "key"),
    ("limit", {**V, "limit": -5}, "limit"),
    ("filter", {**V, "filters": [{"key": "a", "type": "string"}]}, "filters[0].operation"),
]


@pytest.mark.parametrize(("name", "body", "field"), VALUES_CASES,
                         ids=[c[0] for c in VALUES_CASES])
def test_values_rejects(http, name: str, body: dict, field: str) -> None:
    check(http.post("/telemetry/values", json=body), 400, field)


SAVED_CASES = [
    ("no-name", {"description": None, "parameters": {}}, "name"),
    ("empty-name", {"name": "", "description": None, "parameters": {}}, "name"),
    ("long-name", {"name": "x" * 251, "description": None, "parameters": {}}, "name"),
    ("long-description", {"name": "x", "description": "d" * 1001, "parameters": {}},
     "description"),
    ("no-parameters", {"name": "x", "description": None}, "parameters"),
    ("saved-limit", {"name": "x", "description": None, "parameters": {"limit": 101}},
     "parameters.limit"),
    ("saved-needle", {"name": "x", "description": None,
                      "parameters": {"needle": {"value": "n" * 1001}}},
     "parameters.needle.value"),
    ("bad-parameters", {"name": "x", "description": None,
                        "parameters": {"calculations": [{"operator": "nope"}]}},
     "parameters.calculations[0].operator"),
]


@pytest.mark.parametrize(("name", "body", "field"), SAVED_CASES, ids=[c[0] for c in SAVED_CASES])
def test_saved_rejects(http, name: str, body: dict, field: str) -> None:
    check(http.post("/queries", json=body), 400, field)


@pytest.mark.parametrize(("params", "field"), [
    ({"perPage": "0"}, "perPage"), ({"perPage": "abc"}, "perPage"), ({"page": "0"}, "page"),
    ({"perPage": "4"}, "perPage"), ({"perPage": "51"}, "perPage"),
    ({"order": "up"}, "order"), ({"orderBy": "name"}, "orderBy"),
])
def test_saved_list_rejects(http, params: dict, field: str) -> None:
    check(http.get("/queries", params=params), 400, field)


def test_auth(live) -> None:
    url = live.url + BASE
    for method, path in (("POST", "/telemetry/query"), ("POST", "/telemetry/keys"),
                         ("POST", "/telemetry/values"), ("GET", "/queries"),
                         ("POST", "/queries"), ("GET", "/queries/x"), ("PATCH", "/queries/x"),
                         ("DELETE", "/queries/x")):
        check(httpx.request(method, url + path, json=q({})), 401)
        check(httpx.request(method, url + path, json=q({}),
                            headers={"Authorization": "Bearer nope"}), 401)
        check(httpx.request(method, url + path, json=q({}),
                            headers={"Authorization": f"Bearer {live.token(OTHER)}"}), 403,
              "account_id")


def test_unknown_route_and_method(http) -> None:
    check(http.post("/telemetry/nope", json={}), 404)
    check(http.put("/queries", json={}), 405)


def test_x_auth_key_authenticates_like_the_sdk_sends_it(live) -> None:
    """The spec's other scheme: the SDK with api_key + api_email sends X-Auth-Key and
    X-Auth-Email; the key is the token, the email is informational."""
    from cloudflare import Cloudflare

    token = live.token(ORG)
    cf = Cloudflare(api_key=token, api_email="ops@example.com",
                    base_url=live.url + "/client/v4", max_retries=0)
    made = cf.workers.observability.queries.create(
        account_id=ORG, name="via x-auth-key", description=None,
        parameters={"calculations": [{"operator": "count"}]})
    assert made.name == "via x-auth-key"
    check(httpx.get(live.url + BASE + "/queries",
                    headers={"X-Auth-Key": "nope", "X-Auth-Email": "ops@example.com"}), 401)
