"""The catalog: importing this package registers every dataset."""

from telequery.query.datasets import events  # noqa: F401
