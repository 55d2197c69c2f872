"""Stores: run compiled SQL, append Arrow batches, report statistics."""

from __future__ import annotations

from telequery.store.base import QueryResult, Stats, Store, StoreUnavailable, open_store

__all__ = ["QueryResult", "Stats", "Store", "StoreUnavailable", "open_store"]
