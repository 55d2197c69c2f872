"""The ``telequery`` command line."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="telequery: telemetry query engine for AI agents and serverless workers",
                  no_args_is_help=True, add_completion=False)
token_app = typer.Typer(help="API tokens", no_args_is_help=True)
app.add_typer(token_app, name="token")
retention_app = typer.Typer(help="retention rules: how long rows are kept", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
console = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data", help="data directory")]
StoreSpec = Annotated[str | None, typer.Option(
    "--store", help="store: a directory (DuckDB, default = --data), chdb:DIR or "
                    "clickhouse://user:pass@host:8123/db")]
DEMO_ORG = "demo"
EPOCH = "1970-01-01T00:00:00+00:00"


def _open(data: Path, store: str | None,  # type: ignore[no-untyped-def]
          memory_limit: str | None = None, spill_limit: str | None = None):
    from telequery.ingest.log import open_recovered

    meta = _meta(data)  # creates the directory
    spec = store or str(data)
    try:
        with _stderr_held_back():
            s = open_recovered(spec, memory_limit=memory_limit, spill_limit=spill_limit)
    except Exception as e:  # a locked directory: say so in one line, not a traceback
        text = str(e)
        if "Conflicting lock" in text or "EmbeddedServer" in text or "lock" in text.lower():
            held = re.search(r"held in (.+? \(PID \d+\))", text)
            holder = held.group(1) if held else _chdb_holder(spec)
            console.print(f"[red]the data directory {spec} is in use by {holder}; stop it, "
                          f"or send to it with --url[/]", soft_wrap=True)
            raise typer.Exit(2) from None
        raise
    return s, meta


@contextlib.contextmanager
def _stderr_held_back() -> Iterator[None]:
    """Hold back what native code writes to fd 2 while a store opens (chDB prints its own
    exception text there); it is passed on unless opening failed, which we say in a line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not failed:
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))


def _chdb_holder(spec: str) -> str:
    """Who holds a chDB directory: ClickHouse writes its PID into ``DIR/status``."""
    status = Path(spec.removeprefix("chdb:")) / "status"
    try:
        pid = re.search(r"PID: (\d+)", status.read_text())
    except OSError:
        pid = None
    return f"another process (PID {pid.group(1)})" if pid else "another process"


def _serve(store, meta, host: str, port: int,  # type: ignore[no-untyped-def]
           apply_delay: float = 1.0, retention: str | None = None,
           retention_every: str = "1h", read_your_writes: float | None = None,
           destinations_allow: tuple[str, ...] = ()) -> None:
    from telequery.api.app import create_app

    app = create_app(store, meta, apply_delay=apply_delay,
                     retention_days=_days(retention) if retention else None,
                     retention_every=_duration(retention_every).total_seconds(),
                     read_your_writes=read_your_writes,
                     destinations_allow=destinations_allow)
    run_server(app, host, port)


def run_server(app, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    """Serve ``app`` as ``telequery serve`` does (GC tuning, shutdown grace)."""
    import gc

    import uvicorn

    # Ingest allocates ~40 objects per span and frees them a request later; with the
    # default thresholds the cyclic GC runs every 700 allocations and keeps rescanning
    # the app's long-lived objects. Freeze those and collect less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    console.print(f"[green]serving on http://{host}:{port}[/]  (docs: http://{host}:{port}/docs)")
    # SIGTERM: stop accepting, interrupt running statements (their requests answer 503
    # with Retry-After), give requests 5 s to finish, then cancel what is left.
    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            stop = getattr(app.state, "stop_queries", None)
            if stop is not None:
                stop()

    Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                          timeout_graceful_shutdown=5)).run()


