"""dbt models as Dagster assets (dbt tests become asset checks), and the Great Expectations gate
on the marts that publishing waits for."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from extract import respondio, whatsapp_cloud
from extract.captures import ensure_capture_tables
from extract.load import RAW_SCHEMA, ensure_raw_table
from orchestration.defs.gates import (
    CheckRecord,
    check_result,
    record_check_results,
    run_id_of,
    validate_frame,
)
from orchestration.defs.resources import ReportingResource, WarehouseResource
from orchestration.project import wabi_dbt_project
from orchestration.settings import checked_timezone

OWNERS = ["team:analytics-engineering"]
MARTS_SCHEMA = "marts"
# The dbt source of the records the loaders kept aside (`raw.quarantined_records`,
# `raw.rejected_records`): every raw asset writes to it, so it is no asset of its own, and the
# models reading it depend on none (the dbt step runs after the run's raw assets anyway).
KEPT_ASIDE_SOURCE = "load_issues"


class WabiDbtTranslator(DagsterDbtTranslator):
    """Models keep their name as key and take their folder (staging, intermediate, marts) as
    group; sources take the raw asset's key from `meta.dagster.asset_key`, except
    `KEPT_ASIDE_SOURCE`'s, which models do not depend on."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] != "model":
            return spec
        return spec.replace_attributes(
            key=dg.AssetKey(props["name"]),
            group_name=props["fqn"][1],
            owners=OWNERS,
            deps=[dep for dep in spec.deps if dep.asset_key.path[0] != KEPT_ASIDE_SOURCE],
        )


# A scheduled build leaves out dbt's unit tests, as dbt advises for production: they check the
# models' logic on fixed inputs, not the data, and `make test` runs them (every `dbt build` of the
# test suite includes them).
BUILD_COMMAND = ("build", "--exclude-resource-type", "unit_test")


def dbt_vars(reporting: ReportingResource) -> dict[str, object]:
    return {
        # Checked here too: a run launched by Dagster reads WABI_TIMEZONE without the CLI.
        "reporting_timezone": checked_timezone(reporting.timezone),
        "business_hours": json.loads(reporting.business_hours),
    }


class DbtBuildConfig(dg.Config):
    """How a run builds the dbt models."""

    full_refresh: bool = Field(
        default=False,
        description=(
            "Rebuild the incremental models from all of raw (`dbt build --full-refresh`) instead "
            "of from the rows loaded since their last build: needed after a change to an "
            "incremental model's columns or logic."
        ),
    )


@dbt_assets(
    manifest=wabi_dbt_project.manifest_path,
    project=wabi_dbt_project,
    dagster_dbt_translator=WabiDbtTranslator(),
)
def wabi_dbt_models(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: DbtCliResource,
    reporting: ReportingResource,
    warehouse: WarehouseResource,
) -> Iterator[Any]:
    """`dbt build`: every model, then its tests; a failing test stops what depends on it."""
    ensure_source_tables(warehouse)
    arguments = [*BUILD_COMMAND, "--vars", json.dumps(dbt_vars(reporting))]
    if config.full_refresh:
        arguments.append("--full-refresh")
    tests: list[CheckRecord] = []
    try:
        for event in dbt.cli(arguments, context=context).stream():
            if isinstance(event, dg.AssetCheckResult) and event.asset_key and event.check_name:
                tests.append(CheckRecord(event.asset_key, event.check_name, event))
            yield event
    finally:
        with warehouse.connect() as con:
            record_check_results(con, run_id_of(context), tests)


# Every message the raw layer knows, counted once across sources by the contract's identity (a
# WhatsApp message is its wamid, whoever reported it), written apart from the dbt models on
# purpose: the check reconciles them with raw, it does not reuse them.
MESSAGES_DAILY_TOTALS_SQL = f"""
    with raw_message_ids as (
        select
            case
                when json_extract_string(record, '$.channelMessageId') like 'wamid.%'
                    then json_extract_string(record, '$.channelMessageId')
                else 'respondio:' || _record_id
            end as message_id
        from {respondio.MESSAGES.qualified}
        union
        select _record_id from {whatsapp_cloud.MESSAGES.qualified}
        union
        select json_extract_string(record, '$.id') from {whatsapp_cloud.STATUSES.qualified}
    )
    select
        (select coalesce(sum(received + sent), 0) from {MARTS_SCHEMA}.rpt_messages_daily)
            as mart_messages,
        (select count(*) from raw_message_ids) as raw_messages
"""


def ensure_source_tables(warehouse: WarehouseResource) -> None:
    """Create every raw table dbt declares as a source, empty if its source is not configured
    here (a deployment may read respond.io's API, the webhook captures, or both). The tables of
    records kept aside, `KEPT_ASIDE_SOURCE`, come with any raw table (`ensure_raw_schema`)."""
    with warehouse.connect() as con:
        for table in respondio.API_TABLES:
            ensure_raw_table(con, table)
        ensure_capture_tables(con)


@dg.asset_check(
    asset=dg.AssetKey("rpt_messages_daily"),
    name="messages_daily_consistent",
    blocking=True,
    description=(
        "Great Expectations on the published report: one row per day and channel, "
        "sent >= delivered >= read, failed <= sent, rates within 0..1, and every raw message "
        "counted once (received + sent equals the raw message count)."
    ),
)
def messages_daily_consistent(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    with warehouse.connect(read_only=True) as con:
        report = con.execute(f"select * from {MARTS_SCHEMA}.rpt_messages_daily").df()
        totals = con.execute(MESSAGES_DAILY_TOTALS_SQL).df()
    rates = ("delivery_rate", "read_rate", "failure_rate")
    outcomes = [
        validate_frame(
            "rpt_messages_daily",
            report,
            [
                gxe.ExpectColumnValuesToNotBeNull(column="report_date"),
                gxe.ExpectColumnValuesToNotBeNull(column="channel_id"),
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["report_date", "channel_id"]),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="sent", column_B="delivered", or_equal=True
                ),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="delivered", column_B="read", or_equal=True
                ),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="sent", column_B="failed", or_equal=True
                ),
                *(
                    gxe.ExpectColumnValuesToBeBetween(column=rate, min_value=0, max_value=1)
                    for rate in rates
                ),
            ],
        ),
        validate_frame(
            "messages_reconcile_with_raw",
            totals,
            [
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="mart_messages", column_B="raw_messages"
                ),
            ],
        ),
    ]
    result = check_result(outcomes, {"raw_schema": RAW_SCHEMA})
    with warehouse.connect() as con:
        record = CheckRecord(dg.AssetKey("rpt_messages_daily"), "messages_daily_consistent", result)
        record_check_results(con, run_id_of(context), [record])
    return result
