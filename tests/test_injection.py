"""Hostile strings are data: matched literally in every position, never executed.

Each string is used as a service name, a message, an attribute key and an attribute
value, then as a filter value (every string operator), a filter/group-by key, a needle
and an escaped regex. Every query must return exactly the rows holding that string.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import re2

from conftest import ENGINES, make_store
from otlp_build import Span, traces_request
from telequery.ingest.mapping import spans_to_rows
from telequery.query import engine
from telequery.query.ir import (
    Agg,
    Condition,
    Dimension,
    Measure,
    Needle,
    Op,
    Query,
    TimeRange,
)
from test_oracle import BASE, BASE_NS

HOSTILE = [
    "'", "''", '"', "`", "\\", "\\'", "%", "_", "%_%", "a%b_c", "'; DROP TABLE events; --",
    "x' OR '1'='1", "\" OR 1=1 --", "$p0", "{p0:String}", "?", ":name", "]]", "[0]",
    "\x01\x02\x1f", "tab\tand\nnewline\r", "Ünïcödé 日本語 🚀", "\u202eRTL", "../../etc/passwd",
    "SELECT * FROM events", "/* comment */", "NULL", "null", "",
]


@pytest.fixture(scope="module", params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    s = make_store(request.param, Path(tmp_path_factory.mktemp("inj")))
    spans = []
    for i, text in enumerate(HOSTILE):
        key = "k" + text
        spans.append(Span(f"svc{text}", f"msg{text}end", BASE_NS + i * 1_000_000, 1_000_000,
                          (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big"),
                          attrs={key: text, "hostile.value": text}))
    s.append(spans_to_rows(traces_request(spans), "org").table())
    yield s
    s.close()


WINDOW = TimeRange(BASE, BASE + timedelta(hours=1))


def count(store, **kw) -> float:  # type: ignore[no-untyped-def]
    q = Query("events", WINDOW, measures=(Measure(Agg.COUNT),), **kw)
    return engine.run(store, q, "org").rows[0][0]


def holders(text: str, pred) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for t in HOSTILE if pred(t, text))


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_match_literally(store, text: str) -> None:  # type: ignore[no-untyped-def]
    assert count(store, filter=Condition("$metadata.service", Op.EQ, f"svc{text}")) == 1
    assert count(store, filter=Condition("hostile.value", Op.EQ, text)) == 1
    assert count(store, filter=Condition("k" + text, Op.EXISTS)) == 1
    assert count(store, filter=Condition("hostile.value", Op.INCLUDES, text)) == \
        holders(text, lambda t, s: s in t)
    assert count(store, filter=Condition("hostile.value", Op.STARTS_WITH, text)) == \
        holders(text, lambda t, s: t.startswith(s))
    assert count(store, filter=Condition("hostile.value", Op.ENDS_WITH, text)) == \
        holders(text, lambda t, s: t.endswith(s))
    assert count(store, filter=Condition("hostile.value", Op.NOT_IN, [text])) == \
        len(HOSTILE) - 1
    assert count(store, filter=Condition("hostile.value", Op.REGEX, "^" + re2.escape(text) +
                                         "$")) == 1
    if text:
        assert count(store, needle=Needle(f"msg{text}end", match_case=True)) == 1
        assert count(store, needle=Needle(re2.escape(f"msg{text}end"), regex=True,
                                             match_case=True)) == 1


def test_hostile_keys_group_and_table_survives(store) -> None:  # type: ignore[no-untyped-def]
    for text in HOSTILE:
        key = "k" + text
        q = Query("events", WINDOW, measures=(Measure(Agg.COUNT),),
                  group_by=(Dimension(key),))
        groups = dict(engine.run(store, q, "org").rows)
        assert groups.get(text) == 1.0
    assert count(store) == len(HOSTILE)
    assert engine.run(store, Query("events", WINDOW, measures=(Measure(Agg.COUNT),)),
                      "org' OR '1'='1").rows == [(0,)]
