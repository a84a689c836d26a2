"""SQL lives in queries modules (docs/architecture.md, "Adding a domain package").

A package's statements are named constants in its `queries.py`, or in the modules of
its `queries/` package once that room is split; services call `conn.fetch(q.NAME, ...)`.
SQL written inline elsewhere is hard to find, review and reuse, so this reads every
module of the server and the demo and names each string that looks like SQL outside a
queries module.

A string looks like SQL when, after leading whitespace, it starts with a statement
(`SELECT ...`, `INSERT INTO`, `UPDATE t SET`, `DELETE FROM`, `WITH x AS`, `LOCK`,
`ROLLBACK`, ...) or with a clause a builder would concatenate (`WHERE`, `AND`,
`ORDER BY`, `FOR UPDATE`, ...). Keywords are matched in capitals, as the code writes
SQL; an f-string counts by its leading text. Docstrings are prose and are skipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "signing", "trading", "evaluation", "archive", "demo", "workspaces")

STATEMENT = re.compile(r"""
    \s*(?:
        SELECT\b | INSERT\s+INTO\b | UPDATE\s+\S+\s+SET\b | DELETE\s+FROM\b | MERGE\s+INTO\b
      | WITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([^)]*\))?\s+AS\b | VALUES\s*\( | TABLE\s+\w
      | LOCK\b | TRUNCATE\b | COPY\b | NOTIFY\b | LISTEN\b | UNLISTEN\b
      | BEGIN\b | START\s+TRANSACTION\b | COMMIT\b | ROLLBACK\b | ABORT\b | END\s*;?\s*$
      | SAVEPOINT\b | RELEASE\s+SAVEPOINT\b
      | SET\s+(?:LOCAL\s+|SESSION\s+)?\w+\s*(?:=|TO\b) | RESET\s+\w | SHOW\s+\w
      | CREATE\s | DROP\s | ALTER\s | EXPLAIN\b | ANALYZE\b | VACUUM\b | DO\s+\$ | CALL\s+\w
      | WHERE\b | AND\s | OR\s | ORDER\s+BY\b | GROUP\s+BY\b | HAVING\b | LIMIT\b | OFFSET\b
      | RETURNING\b | FROM\s+\w | (?:LEFT\s+|INNER\s+|CROSS\s+)?JOIN\b | ON\s+CONFLICT\b
      | FOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE)\b
    )""", re.VERBOSE)


def _modules() -> list[Path]:
    found = [ROOT / "app.py"]
    for package in PACKAGES:
        found += sorted((ROOT / package).rglob("*.py"))
    return found


def _is_queries_module(path: Path) -> bool:
    return path.stem == "queries" or "queries" in path.relative_to(ROOT).parts[:-1]


def _leading_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        head = node.values[0] if node.values else None
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value
    return None


def sql_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string in `source` that reads as SQL, docstrings aside."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))  # a docstring, or a bare string: prose
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)  # judged as the whole f-string
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr) or id(node) in skip:
            continue
        text = _leading_text(node)
        if text is not None and STATEMENT.match(text):
            found.append((node.lineno, text.strip().splitlines()[0]))
    return sorted(found)


def test_the_detector_sees_statements_fragments_and_f_strings() -> None:
    source = '''
"""SELECT in a docstring is prose."""
A = """
    SELECT id FROM tenders WHERE id = $1"""
B = f"UPDATE tenders SET {column} = $2 WHERE id = $1"
C = " AND status = $3"
D = "ROLLBACK"
E = ("WITH moved AS (DELETE FROM x RETURNING id) "
     "SELECT count(*) FROM moved")
F = "DELETE"
G = "Select a file"
H = f"{n} FROM the list"
'''
    assert [line for line, _ in sql_literals(source)] == [3, 5, 6, 7, 8]


def test_sql_is_written_only_in_queries_modules() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in _modules() if not _is_queries_module(path)
        for line, text in sql_literals(path.read_text())
    ]
    assert outside == [], "SQL outside a queries module:\n" + "\n".join(outside)
