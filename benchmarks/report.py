"""The report's size and render time: `make bench-report` (or `python -m benchmarks.report`).

Builds the report of the published file (by default the demo's `data/analytics.duckdb`, so run
`make demo` first), then opens it in headless Chromium: once in a fresh browser (cold: the
inlined bundle parsed for the first time) and a few more times in the same one. The render time
is from navigation until the page reports every chart drawn. Targets (issue 8): under 5 MB,
under 3 s.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from orchestration.report.browser import HeadlessChromium
from orchestration.report.page import build_report
from orchestration.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--analytics", type=Path, default=Settings.from_env().data_dir / "analytics.duckdb"
    )
    parser.add_argument("--loads", type=int, default=5, help="warm loads after the cold one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wabi-bench-report-") as scratch:
        page = Path(scratch) / "report.html"
        started = time.perf_counter()
        summary = build_report(args.analytics, page)
        build_seconds = time.perf_counter() - started
        with HeadlessChromium() as browser:
            cold = browser.open(page)
            warm = [browser.open(page).render_seconds for _ in range(args.loads)]
            charts = browser.evaluate("document.querySelectorAll('.chart svg.marks').length")
    print(f"report of {args.analytics} ({summary.period}): {summary.charts} charts, {charts} drawn")
    print(f"size     {summary.size_bytes / 1e6:.2f} MB ({summary.size_bytes:,} bytes; limit 5 MB)")
    print(
        f"build    {build_seconds:.2f} s (queries, specs, page; the bundle read once per process)"
    )
    print(
        f"render   cold {cold.render_seconds:.2f} s, warm median {statistics.median(warm):.2f} s "
        f"over {len(warm)} loads (limit 3 s)"
    )
    print(
        f"console errors {len(cold.console_errors)}, requests leaving the file "
        f"{len(cold.requests_leaving_the_file)}"
    )


if __name__ == "__main__":
    main()