@app.command()
def serve(data: DataDir = Path(".telequery"), store: StoreSpec = None,
          host: str = "127.0.0.1", port: int = 8080,
          apply_delay: Annotated[float, typer.Option(
              help="seconds acknowledged rows may wait in the ingest log before they are "
                   "written to the table, where queries see them")] = 1.0,
          read_your_writes: Annotated[float | None, typer.Option(
              help="make every query wait (up to this many seconds) for the rows "
                   "acknowledged before it; default: queries read what is applied and a "
                   "request asks with the X-Telequery-Read-Your-Writes header")] = None,
          memory_limit: Annotated[str | None, typer.Option(
              help="memory statements may take, e.g. 3GiB: on DuckDB all of them at once "
                   "with its buffer cache, on ClickHouse each statement. Default: a fifth "
                   "of RAM, at most 8GiB (docs/security.md)")] = None,
          spill_limit: Annotated[str | None, typer.Option(
              help="disk a statement may spill to past its memory (DuckDB: all at once), "
                   "e.g. 10GiB. Default 4GiB")] = None,
          destinations_allow: Annotated[list[str] | None, typer.Option(
              help="a CIDR range destinations may send to although it is not public "
                   "(loopback, private, link-local, this server's own addresses are "
                   "refused otherwise); repeat for several")] = None,
          retention: Annotated[str | None, typer.Option(
              help="default retention, e.g. 30d (rows older are deleted); per-org and "
                   "per-dataset rules: `telequery retention set`. Default: keep forever")
          ] = None,
          retention_every: Annotated[str, typer.Option(
              help="how often retention sweeps run")] = "1h",
          query_nice: Annotated[int, typer.Option(
              min=0, max=19,
              help="run queries at this CPU priority (Linux nice, 1-19), so ingest gets "
                   "the larger share of a busy CPU (docs/performance.md). Default 0: "
                   "queries and ingest share it equally")] = 0,
          ) -> None:
    """Serve the APIs over the data directory."""
    from telequery.destinations.egress import EgressPolicy
    from telequery.store.base import parse_bytes

    allow = tuple(destinations_allow or ())
    for value, hint in ((memory_limit, "--memory-limit"), (spill_limit, "--spill-limit")):
        try:
            if value is not None:
                parse_bytes(value)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint=hint) from None
    try:
        EgressPolicy.of(allow)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--destinations-allow") from None
    s, m = _open(data, store, memory_limit, spill_limit)
    try:
        s.set_query_nice(query_nice)
    except ValueError as e:
        s.close()
        raise typer.BadParameter(str(e), param_hint="--query-nice") from None
    _serve(s, m, host, port, apply_delay, retention, retention_every, read_your_writes,
           allow)


@app.command()
def demo(data: DataDir = Path(".demo-data"), store: StoreSpec = None,
         events: Annotated[int, typer.Option(help="events to generate")] = 200_000,
         seed: int = 42, days: Annotated[int, typer.Option(help="days of history")] = 7,
         serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
         host: str = "127.0.0.1", port: int = 8080) -> None:
    """Fill DATA with synthetic agent and worker telemetry, print a token, then serve.

    Data from an earlier run is reused when it was made with the same settings in the last
    day; otherwise the demo org's rows are deleted and generated again (never appended to,
    which would double them). Only the demo org's rows are touched: every other org's
    data in the same directory stays as it is.
    """
    s, m = _open(data, store)
    marker = m.find_by_name("demo", DEMO_ORG, "dataset")
    want = {"events": events, "seed": seed, "days": days}
    made = datetime.fromisoformat(marker.body.get("end", EPOCH)) if marker else None
    fresh = marker is not None and made is not None and \
        {k: marker.body.get(k) for k in want} == want and \
        datetime.now(UTC) - made < timedelta(days=1)
    if fresh:
        console.print(f"demo data already present ({events:,} events, seed {seed})")
    else:
        if marker is not None:
            gone = s.delete(DEMO_ORG)
            m.delete("demo", DEMO_ORG, marker.id)
            console.print(f"replacing the demo org's {gone:,} events "
                          "(other orgs' data is kept)")
        end = _generate(s, events, seed, days)
        m.put("demo", DEMO_ORG, "dataset", {**want, "end": end.isoformat()})
    token = _demo_token(m, data / "demo-token.txt")
    console.print(f"org: [bold]{DEMO_ORG}[/]  token (all scopes, also in "
                  f"{data / 'demo-token.txt'}):")
    print(token, flush=True)
    if serve_after:
        _serve(s, m, host, port)


