"""The engines' own parsers on a statement built around user SQL (``base.Confined``).

A second line behind ``query.sql``'s allow-list and re-parse: DuckDB's parse as JSON
(``json_serialize_sql``) and ClickHouse's ``EXPLAIN AST``, each walked for the same
invariant: one SELECT, every SELECT that reads the stored table filters it by
``org_id = <the caller's org>`` as a top-level conjunct, no other table but the
statement's CTEs, no table function, no settings, only the dialect's
``confined_functions`` (docs/security.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from telequery.store.base import STORED_TABLE, Confined, UnsafeStatement

_TABLE_REFS = frozenset({"BASE_TABLE", "SUBQUERY", "JOIN", "EMPTY"})


def check_duckdb(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object],
                 confined: Confined, functions: frozenset[str]) -> None:
    """DuckDB's own parser on a statement built around user SQL (``Confined``): one
    SELECT; every SELECT reading the stored table filters it to ``confined.org``; other
    table references only CTEs and subqueries (never a table function); only
    ``functions``; no user-defined type."""
    try:
        statements = cur.extract_statements(sql)
    except duckdb.ParserException:
        raise UnsafeStatement("DuckDB does not parse it") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise UnsafeStatement("not exactly one SELECT")
    tree = json.loads(cur.execute("SELECT json_serialize_sql($q)", {"q": sql}).fetchone()[0])
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        raise UnsafeStatement("DuckDB cannot describe the statement")
    stack: list[object] = [tree["statements"]]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        kind = node.get("type")
        if "cte_map" in node and "from_table" in node:  # a SELECT
            if STORED_TABLE in _direct_tables(node["from_table"]) and not _org_filtered(
                    node.get("where_clause"), params, confined.org):
                raise UnsafeStatement(f"reads {STORED_TABLE} without the org's filter")
        elif "sample" in node:  # a table reference
            if kind not in _TABLE_REFS:
                raise UnsafeStatement(f"reads a {kind}")
            name = str(node.get("table_name", ""))
            if kind == "BASE_TABLE" and (node.get("schema_name") or node.get("catalog_name")
                                         or (name != STORED_TABLE
                                             and not name.startswith(confined.cte_prefix))):
                raise UnsafeStatement(f"reads table {name}")
        elif "function_name" in node:
            name = str(node["function_name"]).lower()
            if node.get("schema") or node.get("catalog") or name not in functions:
                raise UnsafeStatement(f"calls {name}")
        elif node.get("class") == "CAST" and (node.get("cast_type") or {}).get("id") == "USER":
            raise UnsafeStatement("casts to a user-defined type")


def _direct_tables(ref: dict) -> set[str]:
    """Base tables a FROM reads itself (through joins, not into subqueries)."""
    if ref.get("type") == "JOIN":
        return _direct_tables(ref["left"]) | _direct_tables(ref["right"])
    return {str(ref.get("table_name"))} if ref.get("type") == "BASE_TABLE" else set()


def _org_filtered(where: object, params: dict[str, object], org: str) -> bool:
    """Whether ``org_id = <org>`` is one of the top-level conjuncts of ``where``."""
    if not isinstance(where, dict):
        return False
    if where.get("type") == "CONJUNCTION_AND":
        return any(_org_filtered(c, params, org) for c in where.get("children", ()))
    if where.get("type") != "COMPARE_EQUAL":
        return False
    left, right = where.get("left") or {}, where.get("right") or {}
    return left.get("column_names") == ["org_id"] and right.get("class") == "PARAMETER" \
        and params.get(str(right.get("identifier"))) == org


# -- ClickHouse's own parse of a statement (EXPLAIN AST) --------------------------------------
@dataclass
class _AstNode:
    kind: str  # SelectQuery, Function, TableIdentifier, Identifier, Literal, ...
    name: str  # a function's or table's name; a literal's text
    text: str  # the whole line, without indentation
    children: list[_AstNode] = field(default_factory=list)

    def walk(self) -> Iterator[_AstNode]:
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children)

    def direct_tables(self) -> set[str]:
        """Tables a SelectQuery's FROM reads itself (through joins, not into subqueries)."""
        found: set[str] = set()
        stack = [c for c in self.children if c.kind == "TablesInSelectQuery"]
        while stack:
            node = stack.pop()
            if node.kind == "TableIdentifier":
                found.add(node.name)
            elif node.kind != "Subquery":
                stack.extend(node.children)
        return found

    def org_filtered(self, org_literal: str) -> bool:
        """Whether the WHERE (the expression right after the FROM) has ``org_id = <org>``
        among its top-level conjuncts."""
        kinds = [c.kind for c in self.children]
        if "TablesInSelectQuery" not in kinds:
            return False
        i = kinds.index("TablesInSelectQuery") + 1
        return i < len(self.children) and _conjunct(self.children[i], org_literal)


def _conjunct(node: _AstNode, org_literal: str) -> bool:
    if node.kind == "Function" and node.name == "and":
        return any(_conjunct(c, org_literal) for arg in node.children for c in arg.children)
    if node.kind != "Function" or node.name != "equals" or len(node.children) != 1:
        return False
    args = [c.text.split(" (alias")[0] for c in node.children[0].children]
    return args == ["Identifier org_id", org_literal]


def _ast_tree(lines: list[str]) -> _AstNode:
    """EXPLAIN AST's indented lines as a tree (one root: a second one is refused)."""
    root: _AstNode | None = None
    stack: list[tuple[int, _AstNode]] = []
    for line in lines:
        text = line.strip()
        depth = len(line) - len(line.lstrip(" "))
        words = text.split(" ", 2)
        name = words[1] if len(words) > 1 and not words[1].startswith("(") else ""
        node = _AstNode(words[0], name, text)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif root is None:
            root = node
        else:
            raise UnsafeStatement("more than one statement")
        stack.append((depth, node))
    if root is None:
        raise UnsafeStatement("ClickHouse does not parse it")
    return root


def check_clickhouse_ast(lines: list[str], confined: Confined, allowed: frozenset[str],
                         org_literal: str) -> None:
    """ClickHouse's ``EXPLAIN AST`` of a statement built around user SQL (``Confined``):
    a SELECT in which every SELECT reading the stored table filters it to the org (its
    literal as the AST prints it), other tables only CTEs, no SETTINGS, only ``allowed``
    functions (table functions are functions in its AST)."""
    root = _ast_tree(lines)
    if root.kind != "SelectWithUnionQuery":
        raise UnsafeStatement(f"not a SELECT ({root.kind})")
    org = "Literal " + org_literal
    for node in root.walk():
        if node.kind == "Function":
            if node.name.lower() not in allowed:
                raise UnsafeStatement(f"calls {node.name}")
        elif node.kind == "TableIdentifier":
            if node.name != STORED_TABLE and not node.name.startswith(confined.cte_prefix):
                raise UnsafeStatement(f"reads table {node.name}")
        elif node.kind == "SelectQuery":
            if STORED_TABLE in node.direct_tables() and not node.org_filtered(org):
                raise UnsafeStatement(f"reads {STORED_TABLE} without the org's filter")
        elif node.kind in ("Set", "SetQuery") or not node.kind[:1].isalpha():
            raise UnsafeStatement(f"has {node.kind or 'an empty line'}")
