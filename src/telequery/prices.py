"""Org-level negotiated prices (USD per 1M tokens, per model and token kind), kept in meta
and read by ingest (``ingest.enrich``: an override wins over the price table, a cost the
sender provided wins over both)."""

from __future__ import annotations

import threading

from telequery.meta import Meta

KIND = "price_override"
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


class PriceBook:
    """The overrides of every org, cached; ``set``/``remove`` keep the cache right."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta
        self._cache: dict[str, dict[str, dict[str, float]]] = {}
        self._lock = threading.Lock()

    def for_org(self, org: str) -> dict[str, dict[str, float]]:
        with self._lock:
            hit = self._cache.get(org)
        if hit is None:
            hit = {d.id: {k: float(v) for k, v in d.body.items() if k in TOKEN_KINDS}
                   for d in self.meta.list(KIND, org)}
            with self._lock:
                self._cache[org] = hit
        return hit

    def set(self, org: str, model: str, prices: dict[str, float]) -> None:
        if self.meta.get(KIND, org, model) is None:
            self.meta.put(KIND, org, model, prices, doc_id=model)
        else:
            self.meta.update(KIND, org, model, body=prices)
        with self._lock:
            self._cache.pop(org, None)

    def remove(self, org: str, model: str) -> bool:
        gone = self.meta.delete(KIND, org, model)
        with self._lock:
            self._cache.pop(org, None)
        return gone
