"""Great Expectations suites run as blocking Dagster asset checks.

The raw gates judge batches, not rows: the loaders already keep every record that breaks a
value rule out of its raw table (`extract.rules`, into `raw.quarantined_records`). A gate fails a
table's new batches when the share of their records kept out (quarantined or rejected) passes
`WABI_MAX_QUARANTINE_SHARE`, when a required field is absent from every new record (schema
drift), or when a message's statuses are out of order.

GX's SQL datasource does not work on DuckDB (results are fetched after the connection closes), so
every suite validates pandas DataFrames that DuckDB produced, limited to what the check needs,
a batch's rows in chunks of bounded size so memory does not grow with the batch. An expectation
that raised instead of evaluating is a failure, never a pass.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import duckdb
    import great_expectations as gx
    import pandas as pd

    from extract.load import RawTable

SAMPLE_SIZE = 10
# Fewer new records than this say nothing about a field every one of them lacks.
DRIFT_MIN_RECORDS = 10


@dataclass
class GateOutcome:
    suite: str
    rows: int
    passed: bool
    failures: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if self.passed:
            return f"{self.suite}: all expectations met on {self.rows} rows"
        failures = "; ".join(map(_describe, self.failures))
        return f"{self.suite} failed on {self.rows} rows: {failures}"


def _describe(failure: dict[str, Any]) -> str:
    """One failed expectation in a line: what, where, how many, and a sample of the values."""
    name = f"{failure['expectation']}({failure['column']})"
    if failure.get("error"):
        return f"{name} raised {failure['error']}"
    return f"{name}: {failure['unexpected_count']} unexpected, e.g. {failure['sample'][:3]}"


def _raised(exception_info: Any) -> str | None:
    """The message of an exception GX caught while evaluating, if any."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception"):
        return str(exception_info.get("exception_message"))
    for info in exception_info.values():
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message"))
    return None


class SuiteValidation:
    """One GX suite run on a frame, or on the chunks of a batch one after another, its outcome
    merged as if it had run on all their rows at once: rows summed and, per failed expectation,
    unexpected counts summed and samples joined. An expectation that raised on any frame fails.

    One GX context serves every frame; it keeps the last frame it validated until the next one
    replaces it, and no other."""

    def __init__(
        self, suite_name: str, expectations: Sequence[gx.expectations.Expectation]
    ) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._batches = (
            context.data_sources.add_pandas(name="wabi")
            .add_dataframe_asset(name=suite_name)
            .add_batch_definition_whole_dataframe("whole_frame")
        )
        self._suite = gx.ExpectationSuite(name=suite_name)
        for expectation in expectations:
            self._suite.add_expectation(expectation)
        self.suite_name = suite_name
        self.rows = 0
        # By type and arguments, as GX itself tells a suite's expectations apart.
        self._failures: dict[str, dict[str, Any]] = {}

    def add(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame})
        for result in batch.validate(self._suite, result_format="SUMMARY").results:
            error = _raised(result.exception_info)
            if result.success and error is None:
                continue
            config = result.expectation_config
            details = result.result or {}
            key = json.dumps([config.type, config.kwargs], sort_keys=True, default=str)
            failure = self._failures.setdefault(
                key,
                {
                    "expectation": config.type,
                    "column": _columns_of(config.kwargs),
                    "unexpected_count": None,
                    "sample": [],
                    "error": None,
                },
            )
            count = details.get("unexpected_count")
            if count is not None:
                failure["unexpected_count"] = (failure["unexpected_count"] or 0) + count
            sample = [str(v) for v in details.get("partial_unexpected_list") or []]
            failure["sample"] = (failure["sample"] + sample)[:SAMPLE_SIZE]
            failure["error"] = failure["error"] or error

    def outcome(self) -> GateOutcome:
        failures = list(self._failures.values())
        return GateOutcome(self.suite_name, self.rows, passed=not failures, failures=failures)


def _columns_of(kwargs: dict[str, Any]) -> str:
    """The column, column pair or column list an expectation is about."""
    return (
        kwargs.get("column")
        or ",".join(str(kwargs.get(k)) for k in ("column_A", "column_B") if k in kwargs)
        or ",".join(kwargs.get("column_list", []))
    )


def validate_frame(
    suite_name: str, frame: pd.DataFrame, expectations: Sequence[gx.expectations.Expectation]
) -> GateOutcome:
    """Run `expectations` on `frame` with GX's pandas datasource."""
    validation = SuiteValidation(suite_name, expectations)
    validation.add(frame)
    return validation.outcome()


