"""Ingest: OTLP/NDJSON -> rows (``mapping``) -> durable, batched writes (``writer``)."""
