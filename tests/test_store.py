"""The store under concurrency: one writer, many readers, in one process, on both engines."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import ENGINES, make_store
from otlp_build import Span, traces_request
from telequery.ingest.mapping import spans_to_rows
from telequery.query import engine
from telequery.query.ir import Agg, Measure, Query, TimeRange
from test_oracle import BASE, BASE_NS

BATCHES, PER_BATCH, READERS = 30, 200, 4


def batch(i: int):  # type: ignore[no-untyped-def]
    spans = [Span("api", f"op{j % 7}", BASE_NS + (i * PER_BATCH + j) * 1_000_000, 1_000_000,
                  (i + 1).to_bytes(16, "big"), (i * PER_BATCH + j + 1).to_bytes(8, "big"))
             for j in range(PER_BATCH)]
    return spans_to_rows(traces_request(spans), "org").table()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_readers_see_whole_batches_while_writer_appends(tmp_path: Path,
                                                        engine_name: str) -> None:
    store = make_store(engine_name, tmp_path)
    q = Query("events", TimeRange(BASE, BASE + timedelta(days=1)),
              measures=(Measure(Agg.COUNT),))
    tables = [batch(i) for i in range(BATCHES)]
    seen: list[list[float]] = [[] for _ in range(READERS)]
    errors: list[BaseException] = []
    done = threading.Event()

    def read(k: int) -> None:
        try:
            while not done.is_set():
                seen[k].append(engine.run(store, q, "org").rows[0][0])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    readers = [threading.Thread(target=read, args=(k,)) for k in range(READERS)]
    for t in readers:
        t.start()
    for t in tables:
        store.append(t)
    done.set()
    for t in readers:
        t.join()
    store.close()
    assert not errors
    for counts in seen:
        assert counts == sorted(counts)  # never goes back
        assert all(c % PER_BATCH == 0 for c in counts)  # never half a batch
    reopened = make_store(engine_name, tmp_path)
    assert engine.run(reopened, q, "org").rows[0][0] == BATCHES * PER_BATCH
    reopened.close()
