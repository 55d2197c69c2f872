"""telequery's own query API: the IR as JSON (see ``query/parse.py``).

The CLI uses it to query a running server (the DuckDB file is locked by the server
process), and it is the smallest way to reach every dataset in the catalog. Modules as in
every API package: ``routes``, ``request``, ``response``, ``errors``.
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api import errors as api_errors
from telequery.api.native.errors import ENVELOPE, PREFIXES, envelope
from telequery.api.native.routes import router


def install(app: FastAPI) -> None:
    for prefix in PREFIXES:
        api_errors.register_formatter(prefix, envelope, ENVELOPE)
    app.include_router(router)
