"""The whole pipeline in a reporting time zone other than UTC, one of them across a DST change:
every published table equals the oracle computed for that zone and its business hours."""

from datetime import date

import pytest

from orchestration.verify import verify
from simulator.generate import generate
from simulator.model import WorkspaceSpec
from tests.conftest import refresh_from

SPECS = {
    # a half-hour offset: report dates and hours move by 5:30
    "Asia/Kolkata": WorkspaceSpec(
        seed=31, contacts=80, agents=4, days=10, messages_per_day=80, timezone="Asia/Kolkata"
    ),
    # clocks go back on 2026-11-01: a 25-hour day inside the period
    "America/New_York": WorkspaceSpec(
        seed=37,
        contacts=80,
        agents=4,
        days=10,
        messages_per_day=80,
        start=date(2026, 10, 27),
        timezone="America/New_York",
    ),
}


@pytest.mark.parametrize("timezone", SPECS)
def test_every_published_table_equals_the_oracle_in_the_reporting_zone(tmp_path, timezone):
    workspace, data_dir = tmp_path / "workspace", tmp_path / "data"
    generate(SPECS[timezone], workspace)

    refresh_from(workspace, data_dir, timezone=timezone)

    results = verify(data_dir / "analytics.duckdb", workspace)
    assert len(results) == 10
    assert {table: [str(m) for m in found][:5] for table, found in results.items() if found} == {}
