"""SQL text for the values DuckDB cannot take as bound parameters (`attach` paths, identifiers,
the JSON paths and rule texts of `extract.rules` inside generated SQL).

Every other value reaches DuckDB as a `?` parameter; these two are the only ways wabi writes one
into SQL text.
"""

from __future__ import annotations

from os import PathLike


def sql_string(value: str | PathLike[str]) -> str:
    """`value` as an SQL string literal: single quotes doubled, so a path such as
    `/srv/o'brien/data` stays one literal whatever it holds."""
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier: double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'
