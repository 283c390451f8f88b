"""The report page (`report.html`), redrawn from analytics.duckdb after every publish, so the
daily schedule refreshes it with the marts."""

import dagster as dg

from orchestration.defs.resources import ReportingResource, WarehouseResource
from orchestration.report.page import REPORT_FILE, build_report


@dg.asset(
    deps=[dg.AssetKey("publish")],
    group_name="publish",
    owners=["team:data-platform"],
    kinds={"html"},
    description=(
        "report.html: one self-contained page of the published marts (respond.io's Reports tabs "
        "and the WhatsApp Business app's numbers) over the last 28 days of data, opened offline."
    ),
)
def report(warehouse: WarehouseResource, reporting: ReportingResource) -> dg.MaterializeResult:
    out = warehouse.analytics_path.with_name(REPORT_FILE)
    summary = build_report(warehouse.analytics_path, out, timezone=reporting.timezone)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(summary.path)),
            "bytes": summary.size_bytes,
            "period": str(summary.period) if summary.period else "no data yet",
            "charts": summary.charts,
        }
    )
