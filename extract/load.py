"""Load source records into the warehouse's `raw` schema, once each, losing nothing.

Every raw table has the same shape: the record's JSON exactly as the source sent it (`record`),
its natural key (`_record_id`), a hash of its canonical form, and load metadata (`_source`,
`_url`, `_batch_id`, `_loaded_at`). A record already stored with the same content is left alone,
a changed one replaces the old version, so a re-run loads nothing. Records that cannot be keyed go
to `raw.rejected_records` with the reason; the rest of the batch loads. Rows reach DuckDB as Arrow
tables in chunks, never as single-row INSERTs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

log = logging.getLogger("wabi.extract.load")

RAW_SCHEMA = "raw"
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class RawTable:
    """One raw table: `raw.<source>__<entity>`, keyed by a field of the record."""

    source: str
    entity: str
    key_field: str

    @property
    def name(self) -> str:
        return f"{self.source}__{self.entity}"

    @property
    def qualified(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"


@dataclass
class LoadResult:
    table: str
    batch_id: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejection_reasons: Counter[str] = field(default_factory=Counter)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "batch_id": self.batch_id,
            "fetched": self.fetched,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejection_reasons": dict(self.rejection_reasons),
        }


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(f"""
        create table if not exists {RAW_SCHEMA}.rejected_records (
            source varchar not null,
            location varchar,
            reason varchar not null,
            raw_text varchar,
            rejected_at timestamp not null,
            batch_id varchar not null
        )""")
    con.execute(f"""
        create table if not exists {RAW_SCHEMA}._batches (
            batch_id varchar primary key,
            source varchar not null,
            entity varchar not null,
            started_at timestamp not null,
            finished_at timestamp,
            fetched bigint,
            inserted bigint,
            updated bigint,
            unchanged bigint,
            rejected bigint,
            validated_at timestamp
        )""")


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    ensure_raw_schema(con)
    con.execute(f"""
        create table if not exists {table.qualified} (
            _record_id varchar not null,
            record json not null,
            _record_hash varchar not null,
            _source varchar not null,
            _url varchar,
            _batch_id varchar not null,
            _loaded_at timestamp not null
        )""")


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _natural_key(record: Any, key_field: str) -> tuple[str | None, str | None]:
    """(key, None) for a loadable record, else (None, reason)."""
    if not isinstance(record, dict):
        return None, f"not a JSON object ({type(record).__name__})"
    key = record.get(key_field)
    if isinstance(key, bool) or not isinstance(key, int | str) or key == "":
        return None, f"missing or invalid {key_field}"
    return str(key), None


class RawLoader:
    """Loads one batch of records into one raw table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
        self.con = con
        self.table = table
        self.result = LoadResult(table=table.qualified, batch_id=uuid.uuid4().hex)
        self._started_at = _utc_now()
        self._rows: dict[str, list[Any]] = {
            "_record_id": [],
            "record": [],
            "_record_hash": [],
            "_url": [],
        }
        self._rejects: list[dict[str, Any]] = []
        ensure_raw_table(con, table)
        con.execute(
            f"""create or replace temp table _staged as
            select _record_id, record::varchar as record, _record_hash, _url, 0::bigint as _ord
            from {table.qualified} limit 0"""
        )
        self._ordinal = 0

    def add(self, records: Iterable[Any], location: str) -> None:
        for record in records:
            self.result.fetched += 1
            key, reason = _natural_key(record, self.table.key_field)
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            if reason is not None:
                self._reject(location, reason, text)
                continue
            canonical = json.dumps(
                record, ensure_ascii=False, sort_keys=True, separators=(",", ":")
            )
            self._rows["_record_id"].append(key)
            self._rows["record"].append(text)
            self._rows["_record_hash"].append(hashlib.md5(canonical.encode()).hexdigest())
            self._rows["_url"].append(location)
            if len(self._rows["_record_id"]) >= CHUNK_ROWS:
                self._flush()

    def _reject(self, location: str, reason: str, text: str) -> None:
        self.result.rejected += 1
        self.result.rejection_reasons[reason] += 1
        self._rejects.append({"location": location, "reason": reason, "raw_text": text})

    def _flush(self) -> None:
        count = len(self._rows["_record_id"])
        if not count:
            return
        chunk = pa.table(self._rows | {"_ord": list(range(self._ordinal, self._ordinal + count))})
        self._ordinal += count
        self.con.register("_chunk", chunk)
        self.con.execute("insert into _staged select * from _chunk")
        self.con.unregister("_chunk")
        self._rows = {name: [] for name in self._rows}

    def commit(self) -> LoadResult:
        """Merge the staged batch into the raw table in one transaction."""
        self._flush()
        table, result, now = self.table.qualified, self.result, _utc_now()
        con = self.con
        con.execute("begin transaction")
        try:
            con.execute(f"""
                create or replace temp table _changed as
                with latest as (
                    select * from _staged
                    qualify row_number() over (partition by _record_id order by _ord desc) = 1
                )
                select latest.*, stored._record_id is not null as is_update
                from latest
                left join {table} as stored on stored._record_id = latest._record_id
                where stored._record_hash is distinct from latest._record_hash""")
            changed, updates = con.execute(
                "select count(*), count(*) filter (is_update) from _changed"
            ).fetchone()
            con.execute(
                f"""delete from {table}
                where _record_id in (select _record_id from _changed where is_update)"""
            )
            con.execute(
                f"""insert into {table}
                select _record_id, record::json, _record_hash, ?, _url, ?, ? from _changed""",
                [self.table.source, result.batch_id, now],
            )
            if self._rejects:
                rejects = pa.Table.from_pylist(self._rejects)
                con.register("_rejects", rejects)
                con.execute(
                    f"""insert into {RAW_SCHEMA}.rejected_records
                    select ?, location, reason, raw_text, ?, ? from _rejects""",
                    [self.table.source, now, result.batch_id],
                )
                con.unregister("_rejects")
            result.inserted, result.updated = changed - updates, updates
            result.unchanged = result.fetched - result.rejected - changed
            con.execute(
                f"insert into {RAW_SCHEMA}._batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)",
                [
                    result.batch_id,
                    self.table.source,
                    self.table.entity,
                    self._started_at,
                    now,
                    result.fetched,
                    result.inserted,
                    result.updated,
                    result.unchanged,
                    result.rejected,
                ],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        finally:
            con.execute("drop table if exists _staged")
            con.execute("drop table if exists _changed")
        if result.rejected:
            log.warning(
                "%s: rejected %d records: %s",
                table,
                result.rejected,
                dict(result.rejection_reasons),
            )
        log.info("%s: %s", table, result.as_metadata())
        return result


def unvalidated_batch_ids(con: duckdb.DuckDBPyConnection, table: RawTable) -> list[str]:
    """Batches of `table` that no gate has passed yet: a batch that failed stays here, and keeps
    failing the gate, until the source sends corrected records (which form a new batch)."""
    rows = con.execute(
        f"""select batch_id from {RAW_SCHEMA}._batches
        where source = ? and entity = ? and validated_at is null order by finished_at""",
        [table.source, table.entity],
    ).fetchall()
    return [row[0] for row in rows]


def mark_batches_validated(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> None:
    con.execute(
        f"update {RAW_SCHEMA}._batches set validated_at = ? where list_contains(?, batch_id)",
        [_utc_now(), batch_ids],
    )
