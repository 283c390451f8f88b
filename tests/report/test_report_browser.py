"""The report in a real browser: Debian's headless Chromium opens the file offline, every chart
renders, nothing is logged as an error, no request leaves the file, and the Overview shows the
marts' figures for the period."""

import re
from datetime import date, timedelta

import pytest

from orchestration.cli import main
from orchestration.report.browser import HeadlessChromium, find_chromium
from orchestration.report.page import REPORT_FILE
from tests.report.overview import expected_overview, last_report_date

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)",
)
# Not the benchmark (`make bench-report`): only a bound no healthy render comes near.
RENDER_SANITY_SECONDS = 30
TILES_JS = """Array.from(document.querySelectorAll('.tile')).map(tile => [
    tile.dataset.metric,
    tile.querySelector('.value').textContent.trim(),
    tile.querySelector('.change').textContent.trim(),
])"""
CHARTS_JS = """({
    containers: document.querySelectorAll('.chart').length,
    drawn: document.querySelectorAll('.chart svg.marks').length,
    report: window.wabiReport,
})"""


@pytest.fixture(scope="module")
def browser():
    with HeadlessChromium() as chromium:
        yield chromium


def test_every_chart_renders_offline_without_an_error(built_pipeline, browser):
    visit = browser.open(built_pipeline.data_dir / REPORT_FILE)

    charts = browser.evaluate(CHARTS_JS)
    assert charts["containers"] > 15
    assert charts["drawn"] == charts["containers"] == charts["report"]["charts"]
    assert charts["report"]["failed"] == 0
    assert visit.console_errors == []
    assert visit.requested_urls == [visit.url]
    assert visit.requests_leaving_the_file == []
    assert visit.render_seconds < RENDER_SANITY_SECONDS


@pytest.mark.parametrize(
    ("arguments", "channel"),
    [
        ([], None),  # the Dagster asset's page: the last 28 days of data
        (["--from", "2026-03-23", "--to", "2026-03-29"], None),
        (["--from", "2026-03-23", "--to", "2026-03-29", "--channel", "100001"], "100001"),
    ],
    ids=["default-period", "a-week-after-a-week", "one-channel"],
)
def test_the_overview_shows_the_marts_figures_for_the_period(
    built_pipeline, browser, tmp_path, arguments, channel
):
    page = built_pipeline.data_dir / REPORT_FILE
    if arguments:
        page = tmp_path / "report.html"
        assert (
            main(
                [
                    "report",
                    "--data-dir",
                    str(built_pipeline.data_dir),
                    "--out",
                    str(page),
                    *arguments,
                ]
            )
            == 0
        )
        start, end = date.fromisoformat(arguments[1]), date.fromisoformat(arguments[3])
    else:
        end = last_report_date(built_pipeline.analytics_path)
        start = end - timedelta(days=27)
    expected = expected_overview(built_pipeline.analytics_path, start, end, channel)

    browser.open(page)
    shown = {metric: (value, change) for metric, value, change in browser.evaluate(TILES_JS)}

    assert shown == expected
    assert int(shown["sent"][0].replace(",", "")) > 0
    if arguments:  # a week after a week of data: every count is compared
        assert all("vs previous period" in change for _, change in shown.values())


def test_the_browser_check_sees_errors_requests_and_failed_charts(
    built_pipeline, browser, tmp_path
):
    """The checks above can fail: an error, a request to another host, a chart that breaks."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        '<img src="https://cdn.example.com/logo.png">'
        "<script>console.error('broken'); window.wabiReport = {done: true};</script>"
    )
    visit = browser.open(leaky)
    assert visit.requests_leaving_the_file == ["https://cdn.example.com/logo.png"]
    assert "broken" in visit.console_errors

    broken = tmp_path / "broken.html"
    html = (built_pipeline.data_dir / REPORT_FILE).read_text()
    broken.write_text(re.sub(r'"mark":\{"type":"line"', '"mark":{"type":"nonsense"', html, count=1))
    visit = browser.open(broken)
    charts = browser.evaluate(CHARTS_JS)
    assert charts["report"]["failed"] == 1
    assert charts["drawn"] == charts["containers"] - 1
    assert any("chart failed" in error for error in visit.console_errors)
    assert visit.requests_leaving_the_file == []
