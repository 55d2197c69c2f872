"""``telemetry/query`` through the real ``cloudflare`` SDK against a live server.

Every response is parsed by the SDK with strict validation (its own pydantic models), and
every number is checked against a plain-Python computation over the stored rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cloudflare
import pytest
from cloudflare.types.workers.observability import TelemetryQueryResponse
from cloudflare.types.workers.observability.telemetry_query_response import (
    EventsEventWorkersUnionMember0,
    EventsEventWorkersUnionMember1,
)

from conftest import ENGINES
from test_workers_common import (
    FROM,
    ORG,
    OTHER,
    PREV_FROM,
    TO,
    client,
    close,
    group_by,
    ms,
    quantile,
    rows,
    stat,
    us,
    weighted,
    workers_server,
)

LOWER = ["uniq", "max", "min", "sum", "avg", "median", "p001", "p01", "p05", "p10", "p25",
         "p75", "p90", "p95", "p99", "p999", "stddev", "variance"]
OPERATORS = ([("count", "count"), ("COUNT", "count"), ("COUNT_DISTINCT", "uniq")]
             + [(op, op) for op in LOWER] + [(op.upper(), op) for op in LOWER if op != "uniq"])


@pytest.fixture(scope="module", params=ENGINES)
def live(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    with workers_server(tmp_path_factory.mktemp("wo_query"), request.param) as server:
        yield server


@pytest.fixture(scope="module")
def cf(live):  # type: ignore[no-untyped-def]
    return client(live, live.token(ORG))


@pytest.fixture(scope="module")
def data(live) -> list[dict]:  # type: ignore[no-untyped-def]
    return rows(live)


def query(cf: cloudflare.Cloudflare, **kw: object) -> TelemetryQueryResponse:
    kw.setdefault("account_id", ORG)
    kw.setdefault("query_id", "adhoc")
    kw.setdefault("timeframe", {"from": FROM, "to": TO})
    kw.setdefault("parameters", {})
    r = cf.workers.observability.telemetry.query(**kw)  # type: ignore[arg-type]
    assert isinstance(r, TelemetryQueryResponse)
    assert r.run.account_id == kw["account_id"] and r.run.status == "COMPLETED"
    assert r.run.timeframe.from_ == kw["timeframe"]["from"]  # type: ignore[index]
    assert r.statistics.rows_read > 0 and r.statistics.elapsed > 0
    return r


def count_of(r: TelemetryQueryResponse) -> float:
    assert r.calculations is not None
    return r.calculations[0].aggregates[0].count


# -- calculations -------------------------------------------------------------------------
@pytest.mark.parametrize(("operator", "meaning"), OPERATORS)
def test_every_operator_both_spellings(cf, data, operator: str, meaning: str) -> None:
    calc: dict[str, object] = {"operator": operator, "alias": "x"}
    if meaning != "count":
        calc["key"] = "$metadata.traceId" if meaning == "uniq" else "$metadata.duration"
        calc["keyType"] = "string" if meaning == "uniq" else "number"
    r = query(cf, parameters={"calculations": [calc]}, ignore_series=True)
    (c,) = r.calculations  # type: ignore[misc]
    assert c.calculation == operator and c.alias == "x" and c.series == []
    (a,) = c.aggregates
    total = weighted(data)
    assert a.count == total and a.groups is None
    assert close(a.sample_interval, total / len(data)) and a.interval == a.sample_interval
    if meaning == "count":
        want = total
    elif meaning == "uniq":
        want = len({r["trace_id"] for r in data if r["trace_id"] is not None})
    else:
        spans = [r for r in data if r["duration_ms"] is not None]
        want = stat(meaning, [r["duration_ms"] for r in spans],  # type: ignore[assignment]
                    [r["sample_interval"] for r in spans])
    assert close(a.value, want), (a.value, want)


def test_groups_havings_order_limit_offset(cf, data) -> None:
    params = {
        "calculations": [
            {"operator": "count", "alias": "n"},
            {"operator": "p90", "key": "$metadata.duration", "keyType": "number", "alias": "p90"},
            {"operator": "uniq", "key": "$metadata.requestId", "keyType": "string"}],
        "groupBys": [{"type": "string", "value": "$metadata.service"}],
        "havings": [{"key": "n", "operation": "gt", "value": 50}],
        "orderBy": {"value": "n", "order": "asc"},
        "limit": 4,
    }
    r = query(cf, parameters=params, offset_by=1, ignore_series=True)
    expected = []
    for service, rs in group_by(data, lambda x: x["service"]).items():
        n = weighted(rs)
        if n > 50:
            durations = [x["duration_ms"] for x in rs if x["duration_ms"] is not None]
            reqs = {x["request_id"] for x in rs if x["request_id"] is not None}
            expected.append((n, service, quantile(durations, 0.9), len(reqs)))
    expected.sort(key=lambda e: (e[0], e[1]))
    expected = expected[1:5]
    n_calc, p90_calc, uniq_calc = r.calculations  # type: ignore[misc]
    assert [a.groups[0].value for a in n_calc.aggregates] == [e[1] for e in expected]
    assert [a.groups[0].key for a in n_calc.aggregates] == ["$metadata.service"] * 4
    assert [a.value for a in n_calc.aggregates] == [e[0] for e in expected]
    assert all(close(a.value, e[2]) for a, e in zip(p90_calc.aggregates, expected, strict=True))
    assert [a.value for a in uniq_calc.aggregates] == [e[3] for e in expected]
    assert uniq_calc.calculation == "uniq" and uniq_calc.alias is None


def test_default_order_is_first_calculation_descending(cf, data) -> None:
    params = {"calculations": [{"operator": "count"}],
              "groupBys": [{"type": "string", "value": "$metadata.level"},
                           {"type": "string", "value": "$metadata.type"}], "limit": 3}
    r = query(cf, parameters=params, ignore_series=True)
    groups = group_by(data, lambda x: (x["level"], x["kind"]))
    want = sorted(((weighted(rs), k) for k, rs in groups.items()),
                  key=lambda e: (-e[0], e[1][0] or "~", e[1][1]))[:3]
    got = [(a.value, tuple(g.value for g in a.groups)) for a in r.calculations[0].aggregates]
    assert got == want


def test_series_buckets_by_group(cf, data) -> None:
    params = {"calculations": [{"operator": "count"},
                               {"operator": "max", "key": "$metadata.duration"}],
              "groupBys": [{"type": "string", "value": "$metadata.dataset"}]}
    r = query(cf, parameters=params, granularity=6, chart_type="timeseries")
    assert r.run.granularity == 6
    count_calc, max_calc = r.calculations  # type: ignore[misc]
    assert count_calc.aggregates == []  # timeseries only
    step = 4 * 3600 * 1_000_000
    want: dict[tuple[int, str], list[dict]] = {}
    for x in data:
        want.setdefault((us(x["timestamp"]) // step * step, x["dataset"]), []).append(x)
    assert len(count_calc.series) == 6
    seen = 0
    for i, s in enumerate(count_calc.series):
        t = (FROM * 1000) + i * step
        assert s.time == f"{_iso(t)}"
        for point, mpoint in zip(s.data, max_calc.series[i].data, strict=True):
            (g,) = point.groups  # type: ignore[misc]
            rs = want.get((t, g.value), [])
            seen += len(rs)
            assert point.count == point.value == weighted(rs)
            durations = [x["duration_ms"] for x in rs if x["duration_ms"] is not None]
            assert close(mpoint.value, max(durations) if durations else 0)
    assert seen == len(data)


def _iso(t_us: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_auto_granularity_and_aggregate_only(cf, data) -> None:
    r = query(cf, parameters={"calculations": [{"operator": "count"}]})
    assert r.run.granularity == 48  # 1 day in 30-minute buckets
    series = r.calculations[0].series  # type: ignore[index]
    assert len(series) == 48 and sum(s.data[0].count for s in series) == weighted(data)
    r = query(cf, parameters={"calculations": [{"operator": "count"}]}, chart_type="aggregate")
    assert r.calculations[0].series == [] and count_of(r) == weighted(data)  # type: ignore


def test_compare_previous_window(cf, live, data) -> None:
    prev = rows(live, ORG, PREV_FROM, FROM)
    params = {"calculations": [{"operator": "count"},
                               {"operator": "avg", "key": "$metadata.duration"}]}
    r = query(cf, parameters=params, compare=True, granularity=2)
    assert count_of(r) == weighted(data)
    cmp_count, cmp_avg = r.compare  # type: ignore[misc]
    assert cmp_count.aggregates[0].count == weighted(prev) and len(prev) > 0
    durations = [(x["duration_ms"], x["sample_interval"]) for x in prev
                 if x["duration_ms"] is not None]
    assert close(cmp_avg.aggregates[0].value,
                 stat("avg", [d for d, _ in durations], [w for _, w in durations]))
    assert [s.time for s in cmp_count.series] == [_iso(PREV_FROM * 1000),
                                                   _iso(PREV_FROM * 1000 + 43_200_000_000)]
    assert sum(s.data[0].count for s in cmp_count.series) == weighted(prev)


def test_sampled_counts_are_weighted(cf) -> None:
    params = {"datasets": ["sampled"],
              "calculations": [{"operator": "count"},
                               {"operator": "sum", "key": "work.ms", "keyType": "number"},
                               {"operator": "avg", "key": "work.ms", "keyType": "number"}]}
    r = query(cf, parameters=params, ignore_series=True)
    count, total, avg = (c.aggregates[0] for c in r.calculations)  # type: ignore[union-attr]
    work = [10.0 + i for i in range(20)]
    assert count.count == count.value == 80 and count.sample_interval == 4
    assert total.value == 4 * sum(work) and close(avg.value, sum(work) / 20)


# -- filters and needle -------------------------------------------------------------------
def _leaf(key: str, operation: str, value: object = None, type_: str = "string") -> dict:
    leaf = {"key": key, "operation": operation, "type": type_}
    if value is not None:
        leaf["value"] = value
    return leaf


def _num(row: dict, key: str) -> object:
    return (row["attrs_number"] or {}).get(key)


SVC = "$metadata.service"
MSG = "$metadata.message"
STATUS = "$metadata.statusCode"
Pred = Callable[[dict], bool]
FILTERS: list[tuple[str, list[dict], str | None, Pred]] = []
for _op in ("eq", "="):
    FILTERS.append((_op, [_leaf(SVC, _op, "api-gateway")], None,
                    lambda r: r["service"] == "api-gateway"))
for _op in ("neq", "!="):
    FILTERS.append((_op, [_leaf(SVC, _op, "api-gateway")], None,
                    lambda r: r["service"] != "api-gateway"))
for _op in ("in", "IN"):
    FILTERS.append((_op, [_leaf(SVC, _op, "api-gateway, auth-service")], None,
                    lambda r: r["service"] in ("api-gateway", "auth-service")))
for _op in ("not_in", "NOT_IN"):
    FILTERS.append((_op, [_leaf(SVC, _op, "api-gateway,auth-service")], None,
                    lambda r: r["service"] not in ("api-gateway", "auth-service")))
for _op, _f in (("gt", lambda s: s > 399), (">", lambda s: s > 399),
                ("gte", lambda s: s >= 400), (">=", lambda s: s >= 400),
                ("lt", lambda s: s < 300), ("<", lambda s: s < 300),
                ("lte", lambda s: s <= 299), ("<=", lambda s: s <= 299)):
    _v = 399 if _op in ("gt", ">") else 400 if _op in ("gte", ">=") else 300 \
        if _op in ("lt", "<") else 299
    FILTERS.append((_op, [_leaf(STATUS, _op, _v, "number")], None,
                    lambda r, f=_f: r["status_code"] is not None and f(r["status_code"])))
for _op in ("includes", "INCLUDES"):
    FILTERS.append((_op, [_leaf(MSG, _op, "GET")], None,
                    lambda r: r["message"] is not None and "GET" in r["message"]))
for _op in ("not_includes", "DOES_NOT_INCLUDE"):
    FILTERS.append((_op, [_leaf(MSG, _op, "GET")], None,
                    lambda r: r["message"] is None or "GET" not in r["message"]))
for _op in ("starts_with", "STARTS_WITH"):
    FILTERS.append((_op, [_leaf(MSG, _op, "POST")], None,
                    lambda r: r["message"] is not None and r["message"].startswith("POST")))
for _op in ("ends_with", "ENDS_WITH"):
    FILTERS.append((_op, [_leaf(MSG, _op, ":id")], None,
                    lambda r: r["message"] is not None and r["message"].endswith(":id")))
for _op in ("regex", "MATCH_REGEX"):
    FILTERS.append((_op, [_leaf(MSG, _op, r"^(GET|POST) /api/(orders|users)")], None,
                    lambda r: r["message"] is not None and
                    re.search(r"^(GET|POST) /api/(orders|users)", r["message"]) is not None))
for _op in ("exists", "EXISTS"):
    FILTERS.append((_op, [_leaf("$metadata.error", _op)], None, lambda r: r["error"] is not None))
for _op in ("is_null", "DOES_NOT_EXIST"):
    FILTERS.append((_op, [_leaf("$metadata.error", _op)], None, lambda r: r["error"] is None))
FILTERS += [
    ("attr-string", [_leaf("http.route", "eq", "/api/users/:id")], None,
     lambda r: (r["attrs_string"] or {}).get("http.route") == "/api/users/:id"),
    ("attr-number", [_leaf("cloudflare.cpu_time_ms", "gt", 10, "number")], None,
     lambda r: (_num(r, "cloudflare.cpu_time_ms") or 0) > 10),
    ("attr-bool", [_leaf("work.ok", "eq", False, "boolean")], None,
     lambda r: (r["attrs_bool"] or {}).get("work.ok") is False),
    ("resource-attr", [_leaf("service.version", "exists")], None,
     lambda r: (r["resource"] or {}).get("service.version") is not None),
    ("and-default", [_leaf(SVC, "eq", "api-gateway"), _leaf(STATUS, "gte", 400, "number")],
     None, lambda r: r["service"] == "api-gateway" and (r["status_code"] or 0) >= 400),
    ("or-top", [_leaf(SVC, "eq", "api-gateway"), _leaf(STATUS, "gte", 400, "number")], "OR",
     lambda r: r["service"] == "api-gateway" or (r["status_code"] or 0) >= 400),
    ("nested", [{"kind": "group", "filterCombination": "or", "filters": [
        _leaf(SVC, "eq", "sampler"),
        {"kind": "group", "filterCombination": "and", "filters": [
            _leaf(SVC, "eq", "api-gateway"),
            {"kind": "group", "filterCombination": "or", "filters": [
                {"kind": "group", "filterCombination": "AND", "filters": [
                    _leaf(STATUS, ">=", 500, "number")]},
                _leaf(MSG, "starts_with", "POST")]}]}]}], None,
     lambda r: r["service"] == "sampler" or (r["service"] == "api-gateway" and (
         (r["status_code"] or 0) >= 500 or (r["message"] or "").startswith("POST")))),
]


@pytest.mark.parametrize(("name", "filters", "combination", "pred"), FILTERS,
                         ids=[f[0] for f in FILTERS])
def test_filters(cf, data, name: str, filters: list, combination: str | None,
                 pred: Pred) -> None:
    params: dict[str, object] = {"filters": filters, "calculations": [{"operator": "count"}]}
    if combination:
        params["filterCombination"] = combination
    r = query(cf, parameters=params, chart_type="aggregate")
    want = weighted([x for x in data if pred(x)])
    assert count_of(r) == want
    assert 0 < want < weighted(data) or name in ("neq", "!=", "not_in", "NOT_IN")


NEEDLE_COLUMNS = ("message", "error", "span_name", "url", "service", "trace_id", "request_id")


def _haystack(r: dict) -> list[str]:
    return [r[c] for c in NEEDLE_COLUMNS if r[c] is not None] + \
        list((r["attrs_string"] or {}).values())


@pytest.mark.parametrize(("needle", "pred"), [
    ({"value": "SAMPLED work"}, lambda h: "sampled work" in h.lower()),
    ({"value": "Sampled Work", "matchCase": True}, lambda h: "Sampled Work" in h),
    ({"value": "sampled work", "matchCase": True}, lambda h: "sampled work" in h),
    ({"value": "timeout"}, lambda h: "timeout" in h.lower()),
    ({"value": r"item 1\d", "isRegex": True}, lambda h: re.search(r"item 1\d", h) is not None),
    ({"value": r"ITEM [0-3] ", "isRegex": True},
     lambda h: re.search(r"(?i)ITEM [0-3] ", h) is not None),
])
def test_needle(live, data, needle: dict, pred: Callable[[str], bool]) -> None:
    # Not strict: the SDK types the echoed run.query.parameters.needle.value as an empty
    # model, which no string validates against (an SDK generation gap).
    cf = client(live, live.token(ORG), strict=False)
    r = query(cf, parameters={"needle": needle, "calculations": [{"operator": "count"}]},
              ignore_series=True)
    want = weighted([x for x in data if any(pred(h) for h in _haystack(x))])
    assert count_of(r) == want


# -- events, invocations, distribution ----------------------------------------------------
def test_events_cursor_paging(cf, data) -> None:
    mine = [x for x in data if x["dataset"] == "cloudflare-workers"]
    want = [x["id"] for x in sorted(mine, key=lambda x: (x["timestamp"], x["id"]),
                                    reverse=True)]
    by_id = {x["id"]: x for x in mine}
    params = {"datasets": ["cloudflare-workers"]}
    got: list[str] = []
    pages = []
    offset = None
    while True:
        kw: dict[str, object] = {"view": "events", "limit": 200, "parameters": params}
        if offset:
            kw["offset"] = offset
        r = query(cf, **kw)
        ev = r.events
        assert ev is not None and ev.count == weighted(mine)
        assert sum(s.data[0].count for s in ev.series) == weighted(mine)  # type: ignore
        if not ev.events:
            break
        pages.append([e.metadata.id for e in ev.events])
        got += pages[-1]
        offset = ev.events[-1].metadata.id
    assert got == want and len(pages) > 2
    # offsetDirection=prev from the first event of page 2 gives page 1 again
    r = query(cf, view="events", limit=200, parameters=params, offset=pages[1][0],
              offset_direction="prev")
    assert [e.metadata.id for e in r.events.events] == pages[0]  # type: ignore[union-attr]
    # the events are typed and equal the stored rows
    r = query(cf, view="events", limit=200, parameters=params)
    n_workers = n_members = 0
    for e in r.events.events:  # type: ignore[union-attr]
        row = by_id[e.metadata.id]
        assert e.dataset == "cloudflare-workers" and e.timestamp == ms(row["timestamp"])
        m = e.metadata
        assert (m.service, m.level, m.message, m.trace_id, m.span_id, m.request_id) == (
            row["service"], row["level"], row["message"], row["trace_id"], row["span_id"],
            row["request_id"])
        assert m.start_time == ms(row["timestamp"]) and m.type == row["kind"]
        assert m.duration == (None if row["duration_ms"] is None else round(row["duration_ms"]))
        assert m.status_code == row["status_code"]
        assert e.source == {**(row["attrs_string"] or {}), **(row["attrs_number"] or {}),
                            **(row["attrs_bool"] or {})}
        if row["outcome"] is not None:
            n_workers += 1
            w = e.workers
            assert isinstance(w, EventsEventWorkersUnionMember1)
            assert (w.outcome, w.script_name, w.event_type) == (row["outcome"], row["service"],
                                                               row["trigger"])
            assert w.cpu_time_ms == row["attrs_number"]["cloudflare.cpu_time_ms"]
        elif row["request_id"] is not None:  # a log or span of an invocation
            n_members += 1
            w = e.workers
            assert isinstance(w, EventsEventWorkersUnionMember0)
            assert (w.script_name, w.request_id) == (row["service"], row["request_id"])
        else:
            assert e.workers is None
    assert n_workers > 0 and n_members > 0
    keys = {f.key: f.type for f in r.events.fields}  # type: ignore[union-attr]
    assert keys["$metadata.id"] == "string" and keys["$metadata.duration"] == "number"
    assert keys["http.route"] == "string" and keys["cloudflare.cpu_time_ms"] == "number"


def test_events_series_errors_and_ignore_series(cf, data) -> None:
    r = query(cf, view="events", limit=1, granularity=3)
    series = r.events.series  # type: ignore[union-attr]
    assert len(series) == 3 and r.run.granularity == 3
    step = 8 * 3600 * 1000
    for i, s in enumerate(series):
        rs = [x for x in data if FROM + i * step <= ms(x["timestamp"]) < FROM + (i + 1) * step]
        d = s.data[0]
        assert d.count == weighted(rs) and d.aggregates.api_count == len(rs)
        assert d.errors == weighted([x for x in rs if x["error"] is not None])
    r = query(cf, view="events", limit=1, ignore_series=True)
    assert r.events.series is None and len(r.events.events) == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("key", ["$metadata.traceId", "$metadata.requestId"])
def test_events_of_one_trace_or_invocation(cf, data, key: str) -> None:
    """A filter that picks out a few rows runs the page next to the series (no narrowing
    to the newest buckets): same page, same series as the oracle."""
    column = {"$metadata.traceId": "trace_id", "$metadata.requestId": "request_id"}[key]
    groups: dict[str, list[dict]] = {}
    for x in data:
        if x[column] is not None:
            groups.setdefault(x[column], []).append(x)
    value, rows = max(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
    assert len(rows) >= 3
    r = query(cf, view="events", limit=2, granularity=3,
              parameters={"filters": [_leaf(key, "eq", value)]})
    ev = r.events
    assert ev is not None and ev.count == weighted(rows)
    want = [x["id"] for x in sorted(rows, key=lambda x: (x["timestamp"], x["id"]),
                                    reverse=True)][:2]
    assert [e.metadata.id for e in ev.events] == want
    assert sum(s.data[0].count for s in ev.series) == weighted(rows)  # type: ignore


@pytest.mark.parametrize("view", ["invocations", "requests"])
def test_invocations(cf, data, view: str) -> None:
    r = query(cf, view=view, limit=5, parameters={"filters": [_leaf(SVC, "neq", "sampler")]})
    inv = r.invocations
    assert inv is not None
    last: dict[str, object] = {}
    for x in data:
        if x["request_id"] is not None and x["service"] != "sampler":
            last[x["request_id"]] = max(last.get(x["request_id"], x["timestamp"]),
                                        x["timestamp"])
    top = sorted(last, key=lambda k: (-us(last[k]), k))[:5]  # type: ignore[arg-type]
    assert list(inv) == top
    for rid, events in inv.items():
        want = sorted((x for x in data if x["request_id"] == rid),
                      key=lambda x: (x["timestamp"], x["id"]))
        assert [e.metadata.id for e in events] == [x["id"] for x in want]
        assert all(e.metadata.request_id == rid for e in events)


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_distribution(cf, data, scale: str) -> None:
    params = {"calculations": [{"operator": "p99", "key": "$metadata.duration",
                                "keyType": "number"}]}
    r = query(cf, parameters=params, chart_type="distribution", distribution_scale=scale,
              granularity=4)
    dist = r.distribution
    assert dist is not None and dist.bucket_mode == scale and len(dist.bins) == 4
    edges = dist.bucket_boundaries
    assert len(edges) == len(dist.buckets) + 1 == len(dist.matrix) + 1
    durations = [x for x in data if x["duration_ms"] is not None]
    assert edges[0] == min(x["duration_ms"] for x in durations)
    assert edges[-1] == max(x["duration_ms"] for x in durations)
    want = [[0.0] * 4 for _ in dist.buckets]
    for x in durations:
        b = sum(1 for e in edges[1:-1] if x["duration_ms"] >= e)
        t = (ms(x["timestamp"]) - FROM) // (6 * 3600 * 1000)
        want[b][t] += x["sample_interval"]
    assert dist.matrix == want


def test_distribution_with_compare_is_400(cf) -> None:
    with pytest.raises(cloudflare.BadRequestError) as e:
        query(cf, parameters={"calculations": [{"operator": "max", "key": "$metadata.duration"}]},
              chart_type="distribution", compare=True)
    assert e.value.body["errors"][0]["field"] == "compare"  # type: ignore[index]


# -- runs, tenancy ------------------------------------------------------------------------
def test_runs_are_stored_unless_dry(cf, live) -> None:
    before = live.meta.count("cf_run", ORG)
    r = query(cf, query_id="stored", parameters={"calculations": [{"operator": "count"}]})
    assert live.meta.count("cf_run", ORG) == before + 1
    assert live.meta.get("cf_run", ORG, r.run.id).body["query"]["id"] == "stored"
    assert r.run.query.adhoc is True and r.run.query.id == "stored" and not r.run.dry
    assert r.run.query.parameters.calculations[0].operator == "count"  # type: ignore[index]
    r = query(cf, dry=True, parameters={"calculations": [{"operator": "count"}]})
    assert r.run.dry and live.meta.count("cf_run", ORG) == before + 1
    assert r.model_dump()["run"]["statistics"]["rows_read"] == r.statistics.rows_read


def test_run_history_keeps_the_newest_runs_per_org(cf, live, monkeypatch) -> None:
    """Runs are trimmed to the newest ``RUN_HISTORY`` of the org; other orgs' stay."""
    from telequery.api.workers import saved

    other = live.meta.count("cf_run", OTHER)
    query(client(live, live.token(OTHER)), account_id=OTHER)
    monkeypatch.setattr(saved, "RUN_HISTORY", 3)
    monkeypatch.setattr(saved, "RUN_TRIM_EVERY", 1)
    ids = [query(cf, query_id=f"h{i}").run.id for i in range(6)]
    assert live.meta.count("cf_run", ORG) == 3
    kept = {d.id for d in live.meta.list("cf_run", ORG)}
    assert kept == set(ids[-3:])
    assert live.meta.count("cf_run", OTHER) == other + 1


def test_tenancy(live) -> None:
    other_rows = rows(live, OTHER)
    theirs = client(live, live.token(OTHER))
    with pytest.raises(cloudflare.PermissionDeniedError):
        query(theirs, parameters={"calculations": [{"operator": "count"}]})
    with pytest.raises(cloudflare.PermissionDeniedError):
        theirs.workers.observability.telemetry.keys(account_id=ORG, from_=FROM, to=TO)
    r = query(theirs, account_id=OTHER, parameters={"calculations": [{"operator": "count"}]})
    assert count_of(r) == weighted(other_rows)
    anonymous = client(live, "tq_not-a-token")
    with pytest.raises(cloudflare.AuthenticationError):
        query(anonymous, parameters={})
    read_only = client(live, live.token(ORG, ("ingest",)))
    with pytest.raises(cloudflare.PermissionDeniedError):
        query(read_only, parameters={})
