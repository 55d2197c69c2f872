"""telequery: a self-hosted telemetry query engine for AI agents and serverless workers."""

__version__ = "0.1.0"
