"""Resources by role, configured from the environment through `EnvVar`."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from extract.http import BearerSession
from extract.load import warehouse_config
from extract.respondio import RespondioClient
from orchestration import refresh_lock
from orchestration.project import dbt_executable, wabi_dbt_project


class WarehouseResource(dg.ConfigurableResource):
    """The working warehouse (`warehouse.duckdb`) and the published file (`analytics.duckdb`)."""

    data_dir: str

    @property
    def warehouse_path(self) -> Path:
        return Path(self.data_dir) / "warehouse.duckdb"

    @property
    def analytics_path(self) -> Path:
        return Path(self.data_dir) / "analytics.duckdb"

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every run holds the data directory's refresh lock (once per run with the in-process
        # executor): a run launched by the schedule or a sensor never writes beside `wabi refresh`.
        refresh_lock.acquire(Path(self.data_dir))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        refresh_lock.release(Path(self.data_dir))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(
            str(self.warehouse_path), read_only=read_only, config=warehouse_config()
        )
        try:
            yield con
        finally:
            con.close()


class ReportingResource(dg.ConfigurableResource):
    """How reports are cut: the IANA time zone of every report date, and the business hours
    (JSON, per ISO weekday) that business seconds count."""

    timezone: str = "UTC"
    business_hours: str


class RespondioApiResource(dg.ConfigurableResource):
    """respond.io Developer API v2 (or the simulator serving the same API)."""

    base_url: str
    token: str
    concurrency: int = 4

    @contextmanager
    def client(self) -> Iterator[RespondioClient]:
        session = BearerSession(self.base_url, self.token, pool_size=self.concurrency * 2)
        try:
            yield RespondioClient(session, concurrency=self.concurrency)
        finally:
            session.close()


class WebhookCapturesResource(dg.ConfigurableResource):
    """The directory webhook receivers write their capture files to (sub-directories too)."""

    directory: str

    @property
    def path(self) -> Path:
        return Path(self.directory)


def build_resources() -> dict[str, object]:
    return {
        "warehouse": WarehouseResource(data_dir=dg.EnvVar("WABI_DATA_DIR")),
        "reporting": ReportingResource(
            timezone=dg.EnvVar("WABI_TIMEZONE"), business_hours=dg.EnvVar("WABI_BUSINESS_HOURS")
        ),
        "respondio_api": RespondioApiResource(
            base_url=dg.EnvVar("WABI_PLATFORM_URL"), token=dg.EnvVar("WABI_PLATFORM_TOKEN")
        ),
        "webhooks": WebhookCapturesResource(directory=dg.EnvVar("WABI_WEBHOOK_DIR")),
        "dbt": DbtCliResource(project_dir=wabi_dbt_project, dbt_executable=dbt_executable()),
    }
