"""Admin errors use the native envelope (``{"error": {"status", "code", "details"}}``)."""

from __future__ import annotations

from telequery.api.errors import DEFAULT_ENVELOPE, native_envelope

PREFIXES = ("/api/v1/tokens", "/api/v1/retention", "/api/v1/prices", "/api/v1/redaction")
ENVELOPE = DEFAULT_ENVELOPE
envelope = native_envelope
