"""One way to build a test warehouse: generate a simulated workspace, load its raw tables as a
deployment does (`simulator.warehouse.load_raw`), run the real `dbt build` on it in a subprocess,
and read the tables back.

Each build gets its own target and log paths under the warehouse's data directory, and the
environment dbt sees is this process's without any `WABI_*` variable, plus the warehouse path
and the tests' phone-number key. A `dbt build` costs about 20 s: modules build once per
warehouse, in fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.pii import KEY_VARIABLE, PiiKey
from orchestration.project import DBT_PROJECT_DIR, dbt_executable
from simulator.warehouse import Warehouse, Workspace, load_raw, new_warehouse

# The phone-number key of every test build (WABI_PII_KEY): 32 bytes or more, as required.
KEY = PiiKey.from_text("wabi-test-key-0123456789abcdef0123456789", KEY_VARIABLE)
DBT_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class DbtRun:
    """One finished `dbt build`: what it printed and where it wrote."""

    stdout: str
    target_path: Path
    log_path: Path

    def run_results(self) -> dict[str, Any]:
        return json.loads((self.target_path / "run_results.json").read_text())

    def execution_seconds(self) -> dict[str, float]:
        """Each node's execution time, by unique id."""
        return {
            result["unique_id"]: result["execution_time"]
            for result in self.run_results()["results"]
        }

    def log_text(self) -> str:
        """dbt's own log of the run (debug level: every statement it sent)."""
        return (self.log_path / "dbt.log").read_text(encoding="utf-8")

    def compiled_sql(self, model: str) -> str:
        """The select the run compiled for `model` (its incremental form or not)."""
        (code,) = (
            result["compiled_code"]
            for result in self.run_results()["results"]
            if result["unique_id"] == f"model.wabi.{model}"
        )
        return code


def build_warehouse(
    workspace: Workspace, data_dir: Path, timezone: str = "UTC", select: Sequence[str] = ()
) -> Warehouse:
    """Every raw table of both sources loaded from `workspace` at once, then one `dbt build`."""
    warehouse = new_warehouse(data_dir)
    load_raw(warehouse, workspace.api_tables(), workspace.captures_dir)
    dbt_build(warehouse, timezone=timezone, select=select)
    return warehouse


def dbt_build(
    warehouse: Warehouse,
    *,
    timezone: str = "UTC",
    select: Sequence[str] = (),
    full_refresh: bool = False,
    run_name: str = "build",
    succeed: bool = True,
) -> DbtRun:
    """`dbt build` on `warehouse` (the whole project, or `select` and its tests whose every
    parent is selected), failing the test with dbt's output if dbt does not end as `succeed`
    says. Each run name has its own target and log paths under the data directory."""
    target_path = warehouse.data_dir / "dbt" / run_name / "target"
    log_path = warehouse.data_dir / "dbt" / run_name / "logs"
    arguments = [dbt_executable(), "build"]
    if select:
        arguments += ["--select", *select, "--indirect-selection", "cautious"]
    if full_refresh:
        arguments.append("--full-refresh")
    arguments += [
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--vars",
        json.dumps({"reporting_timezone": timezone}),
    ]
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("WABI_")
    } | {"WABI_DATA_DIR": str(warehouse.data_dir), KEY_VARIABLE: KEY.secret.decode()}
    result = subprocess.run(
        arguments,
        cwd=DBT_PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DBT_TIMEOUT_SECONDS,
    )
    assert (result.returncode == 0) == succeed, result.stdout[-6000:] + result.stderr[-2000:]
    return DbtRun(stdout=result.stdout, target_path=target_path, log_path=log_path)
