"""One way to build a test warehouse: generate a simulated workspace, load its raw tables as a
deployment does (respond.io's API records through `RawLoader`, the webhook captures through
`load_captures`), run the real `dbt build` on it in a subprocess, and read the tables back.

Each build gets its own target and log paths under the warehouse's data directory, and the
environment dbt sees is this process's without any `WABI_*` variable, plus the warehouse path
and the test salt. A `dbt build` costs about 20 s: modules build once per warehouse, in fixtures.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb

from extract.captures import ensure_capture_tables, load_captures
from extract.load import RawLoader, RawTable, ensure_raw_table
from extract.respondio import API_TABLES, CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES, USERS
from orchestration.project import DBT_PROJECT_DIR, dbt_executable
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec

SALT = "wabi-test-salt"
# The workspace's API files, each read into its raw table.
API_FILES: dict[RawTable, str] = {
    USERS: "users.json",
    CHANNELS: "channels.json",
    CLOSING_NOTES: "closing_notes.json",
    CONTACTS: "contacts.jsonl",
    MESSAGES: "messages.jsonl",
}
DBT_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Workspace:
    """A generated workspace: `api/` (what the API serves), `captures/` (what the webhook
    receivers wrote, one file per arrival day) and `expected/` (the oracle's figures)."""

    root: Path

    @classmethod
    def generate(cls, spec: WorkspaceSpec, root: Path) -> Workspace:
        generate(spec, root)
        return cls(root)

    @property
    def captures_dir(self) -> Path:
        return self.root / CAPTURES_DIR

    @property
    def meta_dir(self) -> Path:
        """Meta's webhook captures of the WhatsApp channels."""
        return self.captures_dir / "whatsapp_cloud"

    @property
    def events_dir(self) -> Path:
        """respond.io's webhook events."""
        return self.captures_dir / "respondio_events"

    def api_records(self, name: str) -> list[dict]:
        """The records of an API file: a JSON array (`.json`) or one record a line."""
        path = self.root / "api" / name
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def api_tables(self, files: Mapping[RawTable, str] = API_FILES) -> dict[RawTable, list[dict]]:
        """Each raw table's records, from its API file."""
        return {table: self.api_records(name) for table, name in files.items()}

    def events(self) -> Iterator[dict]:
        """respond.io's webhook events, as captured."""
        for path in sorted(self.events_dir.iterdir()):
            yield from (json.loads(line) for line in read_lines(path) if line.strip())

    def expected(self, table: str) -> tuple[list[str], list[dict[str, str]]]:
        """The oracle's `expected/<table>.csv`: its header and its rows as printed."""
        with (self.root / "expected" / f"{table}.csv").open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return list(reader.fieldnames or []), rows


@dataclass(frozen=True)
class DbtRun:
    """One finished `dbt build`: what it printed and where it wrote."""

    stdout: str
    target_path: Path
    log_path: Path

    def run_results(self) -> dict[str, Any]:
        return json.loads((self.target_path / "run_results.json").read_text())

    def execution_seconds(self) -> dict[str, float]:
        """Each node's execution time, by unique id."""
        return {
            result["unique_id"]: result["execution_time"]
            for result in self.run_results()["results"]
        }

    def log_text(self) -> str:
        """dbt's own log of the run (debug level: every statement it sent)."""
        return (self.log_path / "dbt.log").read_text(encoding="utf-8")

    def compiled_sql(self, model: str) -> str:
        """The select the run compiled for `model` (its incremental form or not)."""
        (code,) = (
            result["compiled_code"]
            for result in self.run_results()["results"]
            if result["unique_id"] == f"model.wabi.{model}"
        )
        return code


@dataclass(frozen=True)
class Warehouse:
    """A warehouse file and the data directory around it (captures, dbt's target and logs)."""

    data_dir: Path

    @property
    def path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def query(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, list(parameters)).fetchall()

    def table(self, name: str, schema: str = "marts") -> tuple[list[str], list[tuple]]:
        """Every row of `schema.name` and its column names, in the table's order."""
        with duckdb.connect(str(self.path), read_only=True) as con:
            cursor = con.execute(f"select * from {schema}.{name}")
            return [column[0] for column in cursor.description], cursor.fetchall()

    def rows(self, name: str, schema: str = "marts") -> tuple[list[str], list[dict[str, Any]]]:
        """Every row of `schema.name` as a dict, and the column names."""
        columns, rows = self.table(name, schema)
        return columns, [dict(zip(columns, row, strict=True)) for row in rows]

    def tables(self, schema: str = "marts") -> list[str]:
        return [
            name
            for (name,) in self.query(
                "select table_name from duckdb_tables() where schema_name = ? order by 1",
                [schema],
            )
        ]


def new_warehouse(data_dir: Path) -> Warehouse:
    """An empty warehouse in `data_dir` (created) with every raw table of both sources."""
    data_dir.mkdir(parents=True, exist_ok=True)
    warehouse = Warehouse(data_dir)
    with duckdb.connect(str(warehouse.path)) as con:
        for table in API_TABLES:
            ensure_raw_table(con, table)
        ensure_capture_tables(con)
    return warehouse


def load_raw(
    warehouse: Warehouse,
    api: Mapping[RawTable, Iterable[Any]] | None = None,
    captures: Path | None = None,
) -> None:
    """Load one batch per API table given (`api`: records by raw table) and the capture files
    under `captures` that are new or grew since the last load, as a refresh does."""
    with duckdb.connect(str(warehouse.path)) as con:
        for table in API_TABLES:
            ensure_raw_table(con, table)
        for table, records in (api or {}).items():
            loader = RawLoader(con, table)
            loader.add(records, table.entity)
            loader.commit()
        if captures is not None:
            load_captures(con, captures)


def build_warehouse(
    workspace: Workspace, data_dir: Path, timezone: str = "UTC", select: Sequence[str] = ()
) -> Warehouse:
    """Every raw table of both sources loaded from `workspace` at once, then one `dbt build`."""
    warehouse = new_warehouse(data_dir)
    load_raw(warehouse, workspace.api_tables(), workspace.captures_dir)
    dbt_build(warehouse, timezone=timezone, select=select)
    return warehouse


@contextmanager
def loader_clock(now: datetime) -> Iterator[None]:
    """Stamp the rows loaded inside the block (`_loaded_at`, the batch log) with `now` (UTC,
    naive), as if the loader ran then."""
    with (
        mock.patch("extract.load.utc_now", return_value=now),
        mock.patch("extract.captures.utc_now", return_value=now),
    ):
        yield


def dbt_build(
    warehouse: Warehouse,
    *,
    timezone: str = "UTC",
    select: Sequence[str] = (),
    full_refresh: bool = False,
    run_name: str = "build",
    succeed: bool = True,
) -> DbtRun:
    """`dbt build` on `warehouse` (the whole project, or `select` and its tests whose every
    parent is selected), failing the test with dbt's output if dbt does not end as `succeed`
    says. Each run name has its own target and log paths under the data directory."""
    target_path = warehouse.data_dir / "dbt" / run_name / "target"
    log_path = warehouse.data_dir / "dbt" / run_name / "logs"
    arguments = [dbt_executable(), "build"]
    if select:
        arguments += ["--select", *select, "--indirect-selection", "cautious"]
    if full_refresh:
        arguments.append("--full-refresh")
    arguments += [
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--vars",
        json.dumps({"reporting_timezone": timezone}),
    ]
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("WABI_")
    } | {"WABI_DATA_DIR": str(warehouse.data_dir), "WABI_PII_SALT": SALT}
    result = subprocess.run(
        arguments,
        cwd=DBT_PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DBT_TIMEOUT_SECONDS,
    )
    assert (result.returncode == 0) == succeed, result.stdout[-6000:] + result.stderr[-2000:]
    return DbtRun(stdout=result.stdout, target_path=target_path, log_path=log_path)


def phone_hash(number: str) -> str:
    """A customer's number as staging publishes it: the salted SHA-256 of its digits."""
    return hashlib.sha256((SALT + "".join(c for c in number if c.isdigit())).encode()).hexdigest()


def read_lines(path: Path) -> list[str]:
    """The lines of a capture file, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.readlines()
