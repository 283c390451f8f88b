"""`wabi docs`: dbt's documentation site (lineage graph, every model's and column's definition),
built with the vars the refresh gives dbt and served from the data directory on loopback."""

import functools
import json
import subprocess
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orchestration.project import DBT_PROJECT_DIR, dbt_executable, prepare_manifest
from orchestration.settings import DEFAULT_BUSINESS_HOURS, Settings

DOCS_DIR = "dbt_docs"  # under the data directory: dbt_project/target stays Dagster's


def generate_docs(settings: Settings) -> Path:
    """Run `dbt docs generate` against the warehouse; return the site's directory."""
    prepare_manifest()  # the Definitions' dbt module below needs it
    # The dbt asset's own vars, so the site documents the models as the refresh builds them.
    from orchestration.defs.dbt import dbt_vars
    from orchestration.defs.resources import ReportingResource

    settings.export()
    reporting = ReportingResource(
        timezone=settings.timezone,
        business_hours=settings.business_hours or DEFAULT_BUSINESS_HOURS,
    )
    target = settings.data_dir / DOCS_DIR
    subprocess.run(
        [
            dbt_executable(),
            "--quiet",
            "docs",
            "generate",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(settings.data_dir / "logs"),
            "--vars",
            json.dumps(dbt_vars(reporting)),
        ],
        check=True,
        cwd=DBT_PROJECT_DIR,
    )
    return target


def serve_docs(site: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server of `site` on 127.0.0.1:`port` (0 picks a free port); not yet serving."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)