def _demo_token(meta, path: Path) -> str:  # type: ignore[no-untyped-def]
    """The demo's token: the one saved by the last run while it still works, else a new
    one, with every older demo token revoked (re-runs do not pile up live tokens)."""
    if path.exists():
        saved = path.read_text().strip()
        principal = meta.authenticate(saved)
        if principal is not None and principal.org == DEMO_ORG:
            return saved
    token, info = meta.issue_token(DEMO_ORG, ["ingest", "query", "admin"], name="demo")
    for old in meta.list_tokens(DEMO_ORG):
        if old.name == "demo" and old.id != info.id and old.revoked is None:
            meta.revoke_token(old.id, DEMO_ORG)
    path.write_text(token + "\n")
    return token


def _generate(store, events: int, seed: int, days: int) -> datetime:  # type: ignore[no-untyped-def]
    """Load ``events`` synthetic events ending now; return the end of the range."""
    from telequery.ingest.load import load
    from telequery.synth import generate

    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("generating demo events", total=events)
        load(store, DEMO_ORG, generate(seed, events, start, end),
             progress=lambda n: bar.advance(task, n))
    return end


@token_app.command("create")
def token_create(org: Annotated[str, typer.Option(help="org the token is bound to")],
                 scopes: Annotated[str, typer.Option(
                     help="comma-separated: ingest,query,admin")] = "ingest,query",
                 name: str = "",
                 expires: Annotated[str | None, typer.Option(
                     help="lifetime, e.g. 30d or 12h (default: until revoked)")] = None,
                 data: DataDir = Path(".telequery")) -> None:
    """Create an API token; it is printed once and stored hashed."""
    meta = _meta(data)
    until = datetime.now(UTC) + _duration(expires) if expires else None
    try:
        token = meta.create_token(org, [s.strip() for s in scopes.split(",") if s.strip()],
                                  name, until)
    except ValueError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    print(token)


