"""The independent references the benchmark measures wabi against, and how their tables are
compared with the marts.

`reference.sql` is one hand-written DuckDB script over the raw tables (the engine's limit);
`reference_pandas.py` computes the same three reports in pandas (what an analyst would write).
Both read the dbt vars the marts were built with (the reporting time zone, the messaging window)
and the phone-number key dbt read (extract/pii.py: WABI_PII_KEY, else the data directory's key
file). Every column of the three marts is compared, row by row.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from extract.pii import PiiKey, create_hash_function
from orchestration.settings import REPO_ROOT

REFERENCE_SQL = Path(__file__).with_name("reference.sql")
# Read without importing orchestration.project (dagster-dbt): its import would count in the
# measured reference processes.
DBT_PROJECT_FILE = REPO_ROOT / "dbt_project" / "dbt_project.yml"
# The compared marts and the columns that identify a row of each.
REPORT_KEYS = {
    "rpt_messages_daily": ("report_date", "channel_id"),
    "rpt_conversations_daily": ("report_date", "channel_id"),
    "rpt_user_performance_daily": ("report_date", "user_id"),
}
FLOAT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ReferenceVars:
    """The dbt vars the three reports depend on (dbt_project.yml's defaults unless given) and
    the phone-number key."""

    reporting_timezone: str
    messaging_window_hours: int
    pii_key: PiiKey

    @classmethod
    def for_timezone(cls, timezone: str, pii_key: PiiKey) -> "ReferenceVars":
        """The vars, with the key dbt read (`extract.pii.load_key` of the data directory)."""
        project = yaml.safe_load(DBT_PROJECT_FILE.read_text())
        return cls(
            reporting_timezone=timezone,
            messaging_window_hours=int(project["vars"]["messaging_window_hours"]),
            pii_key=pii_key,
        )


def run_sql_reference(warehouse_path: Path, variables: ReferenceVars) -> dict[str, pd.DataFrame]:
    """reference.sql on a read-only connection to the warehouse: the three reports."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        for name in ("reporting_timezone", "messaging_window_hours"):
            con.execute(f"set variable {name} = ?", [getattr(variables, name)])
        create_hash_function(con, variables.pii_key)
        con.execute(REFERENCE_SQL.read_text())
        return {report: con.execute(f"select * from temp.{report}").df() for report in REPORT_KEYS}


def read_marts(warehouse_path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return {report: con.execute(f"select * from marts.{report}").df() for report in REPORT_KEYS}


def _plain(value: Any) -> Any:
    """A cell as a comparable Python value: NULL, NaN and NaT alike; dates as dates."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date() if isinstance(value, pd.Timestamp) else value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _rows(frame: pd.DataFrame, columns: list[str], keys: tuple[str, ...]) -> dict[tuple, tuple]:
    rows: dict[tuple, tuple] = {}
    for record in frame[columns].itertuples(index=False, name=None):
        row = tuple(_plain(value) for value in record)
        rows[tuple(row[columns.index(key)] for key in keys)] = row
    return rows


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if expected is None or actual is None:
            return expected is actual
        return math.isclose(expected, actual, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(expected, date) and isinstance(actual, date):
        return expected == actual
    return expected == actual


def differences(report: str, mart: pd.DataFrame, other: pd.DataFrame) -> list[str]:
    """How `other` differs from the mart `report`, row by row and column by column (floats to
    1e-9); empty when they are equal. Every mart column is compared."""
    keys = REPORT_KEYS[report]
    columns = list(mart.columns)
    missing = [column for column in columns if column not in other.columns]
    if missing:
        return [f"{report}: columns missing: {missing}"]
    expected, actual = _rows(mart, columns, keys), _rows(other, columns, keys)
    found = []
    if len(expected) != len(mart) or len(actual) != len(other):
        found.append(f"{report}: a key repeats ({len(mart)} mart rows, {len(other)} reference)")
    found += [f"{report}: only in the mart: {key}" for key in expected.keys() - actual.keys()]
    found += [f"{report}: only in the reference: {key}" for key in actual.keys() - expected.keys()]
    for key in sorted(expected.keys() & actual.keys(), key=str):
        for column, want, got in zip(columns, expected[key], actual[key], strict=True):
            if not _equal(want, got):
                found.append(f"{report} {key} {column}: mart {want!r}, reference {got!r}")
    return found