def check_result(
    outcomes: Sequence[GateOutcome], extra: dict[str, Any] | None = None
) -> dg.AssetCheckResult:
    """One Dagster check result over several suites; its description names every failure."""
    failures = [failure | {"suite": o.suite} for o in outcomes for failure in o.failures]
    metadata: dict[str, Any] = {f"rows_validated.{o.suite}": o.rows for o in outcomes}
    if failures:
        metadata["failures"] = dg.MetadataValue.json(failures)
    return dg.AssetCheckResult(
        passed=all(o.passed for o in outcomes),
        severity=dg.AssetCheckSeverity.ERROR,
        description=" | ".join(o.summary() for o in outcomes),
        metadata=metadata | (extra or {}),
    )


def status_order_expectations() -> list[gx.expectations.Expectation]:
    """A message's statuses happen in their order: the first `delivered` not before the first
    `sent`, the first `read` not before either. A status never reported is not compared."""
    import great_expectations.expectations as gxe

    pairs = [
        ("delivered_epoch", "sent_epoch"),
        ("read_epoch", "delivered_epoch"),
        ("read_epoch", "sent_epoch"),
    ]
    return [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=later,
            column_B=earlier,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        )
        for later, earlier in pairs
    ]


# From rows of (message id, status, epoch): each message's first time of each status.
FIRST_STATUS_TIMES = """
    select
        message_id,
        min(status_epoch) filter (where status = 'sent') as sent_epoch,
        min(status_epoch) filter (where status = 'delivered') as delivered_epoch,
        min(status_epoch) filter (where status = 'read') as read_epoch
    from ({statuses})
    group by message_id
"""


# Rows of one suite validated at a time, whatever the batch (a first load can hold tens of
# millions): 200k messages are an 11 MiB DataFrame, and GX's work on it peaks near 30 MiB.
GATE_CHUNK_ROWS = 200_000
_CHUNK_TABLE = "_gate_rows"
_KEY_HASH = "_gate_key_hash"