@token_app.command("list")
def token_list(org: Annotated[str | None, typer.Option(help="only this org's")] = None,
               data: DataDir = Path(".telequery"),
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never the tokens themselves): id, name, scopes, dates, state."""
    tokens = [t.as_json() | {"org": t.org} for t in _meta(data).list_tokens(org)]
    if as_json:
        print(json.dumps(tokens))
        return
    table = Table("id", "org", "name", "scopes", "created", "expires", "last used", "state")
    for t in tokens:
        state = "active" if t["active"] else ("revoked" if t["revoked"] else "expired")
        table.add_row(str(t["id"]), str(t["org"]), str(t["name"]), ",".join(t["scopes"]),
                      *[str(t[k] or "")[:19] for k in ("created", "expires", "last_used")],
                      state)
    Console().print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="the id from `token list`")],
                 data: DataDir = Path(".telequery")) -> None:
    """Revoke a token: a running server refuses it from its next request on."""
    if not _meta(data).revoke_token(token_id):
        console.print(f"[red]no active token with id {token_id}[/]")
        raise typer.Exit(2)
    console.print(f"revoked {token_id}")


def _meta(data: Path):  # type: ignore[no-untyped-def]
    from telequery.meta import Meta

    data.mkdir(parents=True, exist_ok=True)
    return Meta(data / "meta.sqlite")


@app.command()
def query(org: Annotated[str | None, typer.Option(help="org to query (local data)")] = None,
          data: DataDir = Path(".telequery"), store: StoreSpec = None,
          url: Annotated[str | None, typer.Option(
              help="query a running server instead, e.g. http://127.0.0.1:8080")] = None,
          token: Annotated[str | None, typer.Option(
              envvar="TELEQUERY_TOKEN", help="API token (with --url); its org is queried")
          ] = None,
          dataset: str = "events",
          since: Annotated[str, typer.Option(help="look back, e.g. 1h, 7d")] = "1d",
          measure: Annotated[list[str] | None, typer.Option(
              help="agg or agg:field, e.g. count, p99:$metadata.duration")] = None,
          group_by: Annotated[list[str] | None, typer.Option("--group-by")] = None,
          needle: str | None = None, limit: int = 20,
          fmt: Annotated[str, typer.Option(
              "--format", help="table, json or csv")] = "table",
          as_json: Annotated[bool, typer.Option("--json", help="same as --format json")
                             ] = False) -> None:
    """Run a query: a JSON IR on stdin (see query/parse.py), or built from the flags.

    Reads the data directory directly, or with --url asks a running server. Whole numbers
    (counts, sums of counts) print as integers; other measures with 6 significant digits
    in table and CSV output, in full in JSON.
    """
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    fmt = "json" if as_json else fmt
    from telequery.query import QueryError, QueryStopped, query_from_dict
    from telequery.query import run as run_query

    if not sys.stdin.isatty() and (body := sys.stdin.read().strip()):
        spec = json.loads(body)
    else:
        end = datetime.now(UTC)
        spec = {"dataset": dataset, "from": (end - _duration(since)).isoformat(),
                "to": end.isoformat(), "limit": limit,
                "measures": [_measure(m) for m in measure or []],
                "group_by": group_by or []}
        if needle:
            spec["needle"] = {"value": needle}
    if url:
        answer = _remote(url, token, spec)
    else:
        if not org:
            raise typer.BadParameter("--org is required without --url", param_hint="--org")
        s, _ = _open(data, store)
        try:
            result = run_query(s, query_from_dict(spec), org)
        except (QueryError, QueryStopped) as e:
            console.print(f"[red]{e.field}: {e.reason}[/]")
            raise typer.Exit(2) from None
        answer = {"columns": result.columns, "rows": result.rows,
                  "stats": result.stats.__dict__}
    _print_answer(answer, fmt)


def _print_answer(answer: dict, fmt: str) -> None:
    """Columns and rows as a table (with what the query read), JSON or CSV."""
    rows = [[_whole(v) for v in row] for row in answer["rows"]]
    if fmt == "json":
        print(json.dumps({**answer, "rows": rows}, default=str))
        return
    if fmt == "csv":
        import csv

        out = csv.writer(sys.stdout)
        out.writerow(answer["columns"])
        out.writerows([_cell(v) for v in row] for row in rows)
        return
    table = Table(*answer["columns"])
    for row in rows:
        table.add_row(*[_cell(v) for v in row])
    Console().print(table)
    stats = answer["stats"]
    more = " (cut at the limit)" if answer.get("truncated") else ""
    console.print(f"{len(answer['rows'])} rows{more}; read {stats['rows_read']:,} rows in "
                  f"{stats['elapsed'] * 1000:.1f} ms")


@app.command()
def sql(statement: Annotated[str, typer.Argument(help="a SELECT over events, spans, logs "
                                                      "and the datasets (docs/sql.md)")],
        org: Annotated[str | None, typer.Option(help="org to query (local data)")] = None,
        data: DataDir = Path(".telequery"), store: StoreSpec = None,
        url: Annotated[str | None, typer.Option(
            help="query a running server instead, e.g. http://127.0.0.1:8080")] = None,
        token: Annotated[str | None, typer.Option(
            envvar="TELEQUERY_TOKEN", help="API token (with --url); its org is queried")
        ] = None,
        since: Annotated[str, typer.Option(help="look back, e.g. 1h, 7d")] = "1d",
        limit: int = 1000,
        fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
        ) -> None:
    """Run a read-only SQL SELECT over one org's telemetry (tables scoped to the org and
    to the last --since)."""
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    end = datetime.now(UTC)
    start = end - _duration(since)
    if url:
        answer = _remote(url, token, {"sql": statement, "from": start.isoformat(),
                                      "to": end.isoformat(), "limit": limit}, "/api/v1/sql")
    else:
        from telequery.query import QueryError, QueryStopped, TimeRange, run_sql

        if not org:
            raise typer.BadParameter("--org is required without --url", param_hint="--org")
        s, _ = _open(data, store)
        try:
            result = run_sql(s, statement, org, TimeRange(start, end), limit=limit)
        except (QueryError, QueryStopped) as e:
            console.print(f"[red]{e.field}: {e.reason}[/]")
            raise typer.Exit(2) from None
        answer = {"columns": result.columns, "rows": result.rows,
                  "truncated": result.truncated, "stats": result.stats.__dict__}
    _print_answer(answer, fmt)


@app.command()
def mcp(data: DataDir = Path(".telequery"), store: StoreSpec = None,
        org: Annotated[str | None, typer.Option(help="org to serve (local data)")] = None,
        url: Annotated[str | None, typer.Option(
            help="serve a running server's data instead, e.g. http://127.0.0.1:8080")] = None,
        token: Annotated[str | None, typer.Option(
            envvar="TELEQUERY_TOKEN", help="API token with the query scope (with --url)")
        ] = None) -> None:
    """Serve the MCP tools over stdio, for desktop clients (Claude Desktop, IDEs).

    With --url the tools call that server with --token; otherwise they read the data
    directory in-process for --org (a token for it is made for the session and revoked
    when it ends).
    """
    from telequery.api.mcp import run_stdio

    if url:
        run_stdio(url.rstrip("/"), _need_token(token))
        return
    if not org:
        raise typer.BadParameter("--org is required without --url", param_hint="--org")
    from telequery.api.app import create_app

    s, meta = _open(data, store)
    session, info = meta.issue_token(org, ["query"], "telequery mcp (stdio session)",
                                     datetime.now(UTC) + timedelta(days=1))
    app_ = create_app(s, meta)
    try:
        run_stdio(None, session, app_)
    finally:
        meta.revoke_token(info.id)
        app_.state.services.writer.close()
        s.close()


@app.command()
def export(target: Annotated[Path, typer.Argument(help="directory to write the files to")],
           org: Annotated[str | None, typer.Option(help="org to export (local data)")] = None,
           data: DataDir = Path(".telequery"), store: StoreSpec = None,
           url: Annotated[str | None, typer.Option(
               help="export from a running server instead, e.g. http://127.0.0.1:8080")
           ] = None,
           token: Annotated[str | None, typer.Option(
               envvar="TELEQUERY_TOKEN", help="API token (with --url); its org is exported")
           ] = None,
           start: Annotated[str, typer.Option("--from", help="ISO time or epoch ms")] = EPOCH,
           end: Annotated[str | None, typer.Option("--to", help="ISO time; default now")
                          ] = None,
           fmt: Annotated[str, typer.Option("--format", help="parquet")] = "parquet") -> None:
    """Write an org's events as Parquet files, one per UTC day with data
    (events-YYYY-MM-DD.parquet, the events schema), readable by DuckDB, pandas, polars."""
    from telequery.export import export_events, local_source, remote_source
    from telequery.query import QueryError, parse_time

    if fmt != "parquet":
        raise typer.BadParameter(f"{fmt!r}: only parquet is written", param_hint="--format")
    try:
        window = (parse_time(start, "--from"),
                  parse_time(end, "--to") if end else datetime.now(UTC))
    except QueryError as e:
        raise typer.BadParameter(e.reason, param_hint=e.field) from None
    if url:
        source = remote_source(url, _need_token(token))
    else:
        if not org:
            raise typer.BadParameter("--org is required without --url", param_hint="--org")
        source = local_source(_open(data, store)[0], org)
    written = export_events(source, window[0], window[1], target)
    rows = sum(n for _, n in written)
    console.print(f"wrote {rows:,} events in {len(written)} files to {target}")


def _whole(v: object) -> object:
    """A float holding a whole number (a count is a sum of sample weights) as an int."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e15 else f"{v:.6e}"
    return str(v)


