"""The statement guard: one read-only statement over our data, or a ClickHouse-style refusal.

chDB's read-only mode is not a security boundary (it still reads any file, reaches URLs and runs every
statement of `A; B`), so each query passes three gates before it runs: ClickHouse's own parser must see
exactly one statement (formatQuerySingleLine with the SQL as a parameter fails on two); its AST (EXPLAIN
AST of that single statement) must be a read whose every table, table function, function and SETTINGS
clause is allowed here; then it runs in a fresh read-only session with our limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from otel_llmcost.query import lexer
from otel_llmcost.query.clientsettings import Limits, classify
from otel_llmcost.query.errors import ACCESS_DENIED, READONLY, SYNTAX_ERROR, UNKNOWN_TABLE, QueryError
from otel_llmcost.query.scope import (
    ADMIN_SYSTEM_TABLES,
    METADATA_DATABASES,
    TENANT_SYSTEM_TABLES,
    Principal,
    tenant_scoped,
)
from otel_llmcost.store.policies import CARRIER
from otel_llmcost.store.reader import TableInfo

_READ_STATEMENTS = frozenset({
    "SelectWithUnionQuery", "SelectIntersectExceptQuery", "ShowTables", "ShowColumns", "ShowIndexes",
    "ShowFunctions", "ShowEngineQuery", "ShowCreateTableQuery", "DescribeQuery", "ExistsTableQuery",
    "ExistsDatabaseQuery", "Explain",
})
# Table functions that compute rows and touch nothing outside the query.
ALLOWED_TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "null",
                                     "generateseries", "generate_series"})
# Ordinary functions that read files or other tables by name (bypassing table checks and tenant filters).
_BLOCKED_FUNCTIONS = frozenset({"file", "joinget", "joingetornull", "catboostevaluate", "naivebayesclassifier",
                                "evalmlmethod", "filesystemcapacity", "filesystemavailable", "filesystemunreserved"})
_BLOCKED_PREFIXES = ("dictget", "dicthas", "dictisin")
# What a tenant key must not see of other tenants: the data directory, and the volume of their rows.
_TENANT_BLOCKED_FUNCTIONS = frozenset({"getserversetting", "getmergetreesetting"})
# Virtual columns of MergeTree tables count rows and inserts of every tenant (part names, row offsets).
_VIRTUAL_PREFIXES = ("_part", "_block", "_partition", "_row_exists", "_disk_name", "_sample_factor")
# Columns of metadata tables that show volume or paths: their names say so (rows, bytes, parts, marks,
# path, lengths, cardinality), this interface's engine's present and future columns alike.
_VOLUME_COLUMN = re.compile(r"rows|bytes|parts|marks|path|length|size|free|cardinality", re.IGNORECASE)
_VOLUME_TABLES = frozenset({("system", "tables"), ("system", "columns"), ("system", "databases")})
# SHOW forms a tenant may run; MERGES, DICTIONARIES, CLUSTERS, CHANGED SETTINGS... parse to the same
# ShowTables node, so the canonical text's leading words decide.
_TENANT_SHOW = ("SHOW TABLES", "SHOW FULL TABLES", "SHOW DATABASES", "SHOW FULL DATABASES")
_TENANT_EXPLAIN = ("EXPLAIN AST", "EXPLAIN SYNTAX", "EXPLAIN QUERY TREE")  # no index or part counts
_ASTERISKS = ("Asterisk", "QualifiedAsterisk", "ColumnsRegexpMatcher", "ColumnsListMatcher",
              "QualifiedColumnsRegexpMatcher", "QualifiedColumnsListMatcher")
_CHILD_COUNT = re.compile(r" \(children \d+\)$")  # EXPLAIN AST's suffix of a node with children
_IN_FUNCTIONS = frozenset({"in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin",
                           "globalnotnullin"})


@dataclass(frozen=True, slots=True)
class Catalog:
    """What exists, read per request: the project database's tables, system tables, table functions."""

    database: str
    tables: dict[str, TableInfo]
    system_tables: frozenset[str]
    table_functions: frozenset[str]  # lower case


@dataclass(frozen=True, slots=True)
class Statement:
    kind: str
    output_format: str | None  # a trailing FORMAT, which wins over default_format
    tables: tuple[tuple[str, str], ...]  # (database, table) read, as resolved


