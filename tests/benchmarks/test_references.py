"""The benchmark's two references (benchmarks/reference.sql and benchmarks/reference_pandas.py)
compute rpt_messages_daily, rpt_conversations_daily and rpt_user_performance_daily from the raw
tables alone: at small scale each must equal the dbt marts, every row and column. On the shared
pipeline (both sources, light faults, UTC) and on a warehouse reporting in New York across the
end of daylight saving time; and the comparison itself must catch a changed cell or a lost row.
"""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.reference import (
    REPORT_KEYS,
    ReferenceVars,
    differences,
    read_marts,
    run_sql_reference,
)
from benchmarks.reference_pandas import run_pandas_reference
from extract.pii import load_key
from simulator.model import WorkspaceSpec
from simulator.warehouse import Workspace
from tests.dbt_project.warehouse import KEY, build_warehouse

REFERENCES = {"sql": run_sql_reference, "pandas": run_pandas_reference}
NEW_YORK = "America/New_York"
# clocks go back on 2026-11-01 inside the period: a 25-hour day
NEW_YORK_SPEC = WorkspaceSpec(
    seed=41, contacts=70, agents=4, days=9, messages_per_day=70, start=date(2026, 10, 28)
)


@pytest.fixture(scope="module")
def new_york_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("references_new_york")
    workspace = Workspace.generate(NEW_YORK_SPEC, root / "workspace")
    return build_warehouse(workspace, root / "data", timezone=NEW_YORK).path


def _assert_equal(marts: dict[str, pd.DataFrame], reports: dict[str, pd.DataFrame]) -> None:
    assert all(len(marts[report]) > 0 for report in REPORT_KEYS)
    found = {report: differences(report, marts[report], reports[report]) for report in marts}
    assert {report: lines[:10] for report, lines in found.items() if lines} == {}


@pytest.mark.parametrize("reference", REFERENCES)
def test_reference_equals_the_marts_of_the_shared_pipeline(built_pipeline, reference):
    variables = ReferenceVars.for_timezone("UTC", load_key(built_pipeline.data_dir))

    reports = REFERENCES[reference](built_pipeline.warehouse_path, variables)

    _assert_equal(read_marts(built_pipeline.warehouse_path), reports)


@pytest.mark.parametrize("reference", REFERENCES)
def test_reference_equals_the_marts_in_new_york_across_the_dst_change(
    new_york_warehouse, reference
):
    variables = ReferenceVars.for_timezone(NEW_YORK, KEY)

    reports = REFERENCES[reference](new_york_warehouse, variables)

    _assert_equal(read_marts(new_york_warehouse), reports)


def test_a_reference_in_another_time_zone_differs_from_the_marts(new_york_warehouse):
    """Report dates move with the zone: the comparison sees it (the references read the var)."""
    variables = ReferenceVars.for_timezone("UTC", KEY)

    reports = run_sql_reference(new_york_warehouse, variables)

    marts = read_marts(new_york_warehouse)
    assert differences(
        "rpt_messages_daily", marts["rpt_messages_daily"], reports["rpt_messages_daily"]
    )


def test_the_comparison_catches_a_changed_cell_and_a_lost_row(built_pipeline):
    mart = read_marts(built_pipeline.warehouse_path)["rpt_conversations_daily"]
    changed = mart.copy()
    changed.loc[changed.index[3], "first_response_seconds_median"] = 1.5
    changed.loc[changed.index[4], "opened"] += 1
    lost = mart.drop(index=mart.index[5])

    assert differences("rpt_conversations_daily", mart, mart.copy()) == []
    found = differences("rpt_conversations_daily", mart, changed)
    assert len(found) == 2
    assert "first_response_seconds_median" in found[0] + found[1]
    assert "opened: mart" in found[0] + found[1]
    assert differences("rpt_conversations_daily", mart, lost) == [
        f"rpt_conversations_daily: only in the mart: "
        f"{(mart.loc[mart.index[5], 'report_date'].date(), mart.loc[mart.index[5], 'channel_id'])}"
    ]
