"""`wabi report` and the Dagster `report` asset on the shared pipeline's published file."""

import json
import re
import shutil
from datetime import date, timedelta
from html.parser import HTMLParser

import dagster as dg
import duckdb
import pytest

from orchestration.cli import main
from orchestration.definitions import defs
from orchestration.report.page import REPORT_FILE
from tests.report.overview import last_report_date

FIVE_MB = 5 * 1024 * 1024
STATUSES, MESSAGES = "raw.whatsapp_cloud__statuses", "raw.respondio__messages"
MILLISECONDS = "timestamp: in milliseconds"


class _References(HTMLParser):
    """Whatever in the markup would make a browser fetch something: src and href attributes
    (script bodies are not markup, so strings inside the inlined bundle do not count), and
    @import or url() in style sheets."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.found += [
            f"<{tag} {name}={value}>" for name, value in attrs if name in ("src", "href")
        ]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += re.findall(r"@import[^;]*|url\([^)]*\)", data)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


def _specs(page) -> dict:
    html = page.read_text()
    found = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', html)
    return json.loads(found.group(1))


def test_the_report_asset_follows_publish_in_the_publish_group():
    graph = defs.resolve_asset_graph()
    report = graph.get(dg.AssetKey("report"))
    assert report.parent_keys == {dg.AssetKey("publish")}
    assert report.group_name == "publish"
    job = defs.resolve_job_def("daily_refresh_job")
    assert dg.AssetKey("report") in job.asset_layer.executable_asset_keys


def test_the_refresh_materialised_the_report_after_publishing(built_pipeline):
    page = built_pipeline.data_dir / REPORT_FILE
    assert page.exists()
    assert page.stat().st_mtime >= built_pipeline.analytics_path.stat().st_mtime
    with dg.DagsterInstance.from_config(str(built_pipeline.data_dir / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("report"))
    metadata = event.asset_materialization.metadata
    assert metadata["path"].value == str(page)
    assert metadata["charts"].value == len(_specs(page)) > 15


def test_the_page_is_one_self_contained_file_under_5_mb(built_pipeline):
    page = built_pipeline.data_dir / REPORT_FILE
    html = page.read_text()
    assert page.stat().st_size < FIVE_MB
    assert _references(html) == []
    assert "vegaEmbed" in html  # the charting library is inlined, not fetched


def test_the_reference_check_catches_a_cdn_script_and_a_web_font():
    assert _references(
        '<script src="https://cdn.jsdelivr.net/npm/vega@6"></script>'
        "<style>body { color: red } @import url(//fonts.example.com/a.css);</style>"
    ) == [
        "<script src=https://cdn.jsdelivr.net/npm/vega@6>",
        "@import url(//fonts.example.com/a.css)",
    ]


def test_period_and_channel_cut_every_chart(built_pipeline, tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(
        [
            "report",
            "--data-dir",
            str(built_pipeline.data_dir),
            "--from",
            "2026-03-23",
            "--to",
            "2026-03-25",
            "--channel",
            "100001",
            "--out",
            str(out),
        ]
    )

    assert code == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    specs = _specs(out)
    messages = specs["messages-per-channel"]["data"]["values"]
    assert {row["channel_name"] for row in messages} == {"WhatsApp Sales"}
    dated = [row for spec in specs.values() for row in spec.get("data", {}).get("values", [])]
    days = {row["report_date"] for row in dated if "report_date" in row}
    assert days == {"2026-03-23", "2026-03-24", "2026-03-25"}
    assert "compared with 2026-03-20 to 2026-03-22" in out.read_text()


def _empty_copy(analytics_path, empty_path) -> None:
    """The published file's tables with no rows: a warehouse that has not seen a message."""
    with duckdb.connect(str(empty_path)) as con:
        con.execute(f"attach '{analytics_path}' as published (read_only)")
        tables = con.execute(
            "select table_name from duckdb_tables() where database_name = 'published'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f"create table {table} as select * from published.{table} limit 0")


def test_an_empty_warehouse_gives_a_page_that_says_so(built_pipeline, tmp_path, capsys):
    _empty_copy(built_pipeline.analytics_path, tmp_path / "analytics.duckdb")

    code = main(["report", "--data-dir", str(tmp_path)])

    assert code == 0
    assert "no data yet" in capsys.readouterr().out
    html = (tmp_path / REPORT_FILE).read_text()
    assert 'id="empty-warehouse"' in html
    assert "No messages yet" in html
    assert _kept_aside_line(tmp_path / REPORT_FILE) == "0 records quarantined, 0 rejected so far."
    assert _specs(tmp_path / REPORT_FILE) == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "analytics.duckdb does not exist: run `wabi demo` or `wabi refresh` first"),
        (["--channel", "999"], "no channel 999 in dim_channels; channels: 100001 (WhatsApp Sales)"),
        (["--from", "2026-03-25", "--to", "2026-03-20"], "the period starts (2026-03-25) after"),
    ],
)
def test_what_cannot_be_reported_is_said_in_one_line(
    built_pipeline, tmp_path, capsys, arguments, message
):
    data_dir = built_pipeline.data_dir if arguments else tmp_path
    out = tmp_path / "never.html"

    code = main(["report", "--data-dir", str(data_dir), "--out", str(out), *arguments])

    error = capsys.readouterr().err
    assert code == 2
    assert message in error
    assert error.count("\n") == 1
    assert not out.exists()


