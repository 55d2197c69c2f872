"""Typed query errors; each API turns them into its own 4xx envelope."""

from __future__ import annotations

from telequery.store.base import StatementStopped, StatementTimeout


class QueryError(Exception):
    """A request the engine cannot run as asked. ``field`` names the offending input."""

    status = 400
    code = "invalid_query"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnknownField(QueryError):
    code = "unknown_field"

    def __init__(self, field: str, dataset: str) -> None:
        super().__init__(field, f"unknown field {field!r} in dataset {dataset!r}")


class UnknownDataset(QueryError):
    code = "unknown_dataset"

    def __init__(self, dataset: str) -> None:
        super().__init__("dataset", f"unknown dataset {dataset!r}")


class OperatorNotAllowed(QueryError):
    code = "operator_not_allowed"

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, f"field {field!r} does not support operator {op!r}")


class InvalidValue(QueryError):
    code = "invalid_value"


class LimitExceeded(QueryError):
    code = "limit_exceeded"


# Timeouts are raised by the stores (a statement past its deadline), so the class lives
# there; this is its name in the query layer's surface.
QueryTimeout = StatementTimeout
QueryStopped = StatementStopped  # a timeout, or past the memory a statement may take
