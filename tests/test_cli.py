"""The command line, run as a user runs it: a real process over a real data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from telequery.meta import Meta


def tq(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telequery.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def test_demo_token_and_query(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    done = tq("demo", "--data", str(data), "--events", "3000", "--seed", "7", "--no-serve")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("tq_") and (data / "demo-token.txt").read_text().strip() == token
    principal = Meta(data / "meta.sqlite").authenticate(token)
    assert principal is not None and principal.org == "demo"
    assert principal.scopes == {"ingest", "query", "admin"}

    # Flags: counts per service over the whole generated week.
    out = tq("query", "--data", str(data), "--org", "demo", "--since", "9d", "--measure",
             "count", "--group-by", "$metadata.service", "--limit", "100", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert sum(r[1] for r in rows) == 3000

    # A JSON IR on stdin, and another org sees nothing.
    spec = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
            "measures": [{"agg": "count"}]}
    out = tq("query", "--data", str(data), "--org", "demo", "--json", stdin=json.dumps(spec))
    assert json.loads(out.stdout)["rows"] == [[3000.0]]
    out = tq("query", "--data", str(data), "--org", "other", "--json", stdin=json.dumps(spec))
    assert json.loads(out.stdout)["rows"] == [[0]]

    # Running demo again reuses the data instead of generating it twice.
    again = tq("demo", "--data", str(data), "--events", "3000", "--seed", "7", "--no-serve")
    assert "already present" in again.stderr


def test_token_create_and_bad_input(tmp_path: Path) -> None:
    out = tq("token", "create", "--org", "acme", "--scopes", "ingest", "--data", str(tmp_path))
    assert out.returncode == 0
    principal = Meta(tmp_path / "meta.sqlite").authenticate(out.stdout.strip())
    assert principal is not None and principal.org == "acme"
    assert principal.scopes == {"ingest"}
    bad = tq("token", "create", "--org", "acme", "--scopes", "root", "--data", str(tmp_path))
    assert bad.returncode == 2 and "scopes must be among" in bad.stderr
    bad_query = tq("query", "--data", str(tmp_path), "--org", "acme", "--json",
                   stdin=json.dumps({"from": 0, "to": 1000, "measures": [{"agg": "nope"}]}))
    assert bad_query.returncode == 2 and "Traceback" not in bad_query.stderr
