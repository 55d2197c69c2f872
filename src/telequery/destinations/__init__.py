"""Destinations: what an org's telemetry is forwarded to, as OTLP/HTTP protobuf.

``config`` holds the definitions (documents in ``meta``), ``otlp`` turns stored rows back
into OTLP requests, ``spool`` is the bounded on-disk queue per destination, and
``exporter`` ties them to the ingest writer (batches are spooled before they are
acknowledged) and runs one sender thread per destination (docs/destinations.md).
"""
