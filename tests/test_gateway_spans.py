"""``POST /api/svc/v1/spans/query`` through TrueFoundry's own SDK (``truefoundry-sdk``
``traces.query_spans``), on both engines: every span of a window, paged, in either order,
compared with the spans as they were sent; filters against the same oracle; paging while
spans keep arriving; another org's spans never; the gateway's error envelope."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from truefoundry_sdk import TrueFoundry
from truefoundry_sdk.core.api_error import ApiError

from conftest import ENGINES, LiveServer, serve_new
from otlp_build import Span, traces_request

ORG, OTHER = "acme", "globex"
PROJECT = "truefoundry:tracing-project:tfy-default"
BASE = time.time_ns() - 3_600_000_000_000  # an hour ago
N = 230


def _spans(org: str, n: int, start_ns: int = BASE, tag: str = "", first_id: int = 1
           ) -> list[Span]:
    return [Span(f"app{i % 3}", f"{tag}op {i % 7}", start_ns + i * 10_000_000,
                 (i % 50 + 1) * 1_000_000, (i // 4 + 1).to_bytes(16, "big"),
                 (i + first_id + (10**6 if org == OTHER else 0)).to_bytes(8, "big"),
                 error=i % 5 == 0, attrs={"user.id": f"u{i % 4}", "tier": f"t{i % 2}"})
            for i in range(n)]


def _post(live: LiveServer, org: str, spans: list[Span]) -> None:
    r = httpx.post(live.url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={"authorization": f"Bearer {live.token(org)}",
                            "content-type": "application/x-protobuf"}, timeout=60)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module", params=ENGINES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[LiveServer]:
    with serve_new(request.param, tmp_path_factory.mktemp(request.param)) as server:
        _post(server, ORG, _spans(ORG, N))
        _post(server, OTHER, _spans(OTHER, 40))  # same trace ids: never in ORG's answers
        yield server


def _client(live: LiveServer, org: str = ORG) -> TrueFoundry:
    return TrueFoundry(api_key=live.token(org, ("query",)), base_url=live.url)


def _window() -> dict[str, str]:
    start = datetime.fromtimestamp(BASE / 1e9, UTC) - timedelta(minutes=1)
    return {"start_time": start.isoformat().replace("+00:00", "Z"),
            "end_time": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}


def _key(s: Span) -> tuple[int, str]:
    """The order the API pages in: time (microseconds), then span id."""
    return (s.start_ns // 1000, s.span_id.hex())


def test_paging_returns_every_span_once_in_order(live: LiveServer) -> None:
    sent = _spans(ORG, N)
    for direction, reverse in (("desc", True), ("asc", False)):
        got = list(_client(live).traces.query_spans(
            **_window(), tracing_project_fqn=PROJECT, limit=37, sort_direction=direction))
        want = sorted(sent, key=_key, reverse=reverse)
        assert [g.span_id for g in got] == [s.span_id.hex() for s in want]
    one = got[0]
    first = sorted(sent, key=_key)[0]
    assert one.trace_id == first.trace_id.hex() and one.service_name == first.service
    assert one.span_name == first.name and one.duration_ns == first.duration_ns
    assert one.status_code == ("Error" if first.error else "Unset")
    assert one.span_attributes["tier"] == first.attrs["tier"]
    assert one.created_by_subject.subject_slug == first.attrs["user.id"]
    assert one.feedbacks == []


def test_the_default_page_is_200_newest_first(live: LiveServer) -> None:
    pager = _client(live).traces.query_spans(**_window(), tracing_project_fqn=PROJECT)
    page = pager.response
    assert len(page.data) == 200 and page.pagination.limit == 200
    assert page.pagination.next_page_token
    newest = sorted(_spans(ORG, N), key=_key, reverse=True)[:200]
    assert [s.span_id for s in page.data] == [s.span_id.hex() for s in newest]


FILTERS = [
    ({"spanFieldName": "applicationName", "operator": "IN", "value": ["app0", "app2"]},
     lambda s: s.service in ("app0", "app2")),
    ({"spanFieldName": "durationInMs", "operator": "GREATER_THAN", "value": 25},
     lambda s: s.duration_ns / 1e6 > 25),
    ({"spanFieldName": "durationInNs", "operator": "BETWEEN", "value": [5e6, 9e6]},
     lambda s: 5e6 <= s.duration_ns <= 9e6),
    ({"spanFieldName": "spanStatusCode", "operator": "EQUAL", "value": "Error"},
     lambda s: s.error),
    ({"spanFieldName": "spanName", "operator": "STRING_STARTS_WITH", "value": "op 3"},
     lambda s: s.name.startswith("op 3")),
    ({"spanFieldName": "createdBySubjectSlug", "operator": "NOT_EQUAL", "value": "u1"},
     lambda s: s.attrs["user.id"] != "u1"),
    ({"spanAttributeKey": "tier", "operator": "EQUAL", "value": "t1"},
     lambda s: s.attrs["tier"] == "t1"),
    ({"spanAttributeKey": "tier", "operator": "PRESENT"}, lambda s: True),
    ({"spanAttributeKey": "missing", "operator": "IS_NULL"}, lambda s: True),
]


@pytest.mark.parametrize("flt, keep", FILTERS)
def test_filters_match_the_oracle(live: LiveServer, flt: dict, keep) -> None:  # type: ignore[no-untyped-def]
    got = list(_client(live).traces.query_spans(**_window(), tracing_project_fqn=PROJECT,
                                                 limit=500, filters=[flt]))
    assert sorted(g.span_id for g in got) == sorted(s.span_id.hex()
                                                   for s in _spans(ORG, N) if keep(s))


def test_the_request_fields_narrow_as_named(live: LiveServer) -> None:
    sent = _spans(ORG, N)
    traces = [sent[0].trace_id.hex(), sent[9].trace_id.hex()]
    got = list(_client(live).traces.query_spans(
        **_window(), tracing_project_fqn=PROJECT, trace_ids=traces,
        application_names=["app0", "app1"], created_by_subject_slugs=["u0", "u1", "u2"]))
    want = [s for s in sent if s.trace_id.hex() in traces and s.service in ("app0", "app1")
            and s.attrs["user.id"] in ("u0", "u1", "u2")]
    assert sorted(g.span_id for g in got) == sorted(s.span_id.hex() for s in want)
    assert list(_client(live).traces.query_spans(
        **_window(), tracing_project_fqn=PROJECT, created_by_subject_types=["team"])) == []


def test_paging_while_spans_arrive_returns_each_once(live: LiveServer) -> None:
    pager = _client(live).traces.query_spans(**_window(), tracing_project_fqn=PROJECT,
                                             limit=50)
    first = list(pager.items)
    # newer, older and in-between spans arrive while the client pages
    _post(live, ORG, _spans(ORG, 20, start_ns=BASE + 5_000_000, tag="late ", first_id=5000))
    seen = [s.span_id for s in first]
    while pager.has_next:
        pager = pager.next_page()  # type: ignore[assignment]
        seen += [s.span_id for s in pager.items]
    assert len(seen) == len(set(seen))  # none twice
    assert {s.span_id.hex() for s in _spans(ORG, N)} <= set(seen)  # none skipped


def test_another_orgs_spans_never_answer(live: LiveServer) -> None:
    got = list(_client(live, OTHER).traces.query_spans(**_window(),
                                                        tracing_project_fqn=PROJECT))
    assert len(got) == 40
    assert all(int(g.span_id, 16) > 10**6 for g in got)


@pytest.mark.parametrize("body, field", [
    ({"tracingProjectFqn": PROJECT}, "startTime"),
    ({"startTime": "yesterday", "tracingProjectFqn": PROJECT}, "startTime"),
    ({"startTime": "2026-01-01T00:00:00Z"}, "tracingProjectFqn"),
    ({"startTime": "2026-01-01T00:00:00Z", "tracingProjectFqn": PROJECT, "limit": 0}, "limit"),
    ({"startTime": "2026-01-01T00:00:00Z", "tracingProjectFqn": PROJECT,
      "pageToken": "not-a-token"}, "pageToken"),
    ({"startTime": "2026-01-01T00:00:00Z", "tracingProjectFqn": PROJECT,
      "sortDirection": "sideways"}, "sortDirection"),
    ({"startTime": "2026-01-01T00:00:00Z", "tracingProjectFqn": PROJECT,
      "filters": [{"spanFieldName": "nope", "operator": "EQUAL", "value": 1}]},
     "filters[0].spanFieldName"),
])
def test_bad_requests_get_the_gateways_400(live: LiveServer, body: dict, field: str) -> None:
    r = httpx.post(live.url + "/api/svc/v1/spans/query", json=body,
                   headers={"authorization": f"Bearer {live.token(ORG, ('query',))}"})
    assert r.status_code == 400, r.text
    assert r.json()["statusCode"] == 400 and field in " ".join(r.json()["details"])
    with pytest.raises(ApiError) as e:
        list(TrueFoundry(api_key="wrong", base_url=live.url).traces.query_spans(
            **_window(), tracing_project_fqn=PROJECT))
    assert e.value.status_code == 401
