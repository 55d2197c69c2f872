"""Log pattern mining: turn a log message into a stable template at ingest.

``message_template`` is a pure function of the message, so the template (or
its ``fingerprint``) can be computed once per line at ingest and stored; a
pattern query is then an exact ``GROUP BY`` on that column. See
docs/patterns.md for the rules, the accuracy on loghub-2k and the trade-offs.
"""

from __future__ import annotations

from telequery.patterns.evaluate import grouping_accuracy
from telequery.patterns.miner import (
    MINER_VERSION,
    WILDCARD,
    clear_caches,
    fingerprint,
    message_template,
    templates,
)

__all__ = [
    "MINER_VERSION",
    "WILDCARD",
    "clear_caches",
    "fingerprint",
    "grouping_accuracy",
    "message_template",
    "templates",
]
