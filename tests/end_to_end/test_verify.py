"""`wabi verify` finds every figure the published marts get wrong, and only those."""

import subprocess
import sys
from pathlib import Path

import duckdb

from orchestration.verify import verify


def test_the_published_marts_equal_the_oracle(built_pipeline):
    results = verify(built_pipeline.analytics_path, built_pipeline.workspace_dir)
    assert len(results) == 10
    assert {table: [str(m) for m in found] for table, found in results.items() if found} == {}


def test_a_changed_figure_and_a_lost_row_are_named_and_fail_the_command(pipeline_copy):
    with duckdb.connect(str(pipeline_copy.analytics_path)) as con:
        (day, channel, read), (lost_day, lost_channel, _) = con.execute(
            "select report_date, channel_id, read from rpt_messages_daily "
            "where read > 0 order by all limit 2"
        ).fetchall()
        con.execute(
            "update rpt_messages_daily set read = read + 1 "
            "where report_date = ? and channel_id = ?",
            [day, channel],
        )
        con.execute(
            "delete from rpt_messages_daily where report_date = ? and channel_id = ?",
            [lost_day, lost_channel],
        )

    results = verify(pipeline_copy.analytics_path, pipeline_copy.workspace_dir)

    assert [str(m) for m in results["rpt_messages_daily"]] == [
        f"rpt_messages_daily [report_date={day}, channel_id={channel}] read: "
        f"expected {read}, got {read + 1}",
        f"rpt_messages_daily [report_date={lost_day}, channel_id={lost_channel}] *: "
        "expected a row, got no row",
    ]
    command = subprocess.run(
        [
            str(Path(sys.prefix) / "bin" / "wabi"),
            "verify",
            "--data-dir",
            str(pipeline_copy.data_dir),
            "--workspace",
            str(pipeline_copy.workspace_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert command.returncode == 1
    assert "MISMATCH  rpt_messages_daily: 2" in command.stdout
    assert f"read: expected {read}, got {read + 1}" in command.stdout
