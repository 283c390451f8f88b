"""A dbt-duckdb plugin (profiles.yml `plugins:`) that gives every connection dbt opens the
phone-number hash `wabi_phone_hash(number)` (extract/pii.py).

The key is read here, in dbt's process, from `WABI_PII_KEY` or the key file in the data
directory (created when missing, as a first run does), and lives only in the connections'
memory: it is in no profile, var, compiled model, artefact or log dbt writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from extract import pii


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # Read on the first connection, not here: `dbt parse` builds the plugin but opens none.
        self._data_dir = Path(plugin_config["data_dir"])
        self._key: pii.PiiKey | None = None

    def _pii_key(self) -> pii.PiiKey:
        if self._key is None:
            self._key = pii.load_key(self._data_dir, create=True)
        return self._key

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        pii.create_hash_function(conn, self._pii_key())

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        # dbt runs every statement on a cursor: a connection of its own, without the parent's
        # temp macros.
        pii.create_hash_function(cursor, self._pii_key())
