"""The catalog: importing this package registers every dataset."""

from telequery.query.datasets import (
    events,  # noqa: F401
    gateway,  # noqa: F401
    reports,  # noqa: F401
    traces,  # noqa: F401
)