def chunk_frames(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    parameters: dict[str, Any],
    chunk_key: str,
    chunk_rows: int = GATE_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The rows of `sql` as DataFrames of about `chunk_rows` rows each, split by a hash of
    `chunk_key`, so every row of a key value falls in the same chunk (DuckDB hashes every NULL
    alike: rows of a null key share one). The query runs once, into a temp table DuckDB spills
    to disk past its memory limit; each chunk is read from there when asked for."""
    con.execute(
        f"create or replace temp table {_CHUNK_TABLE} as "
        f"select *, hash({chunk_key}) as {_KEY_HASH} from ({sql})",
        parameters,
    )
    try:
        (rows,) = con.execute(f"select count(*) from {_CHUNK_TABLE}").fetchone()
        chunks = max(1, math.ceil(rows / chunk_rows))
        for chunk in range(chunks):
            # Bound as ubigint like the hash: a bigint would widen every hash to a hugeint.
            yield con.execute(
                f"select * exclude ({_KEY_HASH}) from {_CHUNK_TABLE} "
                f"where {_KEY_HASH} % $chunks::ubigint = $chunk::ubigint",
                {"chunks": chunks, "chunk": chunk},
            ).df()
    finally:
        con.execute(f"drop table if exists {_CHUNK_TABLE}")


def ensure_chunkable(
    suite_name: str, expectations: Sequence[gx.expectations.Expectation], chunk_key: str
) -> None:
    """Refuse an expectation whose outcome on a whole batch is not the merge of its outcomes
    on the batch's chunks: only those judging each row alone qualify, and uniqueness over
    columns that include the chunk key (a key's rows share a chunk). A `mostly` below 1 is a
    share of all rows, which no chunk sees."""
    import great_expectations.expectations as gxe

    row_wise = (
        gxe.ExpectColumnValuesToNotBeNull,
        gxe.ExpectColumnValuesToBeNull,
        gxe.ExpectColumnValuesToBeInSet,
        gxe.ExpectColumnValuesToNotBeInSet,
        gxe.ExpectColumnValuesToBeBetween,
        gxe.ExpectColumnValuesToMatchRegex,
        gxe.ExpectColumnValuesToNotMatchRegex,
        gxe.ExpectColumnValueLengthsToBeBetween,
        gxe.ExpectColumnPairValuesAToBeGreaterThanB,
        gxe.ExpectColumnPairValuesToBeEqual,
        gxe.ExpectColumnPairValuesToBeInSet,
        gxe.ExpectSelectColumnValuesToBeUniqueWithinRecord,
        gxe.ExpectMulticolumnSumToEqual,
    )
    for expectation in expectations:
        if isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
            chunkable = expectation.column == chunk_key
        elif isinstance(expectation, gxe.ExpectCompoundColumnsToBeUnique):
            chunkable = chunk_key in expectation.column_list
        else:
            chunkable = isinstance(expectation, row_wise)
        if not chunkable or getattr(expectation, "mostly", 1) != 1:
            raise ValueError(
                f"{suite_name}: {expectation.expectation_type} cannot be validated in chunks "
                f"split by {chunk_key}"
            )


@dataclass(frozen=True)
class BatchSuite:
    """A GX suite over a raw table's batches not yet validated: `sql` selects the columns the
    expectations need, for the batch ids bound to `$batch_ids`. The rows are validated in
    chunks split by `chunk_key`, a column of `sql`: a uniqueness expectation must be on it."""

    name: str
    table: RawTable
    sql: str
    expectations: Callable[[], Sequence[gx.expectations.Expectation]]
    chunk_key: str

    def validate(
        self, con: duckdb.DuckDBPyConnection, batch_ids: list[str], chunk_rows: int
    ) -> GateOutcome:
        expectations = self.expectations()
        ensure_chunkable(self.name, expectations, self.chunk_key)
        validation = SuiteValidation(self.name, expectations)
        for frame in chunk_frames(
            con, self.sql, {"batch_ids": batch_ids}, self.chunk_key, chunk_rows
        ):
            validation.add(frame)
            del frame  # not held while DuckDB reads the next chunk
        return validation.outcome()


def gate_new_batches(
    context: dg.AssetCheckExecutionContext,
    check: tuple[dg.AssetKey, str],
    con_factory: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    suites: Sequence[BatchSuite],
    chunk_rows: int = GATE_CHUNK_ROWS,
) -> dg.AssetCheckResult:
    """Validate every batch no gate has passed yet (normally the one just loaded) and mark them
    validated when every suite passes, or as failed when one does (see `JUDGED_BATCHES`). Each
    suite runs on chunks of about `chunk_rows` rows, so memory does not grow with the batch."""
    from extract.load import mark_batches_failed, mark_batches_validated, unvalidated_batch_ids

    with con_factory() as con:
        batches = {suite.name: unvalidated_batch_ids(con, suite.table) for suite in suites}
        outcomes = [suite.validate(con, batches[suite.name], chunk_rows) for suite in suites]
        validated = sorted({batch for ids in batches.values() for batch in ids})
        result = check_result(outcomes, {"batches_validated": len(validated)})
        record_check_results(con, run_id_of(context), [CheckRecord(*check, result)])
        if result.passed:
            mark_batches_validated(con, validated)
        else:
            mark_batches_failed(con, validated)
    return result


# The batches a batch-level suite judges, of those bound to `$batch_ids` (a table's batches no
# gate has passed): the ones no gate has failed yet, when they hold any record; else all of
# them. So a failed batch fails every run, until the source sends records again (corrected ones,
# say): their batch is judged alone and, if it passes, the failed batches pass with it (their
# bad records stay in quarantine, the rest was already loaded).
JUDGED_BATCHES = """
    unvalidated as (
        select batch_id, fetched, rejected, coalesce(quarantined, 0) as quarantined,
            gate_failed_at
        from raw._batches
        where list_contains($batch_ids, batch_id)
    ),
    fresh as (
        select * from unvalidated where gate_failed_at is null
    ),
    judged as (
        select * from fresh where (select coalesce(sum(fetched), 0) from fresh) > 0
        union all
        select * from unvalidated where (select coalesce(sum(fetched), 0) from fresh) = 0
    )
"""


def quarantine_share_suite(table: RawTable, max_share: float) -> BatchSuite:
    """Fails when more of the judged batches' records were kept out of `table` (quarantined,
    or rejected at load) than `max_share` of them: at least one is always allowed (a share of
    a small run rounds to nothing), none when `max_share` is 0."""
    import great_expectations.expectations as gxe

    from extract.load import QUARANTINE

    allowed = f"case when {max_share!r} > 0 then greatest(1, floor({max_share!r} * records)) end"
    sql = f"""
        with {JUDGED_BATCHES},
        totals as (
            select
                coalesce(sum(fetched), 0) as records,
                coalesce(sum(quarantined), 0) as quarantined,
                coalesce(sum(rejected), 0) as rejected
            from judged
        ),
        frequent_rules as (
            select rule, count(*) as records from {QUARANTINE}
            where raw_table = '{table.qualified}'
                and list_contains((select list(batch_id) from judged), batch_id)
            group by rule
            order by records desc, rule
            limit 3
        ),
        judged_totals as (
            select *, coalesce({allowed}, 0)::bigint as allowed from totals
        )
        select
            '{table.qualified}' as raw_table,
            records,
            quarantined,
            rejected,
            allowed,
            case when quarantined + rejected > allowed then
                format(
                    '{{}}: {{}} of {{}} new records kept out ({{}} quarantined, {{}} rejected), '
                    || 'more than the {{}} WABI_MAX_QUARANTINE_SHARE={max_share!r} allows{{}}',
                    raw_table, quarantined + rejected, records, quarantined, rejected, allowed,
                    coalesce('; most often ' || (
                        select string_agg(rule || ' (' || records || ')', ', ')
                        from frequent_rules
                    ), '')
                )
            end as kept_out_over_share
        from judged_totals
    """
    return BatchSuite(
        f"{table.name}_quarantine_share",
        table,
        sql,
        lambda: [gxe.ExpectColumnValuesToBeNull(column="kept_out_over_share")],
        chunk_key="raw_table",
    )


def schema_drift_suite(table: RawTable, fields: Sequence[str]) -> BatchSuite:
    """Fails when a required field of `table` is absent from every new record of the judged
    batches (loaded or quarantined), given at least `DRIFT_MIN_RECORDS` of them."""
    import great_expectations.expectations as gxe

    from extract.load import QUARANTINE
    from extract.rules import is_missing

    presence = ", ".join(
        f"count(*) filter (where not {is_missing('record', field)}) as present_{i}"
        for i, field in enumerate(fields)
    )
    per_field = " union all ".join(
        f"""select '{table.qualified}.{field}' as field, records, present_{i} as present,
            case when records >= {DRIFT_MIN_RECORDS} and present_{i} = 0 then
                '{table.qualified}: ' || '{field}' || ' absent from all ' || records
                    || ' new records'
            end as drifted_field
        from presence"""
        for i, field in enumerate(fields)
    )
    sql = f"""
        with {JUDGED_BATCHES},
        judged_ids as (
            select list(batch_id) as batch_ids from judged
        ),
        new_records as (
            select record from {table.qualified}
            where list_contains((select batch_ids from judged_ids), _batch_id)
            union all
            select record from {QUARANTINE}
            where raw_table = '{table.qualified}'
                and list_contains((select batch_ids from judged_ids), batch_id)
        ),
        presence as (
            select count(*) as records, {presence} from new_records
        )
        {per_field}
    """
    return BatchSuite(
        f"{table.name}_schema_drift",
        table,
        sql,
        lambda: [gxe.ExpectColumnValuesToBeNull(column="drifted_field")],
        chunk_key="field",
    )


def batch_suites(table: RawTable, max_share: float) -> list[BatchSuite]:
    """The batch-level suites of a raw table: its kept-out share, and schema drift when the
    table has required fields."""
    from extract.rules import REQUIRED_FIELDS

    suites = [quarantine_share_suite(table, max_share)]
    if table in REQUIRED_FIELDS:
        suites.append(schema_drift_suite(table, REQUIRED_FIELDS[table]))
    return suites


def run_id_of(context: dg.AssetCheckExecutionContext | dg.AssetExecutionContext) -> str:
    """The run's id; a check invoked directly (as a test may) runs outside any run."""
    try:
        return context.run.run_id
    except dg.DagsterError:  # DagsterInvalidPropertyError, which dagster does not export
        return "direct-invocation"


AUDIT_TABLE = "audit.check_results"


@dataclass(frozen=True)
class CheckRecord:
    asset_key: dg.AssetKey
    check_name: str
    result: dg.AssetCheckResult


def record_check_results(
    con: duckdb.DuckDBPyConnection, run_id: str, records: Sequence[CheckRecord]
) -> None:
    """Keep each check's outcome in the warehouse (`audit.check_results`), beside Dagster's own
    record, so a gate's history can be queried with SQL."""
    from extract.load import utc_now

    con.execute("create schema if not exists audit")
    con.execute(f"""
        create table if not exists {AUDIT_TABLE} (
            run_id varchar not null,
            asset_key varchar not null,
            check_name varchar not null,
            passed boolean not null,
            description varchar,
            metadata json,
            checked_at timestamp not null
        )""")
    rows = [
        (
            run_id,
            record.asset_key.to_user_string(),
            record.check_name,
            record.result.passed,
            record.result.description,
            json.dumps({k: getattr(v, "value", v) for k, v in record.result.metadata.items()}),
            utc_now(),
        )
        for record in records
    ]
    if rows:
        con.executemany(f"insert into {AUDIT_TABLE} values (?, ?, ?, ?, ?, ?, ?)", rows)
