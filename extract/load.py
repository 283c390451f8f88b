"""Load source records into the warehouse's `raw` schema, once each, losing nothing.

Every raw table has the same shape: the record's JSON exactly as the source sent it (`record`),
its natural key (`_record_id`), a hash of its canonical form, and load metadata (`_source`,
`_batch_id`, `_loaded_at`, and where the record came from: `_url` for an API page, `_file` and
`_line` for a capture file; the others are null). Some tables add context columns (all varchar)
after these. A record already stored with the same content is left alone, a changed one replaces
the old version, so a re-run loads nothing. Records that cannot be keyed (not an object; the key
missing, empty, a boolean or not a string or integer) or cannot be written as JSON (NaN or
Infinity, a string with a lone surrogate, nesting deeper than Python's recursion limit, a value
JSON has no type for) go to `raw.rejected_records` with the reason and the record's text as far as
it can be written; the rest of the batch loads. A record that keys and parses but breaks a value
rule of its table (`extract.rules`: a timestamp in milliseconds, an unknown status, a required
field missing) goes to `raw.quarantined_records` with the rule and where it came from, and the
rest of the batch loads; the batch counts both. Rows reach DuckDB as Arrow tables in chunks,
never as single-row INSERTs.

`quarantine_staged`, `merge_staged`, `insert_rejects` and `log_batch` are the pieces of
`RawLoader.commit` that do not own the transaction, so a loader writing several tables at once
(`extract.captures`) commits them together with its own bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import reprlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from extract.sql import sql_string

log = logging.getLogger("wabi.extract.load")

RAW_SCHEMA = "raw"
QUARANTINE = f"{RAW_SCHEMA}.quarantined_records"
# DuckDB's memory for the warehouse, in its own units ("2GB"): past it, DuckDB spills to disk
# beside the file instead of growing (its default is 80 % of the machine). dbt's profile reads
# the same variable.
MEMORY_LIMIT_VARIABLE = "WABI_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"


def warehouse_config() -> dict[str, str]:
    """The DuckDB settings every connection to the warehouse opens with."""
    return {"memory_limit": os.environ.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT}


CHUNK_ROWS = 50_000
# Built once (json.dumps with options builds an encoder per call). NaN and Infinity are refused:
# they are not JSON, and a record holding one is rejected.
_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


@dataclass(frozen=True)
class RawTable:
    """One raw table: `raw.<source>__<entity>`, keyed by a field of the record.

    `key_field` is the field `RawLoader` keys records by; tables keyed by an expression (the
    capture tables) describe it there instead. `context_columns` are extra varchar columns.
    """

    source: str
    entity: str
    key_field: str
    context_columns: tuple[str, ...] = ()

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
    quarantined: int = 0
    quarantine_rules: Counter[str] = field(default_factory=Counter)

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
            "quarantined": self.quarantined,
            "quarantine_rules": dict(self.quarantine_rules),
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
    # Columns added after the table existed; `log_batch` names the columns it writes.
    for column, kind in {"quarantined": "bigint", "gate_failed_at": "timestamp"}.items():
        con.execute(f"alter table {RAW_SCHEMA}._batches add column if not exists {column} {kind}")
    ensure_quarantine_table(con)


def ensure_quarantine_table(con: duckdb.DuckDBPyConnection) -> None:
    """`raw.quarantined_records`: records that break a value rule, kept out of their raw table.
    `record` holds phone numbers: this table stays in the raw warehouse."""
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(f"""
        create table if not exists {QUARANTINE} (
            source varchar not null,
            raw_table varchar not null,
            record_id varchar not null,
            location varchar,
            rule varchar not null,
            record json,
            batch_id varchar not null,
            quarantined_at timestamp not null
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
    # Tables created before a column existed get it here, appended at the end (inserts name
    # their columns, so the order does not matter).
    added = {"_url": "varchar", "_file": "varchar", "_line": "bigint"}
    added |= dict.fromkeys(table.context_columns, "varchar")
    for column, kind in added.items():
        con.execute(f"alter table {table.qualified} add column if not exists {column} {kind}")


def create_staging(con: duckdb.DuckDBPyConnection, name: str, table: RawTable) -> None:
    """A temp table `name` for rows on their way into `table`: `record` still text, `_ord` the
    arrival order. Chunks go in with `insert into <name> by name`, so absent columns are null."""
    context = "".join(f", {column} varchar" for column in table.context_columns)
    con.execute(f"""
        create or replace temp table {name} (
            _record_id varchar, record varchar, _record_hash varchar, _url varchar,
            _file varchar, _line bigint, _ord bigint{context}
        )""")


def quarantine_staged(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    staged: str,
    batch_id: str,
    loaded_at: datetime,
) -> Counter[str]:
    """Move the rows of the temp table `staged` that break a rule of `table` to
    `raw.quarantined_records`, each with the first rule it breaks; return the count by rule.

    Located by `<file>:<line>` for a capture, else by the URL of its page. A record already
    quarantined with the same content and rule (a page fetched again, days reloaded) is not
    written twice. The caller owns the transaction."""
    from extract.rules import rules_of  # the rules name tables the loaders define

    rules = rules_of(table)
    if not rules:
        return Counter()
    broken = " ".join(f"when {rule.breaks} then {sql_string(rule.text)}" for rule in rules)
    # Each record is parsed once for all its fields, and once per list: parsing it again for
    # every rule took most of a load's time.
    fields = sorted({path for rule in rules for path in rule.fields})
    lists = sorted({path for rule in rules for path in rule.lists})
    paths = ", ".join(map(sql_string, fields))
    columns = [f'_values[{i}] as "{path}"' for i, path in enumerate(fields, start=1)]
    columns += [f'json_extract(record, {sql_string(path)}) as "{path}"' for path in lists]
    con.execute(
        f"""create or replace temp table _quarantine as
        with parsed as (
            select _ord, _record_id, record, coalesce(_file || ':' || _line, _url) as location,
                json_extract_string(record, [{paths}]) as _values
            from {staged}
        ),
        judged as (
            select _ord, _record_id, record, location, case {broken} end as rule
            from (select *, {", ".join(columns)} from parsed)
        )
        select * from judged where rule is not null""",
        {"load_epoch": int(loaded_at.replace(tzinfo=UTC).timestamp())},
    )
    try:
        counts = Counter(
            dict(con.execute("select rule, count(*) from _quarantine group by rule").fetchall())
        )
        if counts:
            con.execute(
                f"""insert into {QUARANTINE}
                select $source, $table, _record_id, location, rule, record::json, $batch, $at
                from _quarantine as new
                where not exists (
                    select 1 from {QUARANTINE} as kept
                    where kept.raw_table = $table and kept.record_id = new._record_id
                        and kept.rule = new.rule and kept.record::varchar = new.record
                )
                qualify row_number() over (partition by _record_id, rule, record order by _ord) = 1
                order by _ord""",
                {
                    "source": table.source,
                    "table": table.qualified,
                    "batch": batch_id,
                    "at": loaded_at,
                },
            )
            con.execute(f"delete from {staged} where _ord in (select _ord from _quarantine)")
    finally:
        con.execute("drop table if exists _quarantine")
    return counts


def merge_staged(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    staged: str,
    batch_id: str,
    loaded_at: datetime,
) -> tuple[int, int]:
    """Upsert the rows of the temp table `staged` into `table`; return (inserted, updated).

    Of the rows staged under one key, the last arrival's content wins; the row stored is the
    first arrival of that content, so a record delivered twice keeps where it first came from.
    A stored row with the same hash is left alone. The caller owns the transaction.
    """
    columns = ["_url", "_file", "_line", *table.context_columns]
    con.execute(f"""
        create or replace temp table _changed as
        with newest as (
            select _record_id, arg_max(_record_hash, _ord) as _record_hash
            from {staged} group by _record_id
        ),
        winner as (
            select staged.* from {staged} as staged join newest using (_record_id, _record_hash)
            qualify row_number() over (partition by staged._record_id order by staged._ord) = 1
        )
        select winner.*, stored._record_id is not null as is_update
        from winner
        left join {table.qualified} as stored on stored._record_id = winner._record_id
        where stored._record_hash is distinct from winner._record_hash""")
    changed, updates = con.execute(
        "select count(*), count(*) filter (is_update) from _changed"
    ).fetchone()
    con.execute(
        f"""delete from {table.qualified}
        where _record_id in (select _record_id from _changed where is_update)"""
    )
    names = ", ".join(columns)
    con.execute(
        f"""insert into {table.qualified}
            (_record_id, record, _record_hash, _source, _batch_id, _loaded_at, {names})
        select _record_id, record::json, _record_hash, ?, ?, ?, {names} from _changed""",
        [table.source, batch_id, loaded_at],
    )
    con.execute("drop table _changed")
    return changed - updates, updates


def merge_batch(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    staged: str,
    rejects: Sequence[dict[str, Any]],
    started_at: datetime,
    loaded_at: datetime,
) -> LoadResult:
    """Merge the temp table `staged` and its `rejects` into `table` as one new batch, logged in
    `raw._batches`. The caller owns the transaction."""
    result = LoadResult(table=table.qualified, batch_id=uuid.uuid4().hex)
    (staged_rows,) = con.execute(f"select count(*) from {staged}").fetchone()
    result.rejected = len(rejects)
    result.rejection_reasons.update(reject["reason"] for reject in rejects)
    result.fetched = staged_rows + result.rejected
    result.quarantine_rules = quarantine_staged(con, table, staged, result.batch_id, loaded_at)
    result.quarantined = result.quarantine_rules.total()
    result.inserted, result.updated = merge_staged(con, table, staged, result.batch_id, loaded_at)
    result.unchanged = staged_rows - result.quarantined - result.inserted - result.updated
    insert_rejects(con, table.source, rejects, result.batch_id, loaded_at)
    log_batch(con, result, table.source, table.entity, started_at, loaded_at)
    return result


def insert_rejects(
    con: duckdb.DuckDBPyConnection,
    source: str,
    rejects: Sequence[dict[str, Any]],
    batch_id: str,
    rejected_at: datetime,
) -> None:
    """Append rejects (dicts of location, reason, raw_text) to `raw.rejected_records`, except
    those recorded by an earlier batch (the same place read again, as a reload of its days
    does)."""
    if not rejects:
        return
    con.register("_rejects", pa.Table.from_pylist(list(rejects)))
    try:
        con.execute(
            f"""insert into {RAW_SCHEMA}.rejected_records
            select $source, location, reason, raw_text, $at, $batch from _rejects
            where not exists (
                select 1 from {RAW_SCHEMA}.rejected_records as recorded
                where recorded.source = $source
                    and recorded.location is not distinct from _rejects.location
                    and recorded.reason = _rejects.reason
                    and recorded.raw_text is not distinct from _rejects.raw_text
            )""",
            {"source": source, "at": rejected_at, "batch": batch_id},
        )
    finally:
        con.unregister("_rejects")


def log_batch(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    source: str,
    entity: str,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    """Record a batch in `raw._batches`, not yet validated."""
    con.execute(
        f"""insert into {RAW_SCHEMA}._batches (batch_id, source, entity, started_at, finished_at,
            fetched, inserted, updated, unchanged, rejected, quarantined)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            result.batch_id,
            source,
            entity,
            started_at,
            finished_at,
            result.fetched,
            result.inserted,
            result.updated,
            result.unchanged,
            result.rejected,
            result.quarantined,
        ],
    )


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _natural_key(record: Any, key_field: str) -> tuple[str | None, str | None]:
    """(key, None) for a loadable record, else (None, reason)."""
    if not isinstance(record, dict):
        return None, f"not a JSON object ({type(record).__name__})"
    key = record.get(key_field)
    if isinstance(key, bool) or not isinstance(key, int | str) or key == "":
        return None, f"missing or invalid {key_field}"
    try:
        return str(key), None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        return None, f"missing or invalid {key_field}"


def _encode(record: dict[str, Any]) -> tuple[str, str] | str:
    """(text, md5 of the canonical form) of a keyed record, or the reason it cannot be stored."""
    try:
        text = _TEXT.encode(record)
        # Encoding to UTF-8 fails on a lone surrogate, which Python's JSON accepts.
        digest = hashlib.md5(_CANONICAL.encode(record).encode()).hexdigest()
    except UnicodeEncodeError:
        return "invalid JSON: a string holds a lone surrogate"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    except ValueError:
        return "invalid JSON: a number is NaN or Infinity"
    except TypeError as exc:
        return f"invalid JSON: {exc}"
    return text, digest


def _reject_text(record: Any) -> str:
    """The record's text for a reject, as far as it can be written."""
    try:
        return json.dumps(record, separators=(",", ":"))  # ASCII: lone surrogates escaped
    except (ValueError, TypeError, RecursionError):
        return reprlib.repr(record)


class RawLoader:
    """Loads one batch of records into one raw table; `clock` times the batch (its start, and
    the `_loaded_at` of its rows)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: RawTable,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.con = con
        self.table = table
        self.result = LoadResult(table=table.qualified, batch_id=uuid.uuid4().hex)
        self._clock = clock
        self._started_at = clock()
        self._rows: dict[str, list[Any]] = {
            "_record_id": [],
            "record": [],
            "_record_hash": [],
            "_url": [],
        }
        self._rejects: list[dict[str, Any]] = []
        ensure_raw_table(con, table)
        create_staging(con, "_staged", table)
        self._ordinal = 0

    def add(self, records: Iterable[Any], location: str) -> None:
        for record in records:
            self.result.fetched += 1
            key, reason = _natural_key(record, self.table.key_field)
            encoded = _encode(record) if reason is None else reason
            if isinstance(encoded, str):
                self._reject(location, encoded, _reject_text(record))
                continue
            text, digest = encoded
            self._rows["_record_id"].append(key)
            self._rows["record"].append(text)
            self._rows["_record_hash"].append(digest)
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
        self.con.execute("insert into _staged by name select * from _chunk")
        self.con.unregister("_chunk")
        self._rows = {name: [] for name in self._rows}

    def commit(self) -> LoadResult:
        """Merge the staged batch into the raw table in one transaction."""
        self._flush()
        table, result, now = self.table.qualified, self.result, self._clock()
        con = self.con
        con.execute("begin transaction")
        try:
            result.quarantine_rules = quarantine_staged(
                con, self.table, "_staged", result.batch_id, now
            )
            result.quarantined = result.quarantine_rules.total()
            result.inserted, result.updated = merge_staged(
                con, self.table, "_staged", result.batch_id, now
            )
            insert_rejects(con, self.table.source, self._rejects, result.batch_id, now)
            result.unchanged = (
                result.fetched
                - result.rejected
                - result.quarantined
                - result.inserted
                - result.updated
            )
            log_batch(con, result, self.table.source, self.table.entity, self._started_at, now)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        finally:
            con.execute("drop table if exists _staged")
        if result.rejected:
            log.warning(
                "%s: rejected %d records: %s",
                table,
                result.rejected,
                dict(result.rejection_reasons),
            )
        if result.quarantined:
            log.warning(
                "%s: quarantined %d records: %s",
                table,
                result.quarantined,
                dict(result.quarantine_rules),
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
        [utc_now(), batch_ids],
    )


def mark_batches_failed(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> None:
    """Note when a gate first failed these batches (they stay unvalidated)."""
    con.execute(
        f"""update {RAW_SCHEMA}._batches set gate_failed_at = ?
        where list_contains(?, batch_id) and gate_failed_at is null""",
        [utc_now(), batch_ids],
    )
