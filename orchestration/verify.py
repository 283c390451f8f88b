"""`wabi verify`: the published marts against the simulator's oracle, figure by figure.

The oracle (`<workspace>/expected/<table>.csv`) is computed in plain Python from the simulator's
own events; a published table must hold exactly its rows. Numbers agree within a relative 1e-9
(the oracle and DuckDB sum floating-point values in different orders); an empty CSV cell is NULL.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from extract.sql import sql_identifier
from simulator.oracle import TABLE_KEYS

RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Mismatch:
    table: str
    key: str
    column: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return (
            f"{self.table} [{self.key}] {self.column}: expected {self.expected or 'NULL'}, "
            f"got {self.actual or 'NULL'}"
        )


def _text(value: object) -> str:
    """A published value written the way the oracle's CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _same(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    try:
        left, right = float(expected), float(actual)
    except ValueError:
        return expected.lower() == actual.lower()  # booleans: False / false
    return math.isclose(left, right, rel_tol=RELATIVE_TOLERANCE, abs_tol=RELATIVE_TOLERANCE)


def _expected_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def compare_table(
    con: duckdb.DuckDBPyConnection, table: str, expected_csv: Path
) -> Iterator[Mismatch]:
    columns, expected = _expected_rows(expected_csv)
    keys = TABLE_KEYS[table]
    published = {
        row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()
    }
    if table not in published:
        yield Mismatch(table, "*", "*", f"{len(expected)} rows", "no such table")
        return
    # Names read from the oracle's files, quoted as identifiers whatever they hold.
    selected = ", ".join(sql_identifier(column) for column in columns)
    actual = [
        dict(zip(columns, map(_text, row), strict=True))
        for row in con.execute(f"select {selected} from main.{sql_identifier(table)}").fetchall()
    ]
    by_key = {tuple(row[k] for k in keys): row for row in actual}
    for row in expected:
        key = tuple(row[k] for k in keys)
        label = ", ".join(f"{k}={v or 'NULL'}" for k, v in zip(keys, key, strict=True))
        found = by_key.pop(key, None)
        if found is None:
            yield Mismatch(table, label, "*", "a row", "no row")
            continue
        for column in columns:
            if not _same(row[column], found[column]):
                yield Mismatch(table, label, column, row[column], found[column])
    for key in sorted(by_key):
        label = ", ".join(f"{k}={v or 'NULL'}" for k, v in zip(keys, key, strict=True))
        yield Mismatch(table, label, "*", "no row", "a row")


def verify(analytics_path: Path, workspace_dir: Path) -> dict[str, list[Mismatch]]:
    """Every oracle table's mismatches (an empty list where the table agrees)."""
    results: dict[str, list[Mismatch]] = {}
    with duckdb.connect(str(analytics_path), read_only=True) as con:
        for expected_csv in sorted((workspace_dir / "expected").glob("*.csv")):
            table = expected_csv.stem
            results[table] = list(compare_table(con, table, expected_csv))
    return results
