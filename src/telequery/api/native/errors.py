"""The native envelope ``{"error": {"status", "code", "details": [{field, reason}]}}``,
shared by the native query API and the admin API (``api.errors.native_envelope``)."""

from __future__ import annotations

from telequery.api.errors import DEFAULT_ENVELOPE, native_envelope

PREFIXES = ("/api/v1/query", "/api/v1/sql", "/api/v1/cost", "/api/v1/whoami")
ENVELOPE = DEFAULT_ENVELOPE
envelope = native_envelope
