"""Parses statements as Athena SQL with sqlglot's Athena dialect (Trino for DML).

Reads a JSON array of {"name", "sql"} on stdin; writes a JSON array of
{"name", "error", "kind", "target"} on stdout: `error` is null when the statement parses as
exactly one statement, `kind` is the statement's top node (Select, Insert, Create, ...),
`target` the table an INSERT INTO writes. Run by tests/sql_export.rs; ./scripts/test installs
sqlglot (pip package).
"""

import json
import sys

import sqlglot
from sqlglot import exp


def parse(name, sql):
    out = {"name": name, "error": None, "kind": None, "target": None}
    try:
        trees = [t for t in sqlglot.parse(sql, read="athena") if t is not None]
    except sqlglot.errors.SqlglotError as e:
        out["error"] = str(e)
        return out
    if len(trees) != 1:
        out["error"] = f"{len(trees)} statements"
        return out
    tree = trees[0]
    out["kind"] = type(tree).__name__
    if isinstance(tree, exp.Insert):
        table = tree.this if isinstance(tree.this, exp.Table) else tree.this.find(exp.Table)
        out["target"] = table.name if table is not None else None
    return out


def main():
    statements = json.load(sys.stdin)
    json.dump([parse(s["name"], s["sql"]) for s in statements], sys.stdout)


if __name__ == "__main__":
    main()
