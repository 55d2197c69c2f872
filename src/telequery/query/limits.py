"""What one request may ask for: every bound the query layer enforces, in one place.

Checked before anything runs (``bind.check_size``, then the binder), so a request's
cost is bounded by its size; each API answers a breach with 400 ``limit_exceeded`` naming
the bound. docs/operations.md lists them with the measurements behind them.
"""

from __future__ import annotations

MAX_FILTER_DEPTH = 4
# What one request may ask for. Checked before anything runs, so a request's cost is
# bounded by its size: DuckDB's optimiser is quadratic in AND-ed conjuncts (2,000
# conditions took 8.8 s and 3 GB; 100 take ~20 ms).
MAX_CONDITIONS = 100  # leaves of the filter tree, havings included
MAX_LIST_VALUES = 1_000  # values of one in / not_in / array_has_* list
MAX_VALUE_CHARS = 10_000  # one filter value (a string, or each string of a list)
MAX_NEEDLE_CHARS = 1_000
MAX_GROUP_BY = 20
MAX_MEASURES = 50
MAX_SERIES_POINTS = 200_000  # time buckets x groups of a timeseries
MAX_BUCKETS = 10_000  # time buckets of one timeseries
MAX_LIMIT = 100_000  # rows or groups one query returns