def _need_token(token: str | None) -> str:
    """The token every --url command needs (given, or from TELEQUERY_TOKEN)."""
    if not token:
        raise typer.BadParameter("--token (or TELEQUERY_TOKEN) is required with --url",
                                 param_hint="--token")
    return token


def _remote(url: str, token: str | None, spec: dict, path: str = "/api/v1/query") -> dict:
    """Run the query on a running server (its data file is locked by that process)."""
    import httpx

    resp = httpx.post(url.rstrip("/") + path, json=spec, timeout=120,
                      headers={"Authorization": f"Bearer {_need_token(token)}"})
    if resp.status_code != 200:
        details = resp.json().get("error", {}).get("details", [])
        for d in details or [{"field": None, "reason": resp.text}]:
            console.print(f"[red]{d.get('field') or 'error'}: {d.get('reason')}[/]")
        raise typer.Exit(2)
    return resp.json()


def _measure(spec: str) -> dict[str, str]:
    agg, _, field = spec.partition(":")
    return {"agg": agg, "field": field} if field else {"agg": agg}


def _days(text: str) -> float:
    days = _duration(text).total_seconds() / 86400
    if days <= 0:
        raise typer.BadParameter(f"{text!r}: a retention window must be positive")
    return days


def _duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError):
        raise typer.BadParameter(f"{text!r}: use a number and s, m, h or d") from None