def test_the_period_defaults_to_the_last_28_days_of_data(built_pipeline):
    html = (built_pipeline.data_dir / REPORT_FILE).read_text()
    # The tiny workspace runs 14 days from 2026-03-16: the 28 days end on its last day.
    assert 'data-period-start="2026-03-02" data-period-end="2026-03-29"' in html


def _kept_aside_line(page) -> str:
    found = re.search(r'<p class="context" id="kept-aside"[^>]*>(.*?)</p>', page.read_text(), re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def _with_load_issues(analytics_path, copy_path, rows) -> None:
    """A copy of the published file whose rpt_load_issues_daily holds exactly `rows`."""
    shutil.copyfile(analytics_path, copy_path)
    with duckdb.connect(str(copy_path)) as con:
        con.execute("delete from rpt_load_issues_daily")
        for row in rows:
            con.execute("insert into rpt_load_issues_daily values (?, ?, ?, ?, ?, ?)", row)


def test_the_page_counts_the_records_kept_aside_in_the_period(built_pipeline, tmp_path):
    _with_load_issues(
        built_pipeline.analytics_path,
        tmp_path / "analytics.duckdb",
        [
            (date(2026, 3, 22), "quarantined", "whatsapp_cloud", STATUSES, MILLISECONDS, 5),
            (date(2026, 3, 23), "quarantined", "whatsapp_cloud", STATUSES, MILLISECONDS, 2),
            (date(2026, 3, 25), "quarantined", "respondio", MESSAGES, MILLISECONDS, 1_200),
            (date(2026, 3, 25), "rejected", "captures", None, "invalid JSON", 1),
            (date(2026, 3, 26), "rejected", "captures", None, "invalid JSON", 7),
        ],
    )

    code = main(
        ["report", "--data-dir", str(tmp_path), "--from", "2026-03-23", "--to", "2026-03-25"]
    )

    assert code == 0
    page = tmp_path / REPORT_FILE
    assert _kept_aside_line(page) == (
        "1,202 records quarantined, 1 rejected in this period (by the day they were loaded; "
        "1,207 and 8 in all). All channels; wabi rejects, on the machine that runs the refresh, "
        "lists them."
    )
    assert 'data-quarantined="1202"' in page.read_text()


def test_nothing_kept_aside_shows_as_zero(built_pipeline, tmp_path):
    _with_load_issues(built_pipeline.analytics_path, tmp_path / "analytics.duckdb", [])

    assert main(["report", "--data-dir", str(tmp_path)]) == 0

    assert _kept_aside_line(tmp_path / REPORT_FILE) == (
        "0 records quarantined, 0 rejected in this period (by the day they were loaded)."
    )


def test_the_refreshs_page_counts_what_its_loads_kept_aside(built_pipeline):
    """The shared pipeline reads captures with torn lines: they are rejected, and counted. Its
    loads ran today, after the simulated messages' period: the page gives the totals too."""
    end = last_report_date(built_pipeline.analytics_path)
    start = end - timedelta(days=27)
    with duckdb.connect(str(built_pipeline.analytics_path), read_only=True) as con:
        rows = con.execute(
            "select report_date, kind, records from rpt_load_issues_daily"
        ).fetchall()
    in_all = {
        kind: sum(n for _, of, n in rows if of == kind) for kind in ("quarantined", "rejected")
    }
    shown = {
        kind: sum(n for day, of, n in rows if of == kind and start <= day <= end)
        for kind in ("quarantined", "rejected")
    }
    assert in_all["rejected"] > 0
    assert shown != in_all

    line = _kept_aside_line(built_pipeline.data_dir / REPORT_FILE)

    noun = "record" if shown["quarantined"] == 1 else "records"
    assert line.startswith(
        f"{shown['quarantined']:,} {noun} quarantined, {shown['rejected']:,} rejected in this "
        f"period (by the day they were loaded; {in_all['quarantined']:,} and "
        f"{in_all['rejected']:,} in all). All channels; wabi rejects"
    )


def test_a_page_with_no_messages_still_counts_what_was_kept_aside(built_pipeline, tmp_path):
    """Every record kept aside, none loaded: the page must not just say there is nothing."""
    _empty_copy(built_pipeline.analytics_path, tmp_path / "analytics.duckdb")
    with duckdb.connect(str(tmp_path / "analytics.duckdb")) as con:
        con.execute(
            "insert into rpt_load_issues_daily values "
            f"('2026-03-20', 'quarantined', 'whatsapp_cloud', '{STATUSES}', '{MILLISECONDS}', 1)"
        )

    assert main(["report", "--data-dir", str(tmp_path)]) == 0

    html = (tmp_path / REPORT_FILE).read_text()
    assert "No messages yet" in html
    assert _kept_aside_line(tmp_path / REPORT_FILE).startswith(
        "1 record quarantined, 0 rejected so far. All channels; wabi rejects"
    )
