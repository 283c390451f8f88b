"""Shared fixtures: a tiny simulated workspace and one real pipeline run over it.

A pipeline run costs a dbt start-up, so the built warehouse is shared by the whole session; tests
that change data work on copies of it.
"""

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from extract.pii import KEY_FILE
from orchestration.settings import Settings
from simulator.faults import FaultProfile
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec
from simulator.server import SimulatorServer

if TYPE_CHECKING:
    from orchestration.cli import RefreshOptions

TINY_SPEC = WorkspaceSpec(
    seed=11, contacts=60, agents=4, days=14, messages_per_day=60, start=date(2026, 3, 16)
)
WABI_VARIABLES = (
    "WABI_DATA_DIR",
    "WABI_TIMEZONE",
    "WABI_PLATFORM_URL",
    "WABI_PLATFORM_TOKEN",
    "WABI_WEBHOOK_DIR",
    "WABI_BUSINESS_HOURS",
    "WABI_MAX_QUARANTINE_SHARE",
    "WABI_PII_KEY",
    "WABI_PII_SALT",
)
# The shared pipeline reads both sources through light faults: 429s, 5xx, dropped connections
# and repeated records from the API, torn lines in the captures. The figures must not move.
PIPELINE_FAULTS = "light"


def pytest_configure(config: pytest.Config) -> None:
    """Build the dbt manifest before any test module imports the Definitions that need it."""
    from orchestration.project import prepare_manifest

    prepare_manifest()


@dataclass(frozen=True)
class BuiltPipeline:
    workspace_dir: Path
    data_dir: Path
    log_file: Path
    token: str

    @property
    def analytics_path(self) -> Path:
        return self.data_dir / "analytics.duckdb"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def refresh_from(
    workspace_dir: Path,
    data_dir: Path,
    timezone: str = "UTC",
    rate_limit_per_second: int = 50,
    faults: str = "none",
    token: str | None = None,
    options: "RefreshOptions | None" = None,
    pii_key: str | None = None,
) -> Path:
    """Serve `workspace_dir` on loopback and run the real refresh job into `data_dir`, reading
    the API and the workspace's webhook captures; with `pii_key` as WABI_PII_KEY, else with the
    key file the run finds or creates in `data_dir`.

    The process environment is restored afterwards, so runs in one session stay independent.
    """
    from orchestration.cli import RefreshOptions, run_refresh

    token = token or secrets.token_urlsafe(16)
    with pytest.MonkeyPatch.context() as env:
        for name in WABI_VARIABLES:
            env.delenv(name, raising=False)
        env.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
        if pii_key is not None:
            env.setenv("WABI_PII_KEY", pii_key)
        with SimulatorServer(
            workspace_dir,
            token=token,
            rate_limit_per_second=rate_limit_per_second,
            faults=FaultProfile.named(faults),
        ) as server:
            settings = Settings(
                data_dir=data_dir,
                timezone=timezone,
                platform_url=server.base_url,
                platform_token=token,
                webhook_dir=workspace_dir / CAPTURES_DIR,
            )
            return run_refresh(settings, options or RefreshOptions())


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace_dir = tmp_path_factory.mktemp("tiny_workspace")
    generate(TINY_SPEC, workspace_dir, faults=PIPELINE_FAULTS)
    return workspace_dir


@pytest.fixture(scope="session")
def built_pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_workspace: Path) -> BuiltPipeline:
    data_dir = tmp_path_factory.mktemp("data")
    token = secrets.token_urlsafe(16)
    log_file = refresh_from(tiny_workspace, data_dir, faults=PIPELINE_FAULTS, token=token)
    return BuiltPipeline(
        workspace_dir=tiny_workspace, data_dir=data_dir, log_file=log_file, token=token
    )


@pytest.fixture
def pipeline_copy(built_pipeline: BuiltPipeline, tmp_path: Path) -> Iterator[BuiltPipeline]:
    """A private copy of the built workspace and data directory, free to be changed."""
    workspace_dir = tmp_path / "workspace"
    data_dir = tmp_path / "data"
    shutil.copytree(built_pipeline.workspace_dir, workspace_dir)
    data_dir.mkdir()
    # with its phone-number key: a run of the copy hashes numbers as the built one did
    for name in ("warehouse.duckdb", "analytics.duckdb", KEY_FILE):
        shutil.copy2(built_pipeline.data_dir / name, data_dir / name)
    return BuiltPipeline(
        workspace_dir=workspace_dir,
        data_dir=data_dir,
        log_file=built_pipeline.log_file,
        token=built_pipeline.token,
    )