@app.command()
def ingest(file: Path,
           org: Annotated[str | None, typer.Option(help="org (local data directory)")] = None,
           data: DataDir = Path(".telequery"), store: StoreSpec = None,
           url: Annotated[str | None, typer.Option(
               help="send to a running server instead, e.g. http://127.0.0.1:8080")] = None,
           token: Annotated[str | None, typer.Option(
               envvar="TELEQUERY_TOKEN", help="API token with ingest scope (with --url)")
           ] = None) -> None:
    """Ingest a file: NDJSON events, or OTLP/JSON (one Export*ServiceRequest per line).

    With --url the file is sent over HTTP to a running server (whose data directory is
    locked by it), with a progress bar; otherwise it is written to the data directory.
    """
    from telequery.ingest.files import PostError, ingest_file, post_file

    if url:
        key = _need_token(token)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"sending {file.name} (bytes)", total=file.stat().st_size)
            try:
                written, rejected = post_file(url, key, file,
                                              lambda n: bar.advance(task, n))
            except (PostError, OSError) as e:
                console.print(f"[red]{e}[/]")
                raise typer.Exit(2) from None
    else:
        if not org:
            raise typer.BadParameter("--org is required without --url", param_hint="--org")
        s, _ = _open(data, store)
        written, rejected = ingest_file(s, org, file)
    console.print(f"{written:,} rows accepted, {rejected:,} rejected")
    if rejected:
        raise typer.Exit(1)


@retention_app.command("set")
def retention_set(window: Annotated[str, typer.Argument(help="e.g. 7d, 90d; `off` removes")],
                  org: Annotated[str, typer.Option(help="an org, or * for every org")] = "*",
                  dataset: Annotated[str, typer.Option(help="a dataset, or *")] = "*",
                  kind: Annotated[str, typer.Option(help="log, span or *")] = "*",
                  data: DataDir = Path(".telequery")) -> None:
    """Set a rule; the most specific matching rule wins, then `serve --retention`."""
    from telequery.retention import KINDS

    if kind not in KINDS:
        raise typer.BadParameter(f"{kind!r}: use one of {', '.join(KINDS)}", param_hint="--kind")
    days = None if window == "off" else _days(window)
    changed = _meta(data).set_retention(org, dataset, kind, days)
    console.print(("removed" if days is None else "set") if changed else "no such rule")


@retention_app.command("list")
def retention_list(data: DataDir = Path(".telequery")) -> None:
    """Every stored rule."""
    table = Table("org", "dataset", "kind", "days")
    for o, d, k, days in _meta(data).retention_rules():
        table.add_row(o, d, k, f"{days:g}")
    Console().print(table)


@retention_app.command("sweep")
def retention_sweep(data: DataDir = Path(".telequery"), store: StoreSpec = None,
                    default: Annotated[str | None, typer.Option(
                        help="default window for rows no rule covers")] = None) -> None:
    """Delete expired rows now (on a data directory no server is using) and compact."""
    from telequery.retention import sweep

    s, m = _open(data, store)
    result = sweep(s, m, _days(default) if default else None)
    s.close()
    console.print(f"{result.deleted:,} rows deleted; {result.bytes_before:,} -> "
                  f"{result.bytes_after:,} bytes on disk")


@app.command()
def migrate(source: Annotated[Path, typer.Option("--from", help="DuckDB data directory")],
            target: Annotated[str, typer.Option(
                "--to", help="chdb:DIR or clickhouse://user:pass@host:8123/db[?cluster=..]")],
            batch_rows: int = 100_000) -> None:
    """Copy every event from the embedded DuckDB store to a ClickHouse store."""
    from telequery.store.clickhouse import ClickHouseError
    from telequery.store.migrate import migrate as run_migrate

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("copying events", total=None)
        try:
            read, written = run_migrate(source, target, batch_rows=batch_rows,
                                        progress=lambda n: bar.advance(task, n))
        except ClickHouseError as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
    console.print(f"{written:,} of {read:,} rows copied to {target.split('@')[-1]}")
    if written != read:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