@dataclass(slots=True)
class _Node:
    label: str
    children: list[_Node]
    kind: str = field(init=False)  # the label's first word (read for every node, several times a check)

    def __post_init__(self) -> None:
        self.kind = self.label.split(" ", 1)[0]

    @property
    def word(self) -> str:
        """The label's second word: a function's or table's name."""
        parts = self.label.split(" ")
        return parts[1] if len(parts) > 1 else ""


def check(ast_text: str, canonical: str, catalog: Catalog, who: Principal, current_db: str,
          limits: Limits) -> Statement:
    root = _parse(ast_text)
    if root.kind not in _READ_STATEMENTS:
        raise QueryError(READONLY, f"only SELECT, SHOW, DESCRIBE, EXISTS and EXPLAIN run here, not {root.kind}")
    if any(child.kind == "Literal" for child in root.children):
        raise QueryError(READONLY, "INTO OUTFILE is not allowed: answers go to the client only")
    if root.kind == "Explain" and any(child.kind not in _READ_STATEMENTS for child in root.children):
        raise QueryError(READONLY, "EXPLAIN here explains reads only")
    if root.kind == "Explain" and not who.is_admin and not canonical.upper().startswith(_TENANT_EXPLAIN):
        raise QueryError(ACCESS_DENIED, "EXPLAIN of plans, pipelines and estimates counts every tenant's rows "
                                        "and parts: tenant keys get EXPLAIN AST, SYNTAX and QUERY TREE")
    if root.kind == "ShowTables" and not who.is_admin and not canonical.upper().startswith(_TENANT_SHOW):
        raise QueryError(ACCESS_DENIED, "tenant keys may SHOW TABLES and SHOW DATABASES, not "
                                        + " ".join(canonical.split()[:2]))
    if root.kind == "ShowCreateTableQuery":
        _check_table(root.word, root.label.split(" ")[2] if root.label.count(" ") >= 2 else "", catalog, who)
    toks = lexer.tokens(canonical)
    if any(token.startswith("`") and "\\" in token for token in toks):
        # EXPLAIN AST prints identifiers raw: a line break in one would forge lines of the dump we check.
        raise QueryError(SYNTAX_ERROR, "identifiers and aliases with escapes (line breaks, quotes) are refused here")
    _check_settings(root, toks, limits)
    tables: list[tuple[str, str]] = []
    _walk(root, _Scope(catalog, who, current_db, lexer.cte_names(toks)), tables, in_table_expression=False)
    if not who.is_admin:
        _check_tenant_names(root, tables)
    return Statement(root.kind, lexer.trailing_format(toks), tuple(tables))


def _check_tenant_names(root: _Node, tables: list[tuple[str, str]]) -> None:
    """Names that would show a tenant other tenants' volume: virtual columns anywhere; on a metadata table,
    its volume and path columns, and `*` (which includes them)."""
    reads_volume = any((db, table) in _VOLUME_TABLES or db in METADATA_DATABASES for db, table in tables)
    for node in _nodes(root):
        if node.kind == "Identifier":
            name = node.word.rsplit(".", 1)[-1]
            if name.startswith(_VIRTUAL_PREFIXES):
                raise QueryError(ACCESS_DENIED, f"virtual column {name} counts every tenant's rows: not for "
                                                "tenant keys")
            if reads_volume and _VOLUME_COLUMN.search(name):
                raise QueryError(ACCESS_DENIED, f"{name} shows every tenant's volume or the data path: not for "
                                                "tenant keys")
        elif reads_volume and node.kind in _ASTERISKS:
            raise QueryError(ACCESS_DENIED, "name the metadata columns you want: * includes every tenant's "
                                            "volume, not for tenant keys")


