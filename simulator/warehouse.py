"""A generated workspace's files, and a warehouse loaded from them as a deployment loads it:
respond.io's API records through `RawLoader`, the webhook captures through `load_captures`, each
load stamped with the loader's clock (`loader_clock` sets it, to replay loads as of given times).
`Warehouse` reads the file back, read-only. Tests and benchmarks both build on this.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from extract.captures import ensure_capture_tables, load_captures
from extract.load import RawLoader, RawTable, ensure_raw_table, utc_now
from extract.respondio import API_TABLES, CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES, USERS
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec

# The workspace's API files, each read into its raw table.
API_FILES: dict[RawTable, str] = {
    USERS: "users.json",
    CHANNELS: "channels.json",
    CLOSING_NOTES: "closing_notes.json",
    CONTACTS: "contacts.jsonl",
    MESSAGES: "messages.jsonl",
}
# The clock `load_raw` stamps its batches with: the wall clock, unless `loader_clock` set one.
_LOADER_CLOCK: ContextVar[Callable[[], datetime]] = ContextVar("loader_clock", default=utc_now)


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
    clock = _LOADER_CLOCK.get()
    with duckdb.connect(str(warehouse.path)) as con:
        for table in API_TABLES:
            ensure_raw_table(con, table)
        for table, records in (api or {}).items():
            loader = RawLoader(con, table, clock=clock)
            loader.add(records, table.entity)
            loader.commit()
        if captures is not None:
            load_captures(con, captures, clock=clock)


@contextmanager
def loader_clock(now: datetime) -> Iterator[None]:
    """Stamp the rows `load_raw` loads inside the block (`_loaded_at`, the batch log) with `now`
    (UTC, naive), as if the loader ran then."""
    token = _LOADER_CLOCK.set(lambda: now)
    try:
        yield
    finally:
        _LOADER_CLOCK.reset(token)


def read_lines(path: Path) -> list[str]:
    """The lines of a capture file, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.readlines()
