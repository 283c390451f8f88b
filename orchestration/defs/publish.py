"""Publish the marts to `analytics.duckdb`, the file analysts and BI tools open read-only.

The new file is written beside the old one and swapped in with an atomic rename: a reader that
has the old file open keeps reading it, a new connection sees the new one, nobody ever sees half
a file and nobody's lock blocks the refresh. It is written in storage version v1.0.0, which the
DuckDB 1.x bundled in most BI drivers can open.
"""

import os
import uuid
from pathlib import Path

import dagster as dg
import duckdb

from extract.sql import sql_string
from orchestration.defs.dbt import MARTS_SCHEMA
from orchestration.defs.resources import WarehouseResource
from orchestration.project import mart_models

PUBLISHED_TABLES = mart_models()
STORAGE_VERSION = "v1.0.0"


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _staging_files(analytics_path: Path) -> list[Path]:
    """Staging files of `analytics_path` (and their write-ahead logs) on this disk."""
    pattern = f".{analytics_path.name}.*.tmp"
    return [*analytics_path.parent.glob(pattern), *analytics_path.parent.glob(pattern + ".wal")]


def publish_marts(
    warehouse_path: Path, analytics_path: Path, tables: tuple[str, ...] = PUBLISHED_TABLES
) -> dict[str, int]:
    """Copy `tables` from the warehouse's marts into a new file that replaces `analytics_path`."""
    # A killed publish leaves its staging file behind; the refresh lock makes every one found
    # here another run's leftover, never a file being written.
    for leftover in _staging_files(analytics_path):
        leftover.unlink(missing_ok=True)
    staging_path = analytics_path.with_name(f".{analytics_path.name}.{uuid.uuid4().hex}.tmp")
    row_counts: dict[str, int] = {}
    try:
        con = duckdb.connect()
        try:
            con.execute(f"attach {sql_string(warehouse_path)} as warehouse (read_only)")
            con.execute(
                f"attach {sql_string(staging_path)} as published "
                f"(storage_version {sql_string(STORAGE_VERSION)})"
            )
            for table in tables:
                con.execute(
                    f"create table published.main.{table} as "
                    f"select * from warehouse.{MARTS_SCHEMA}.{table}"
                )
                row_counts[table] = con.execute(
                    f"select count(*) from published.main.{table}"
                ).fetchone()[0]
            con.execute("checkpoint published")
            con.execute("detach published")
        finally:
            con.close()
        _fsync(staging_path)
        os.replace(staging_path, analytics_path)
        _fsync(analytics_path.parent)
    finally:
        staging_path.unlink(missing_ok=True)
        staging_path.with_name(staging_path.name + ".wal").unlink(missing_ok=True)
    return row_counts


@dg.asset(
    deps=[dg.AssetKey(table) for table in PUBLISHED_TABLES],
    group_name="publish",
    owners=["team:data-platform"],
    kinds={"duckdb"},
    description=(
        "analytics.duckdb: the marts of the contract, replaced atomically once every upstream "
        "check has passed; analysts and BI tools open it read-only."
    ),
)
def publish(warehouse: WarehouseResource) -> dg.MaterializeResult:
    row_counts = publish_marts(warehouse.warehouse_path, warehouse.analytics_path)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.analytics_path)),
            "storage_version": STORAGE_VERSION,
            "bytes": warehouse.analytics_path.stat().st_size,
            **{f"rows.{table}": count for table, count in row_counts.items()},
        }
    )