def _nodes(node: _Node):
    """`node` and every node under it, in document order (a stack: nested generators cost nodes x depth)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _parse(ast_text: str) -> _Node:
    """EXPLAIN AST's indented dump (one space per level) as a tree."""
    stack: list[tuple[int, _Node]] = []
    root = None
    for line in ast_text.split("\n"):  # not splitlines(): U+2028 and friends inside a name are not lines
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip(" "))
        node = _Node(_CHILD_COUNT.sub("", line.strip()), [])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif root is None:
            root = node
        else:
            raise QueryError(SYNTAX_ERROR, "Multi-statements are not allowed")
        stack.append((depth, node))
    if root is None:
        raise QueryError(SYNTAX_ERROR, "Empty query")
    return root


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a table name in this statement can mean."""

    catalog: Catalog
    who: Principal
    current_db: str
    ctes: frozenset[str]  # names the statement defines with WITH name AS (...)


def _walk(node: _Node, scope: _Scope, tables: list, in_table_expression: bool):
    catalog = scope.catalog
    if node.kind == "Function":
        name = node.word.lower()
        if in_table_expression and name not in ALLOWED_TABLE_FUNCTIONS:
            raise QueryError(ACCESS_DENIED, f"table function {node.word}() is not allowed here; only "
                                            f"{', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))} are")
        reaches_out = name in catalog.table_functions and name not in ALLOWED_TABLE_FUNCTIONS
        if reaches_out or name in _BLOCKED_FUNCTIONS or name.startswith(_BLOCKED_PREFIXES):
            raise QueryError(ACCESS_DENIED, f"function {node.word}() reads outside the query: not allowed here")
        if name in _TENANT_BLOCKED_FUNCTIONS and not scope.who.is_admin:
            raise QueryError(ACCESS_DENIED, f"function {node.word}() shows the server's paths: not for tenant keys")
        if name in _IN_FUNCTIONS:
            _check_in_operand(node, catalog, scope.current_db)
    elif node.kind == "TableIdentifier":
        tables.append(_resolve(node.word, scope))
    for child in node.children:
        _walk(child, scope, tables, node.kind == "TableExpression")


def _check_in_operand(node: _Node, catalog: Catalog, current_db: str) -> None:
    """`x IN db.table` reads the table as a set, past its tenant filter: only IN (SELECT ...) is scoped."""
    arguments = next((child.children for child in node.children if child.kind == "ExpressionList"), [])
    if len(arguments) == 2 and arguments[1].kind == "Identifier":
        name = arguments[1].word
        db, _, table = name.rpartition(".")
        if db or table in catalog.tables or current_db != catalog.database:
            raise QueryError(ACCESS_DENIED, f"IN {name} reads a table directly; write IN (SELECT ... FROM {name})")


def _resolve(name: str, scope: _Scope) -> tuple[str, str]:
    db, _, table = name.replace("`", "").rpartition(".")
    catalog = scope.catalog
    if not db:  # a table of the current database, or a name the statement defines (checked where defined)
        db = scope.current_db
        known = catalog.tables if db == catalog.database else catalog.system_tables if db == "system" else ()
        if table not in known and (table in scope.ctes or db != catalog.database):
            return "", table  # a real table of that name would be in `known` (system tables never change)
    _check_table(db, table, catalog, scope.who)
    return db, table


def _check_table(db: str, table: str, catalog: Catalog, who: Principal) -> None:
    if db == catalog.database:
        info = catalog.tables.get(table)
        if info is None:
            raise QueryError(UNKNOWN_TABLE, f"Table {db}.{table} does not exist")
        if not who.is_admin and not tenant_scoped(info):
            raise QueryError(ACCESS_DENIED, f"{db}.{table} has no tenant row policy: not readable with a tenant key")
    elif db == "system":
        allowed = ADMIN_SYSTEM_TABLES if who.is_admin else TENANT_SYSTEM_TABLES
        if table not in allowed:
            whose = "" if who.is_admin else " with a tenant key"
            raise QueryError(ACCESS_DENIED, f"system.{table} is not readable here{whose}")
    elif db not in METADATA_DATABASES:
        raise QueryError(ACCESS_DENIED, f"database {db} is not readable here; only {catalog.database}, "
                                        "system metadata and information_schema are")


def _check_settings(root: _Node, toks: list[str], limits: Limits) -> None:
    """A query's own SETTINGS override the session's: each must be one a client may send, no limit raised."""
    clauses = lexer.settings_clauses(toks)
    if len(clauses) != sum(node.kind == "Set" for node in _nodes(root)):
        raise QueryError(ACCESS_DENIED, "cannot read this statement's SETTINGS clauses; put settings in the URL")
    for name, value in (pair for clause in clauses for pair in clause):
        if name in ("additional_table_filters", CARRIER):
            raise QueryError(ACCESS_DENIED, f"{name} is set by this interface, not by queries")
        applied = classify(name, value, limits)
        if applied is not None and applied != value.strip().strip("'"):
            raise QueryError(READONLY, f"SETTINGS {name} = {value} is over this interface's limit ({applied})")

