"""Synthetic telemetry: realistic worker and agent traffic as OTLP export requests.

Used by ``telequery demo`` and the benchmarks; deterministic from a seed. See
``generate`` for the contract and ``GeneratedStats`` for what a run produced.
"""

from __future__ import annotations

from telequery.synth.generator import GeneratedStats, generate, message_templates

__all__ = ["GeneratedStats", "generate", "message_templates"]
