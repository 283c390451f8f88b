"""Great Expectations suites run as blocking Dagster asset checks.

GX's SQL datasource does not work on DuckDB (results are fetched after the connection closes), so
every suite validates a pandas DataFrame that DuckDB produced, limited to what the check needs.
An expectation that raised instead of evaluating is a failure, never a pass.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
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
# Validated timestamps must fall between WhatsApp Business's launch year and a day from now.
EARLIEST_VALID_EPOCH = 1_230_768_000  # 2009-01-01T00:00:00Z
FUTURE_TOLERANCE_SECONDS = 86_400


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


def validate_frame(
    suite_name: str, frame: pd.DataFrame, expectations: Sequence[gx.expectations.Expectation]
) -> GateOutcome:
    """Run `expectations` on `frame` with GX's pandas datasource."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(name="wabi")
        .add_dataframe_asset(name=suite_name)
        .add_batch_definition_whole_dataframe("whole_frame")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    outcome = GateOutcome(suite=suite_name, rows=len(frame), passed=True)
    for result in batch.validate(suite, result_format="SUMMARY").results:
        error = _raised(result.exception_info)
        if result.success and error is None:
            continue
        config = result.expectation_config
        details = result.result or {}
        outcome.passed = False
        outcome.failures.append(
            {
                "expectation": config.type,
                "column": config.kwargs.get("column")
                or ",".join(
                    str(config.kwargs.get(k))
                    for k in ("column_A", "column_B")
                    if k in config.kwargs
                )
                or ",".join(config.kwargs.get("column_list", [])),
                "unexpected_count": details.get("unexpected_count"),
                "sample": [
                    str(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
                ],
                "error": error,
            }
        )
    return outcome


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


def epoch_bounds(now_epoch: float) -> dict[str, int]:
    return {
        "min_value": EARLIEST_VALID_EPOCH,
        "max_value": int(now_epoch) + FUTURE_TOLERANCE_SECONDS,
    }


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


@dataclass(frozen=True)
class BatchSuite:
    """A GX suite over a raw table's batches not yet validated: `sql` selects the columns the
    expectations need, for the batch ids bound to `$batch_ids`."""

    name: str
    table: RawTable
    sql: str
    expectations: Callable[[dict[str, int]], Sequence[gx.expectations.Expectation]]


def gate_new_batches(
    context: dg.AssetCheckExecutionContext,
    check: tuple[dg.AssetKey, str],
    con_factory: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    suites: Sequence[BatchSuite],
) -> dg.AssetCheckResult:
    """Validate every batch no gate has passed yet (normally the one just loaded; a batch that
    failed keeps failing until its source sends corrected records) and mark them validated when
    every suite passes. The expectations get the valid epoch bounds of this moment."""
    from extract.load import mark_batches_validated, unvalidated_batch_ids

    bounds = epoch_bounds(time.time())
    with con_factory() as con:
        batches = {suite.name: unvalidated_batch_ids(con, suite.table) for suite in suites}
        frames = {
            suite.name: con.execute(suite.sql, {"batch_ids": batches[suite.name]}).df()
            for suite in suites
        }
    outcomes = [
        validate_frame(suite.name, frames[suite.name], suite.expectations(bounds))
        for suite in suites
    ]
    validated = sorted({batch for ids in batches.values() for batch in ids})
    result = check_result(outcomes, {"batches_validated": len(validated)})
    with con_factory() as con:
        record_check_results(con, run_id_of(context), [CheckRecord(*check, result)])
        if result.passed:
            mark_batches_validated(con, validated)
    return result


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
