"""The whole pipeline, for real: simulator over HTTP -> raw -> dbt -> gates -> analytics.duckdb."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from simulator.oracle import MESSAGES_DAILY_COLUMNS, read_expected
from tests.conftest import PIPELINE_FAULTS, refresh_from
from tests.end_to_end.contract import CONTRACT, DUCKDB_TYPES

# Every table of the contract (tests/end_to_end/contract.py), and nothing else.
CONTRACT_TABLES = set(CONTRACT)


def _published(path, sql):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _published_warehouse(pipeline, sql):
    with duckdb.connect(str(pipeline.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _messages_daily(path):
    columns = ", ".join(MESSAGES_DAILY_COLUMNS)
    rows = _published(path, f"select report_date, channel_id, {columns} from rpt_messages_daily")
    return {(str(r[0]), r[1]): tuple(r[2:]) for r in rows}


def test_published_messages_daily_equals_the_simulators_oracle(built_pipeline):
    expected = {
        (row["report_date"], row["channel_id"]): tuple(int(row[c]) for c in MESSAGES_DAILY_COLUMNS)
        for row in read_expected(built_pipeline.workspace_dir, "rpt_messages_daily")
    }
    actual = _messages_daily(built_pipeline.analytics_path)

    assert len(expected) > 20
    mismatches = {
        k: (expected.get(k), actual.get(k))
        for k in expected.keys() | actual.keys()
        if expected.get(k) != actual.get(k)
    }
    assert mismatches == {}


def test_published_rates_are_the_published_counts_divided(built_pipeline):
    rows = _published(
        built_pipeline.analytics_path,
        "select sent, delivered, read, failed, delivery_rate, read_rate, failure_rate "
        "from rpt_messages_daily",
    )
    for sent, delivered, read, failed, delivery_rate, read_rate, failure_rate in rows:
        assert delivery_rate == (pytest.approx(delivered / sent) if sent else None)
        assert read_rate == (pytest.approx(read / delivered) if delivered else None)
        assert failure_rate == (pytest.approx(failed / sent) if sent else None)


def test_published_funnel_never_inverts(built_pipeline):
    rows = _published(
        built_pipeline.analytics_path, "select sent, delivered, read from rpt_messages_daily"
    )
    assert rows
    assert all(sent >= delivered >= read for sent, delivered, read in rows)


def test_published_file_holds_only_the_contract_tables_in_a_v1_readable_format(built_pipeline):
    path = built_pipeline.analytics_path
    tables = _published(path, "select schema_name, table_name from duckdb_tables()")
    assert set(tables) == {("main", t) for t in CONTRACT_TABLES}
    storage = _published(
        path,
        "select tags['storage_version'] from duckdb_databases() where database_name = 'analytics'",
    )
    assert storage == [("v1.0.0+",)]
    column_types = {
        row[0]
        for row in _published(
            path, "select distinct data_type from duckdb_columns() where not internal"
        )
    }
    # The one nested type is the contract's list of mentioned users (fct_comments), which
    # DuckDB 1.x reads; everything else is a plain scalar.
    assert column_types <= {
        "VARCHAR[]",
        "VARCHAR",
        "BIGINT",
        "INTEGER",
        "DOUBLE",
        "BOOLEAN",
        "DATE",
        "TIMESTAMP",
    }


def test_every_contract_column_is_published_in_order_with_its_type_class(built_pipeline):
    rows = _published(
        built_pipeline.analytics_path,
        "select table_name, column_name, data_type from duckdb_columns() "
        "where not internal order by table_name, column_index",
    )
    published: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        published.setdefault(table, {})[column] = data_type
    for table, columns in CONTRACT.items():
        assert list(published[table]) == list(columns), table
        wrong = {
            column: (published[table][column], type_class)
            for column, type_class in columns.items()
            if published[table][column] not in DUCKDB_TYPES[type_class]
        }
        assert wrong == {}, table


def test_no_customer_phone_number_or_name_is_published_but_display_name(built_pipeline):
    """Customers' numbers appear only as salted hashes, their names only in display_name."""
    api = built_pipeline.workspace_dir / "api"
    customers = [json.loads(line) for line in (api / "contacts.jsonl").read_text().splitlines()]
    phones = {c["phone"].lstrip("+") for c in customers}
    names = {f"{c['firstName']} {c['lastName']}" for c in customers}
    allowed_names = {("dim_contacts", "display_name"), ("dim_users", "user_name")}  # agents
    columns = _published(
        built_pipeline.analytics_path,
        "select table_name, column_name from duckdb_columns() "
        "where not internal and data_type in ('VARCHAR', 'VARCHAR[]')",
    )
    leaks = []
    with duckdb.connect(str(built_pipeline.analytics_path), read_only=True) as con:
        for table, column in columns:
            values = con.execute(
                f'select distinct cast("{column}" as varchar) from {table}'
            ).fetchall()
            for (value,) in values:
                if value is None:
                    continue
                if any(phone in value for phone in phones):
                    leaks.append((table, column, "a phone number"))
                if (table, column) not in allowed_names and any(n in value for n in names):
                    leaks.append((table, column, "a customer's name"))
    assert leaks == []
    # the scan does see names where they are allowed: it would see them anywhere else
    display_names = _published(
        built_pipeline.analytics_path, "select display_name from dim_contacts"
    )
    assert {name for (name,) in display_names} & names


def test_the_run_recorded_every_gate_as_passed(built_pipeline):
    import dagster as dg

    from orchestration.definitions import defs

    blocking = [key for key in defs.resolve_asset_graph().asset_check_keys]
    with dg.DagsterInstance.from_config(str(built_pipeline.data_dir / "dagster_home")) as instance:
        records = {key: instance.get_latest_asset_check_evaluation_record(key) for key in blocking}
    missing = [key.to_user_string() for key, record in records.items() if record is None]
    failed = [
        key.to_user_string()
        for key, record in records.items()
        if record is not None and not record.event.asset_check_evaluation.passed
    ]
    assert missing == []
    assert failed == []


def test_a_rerun_without_new_data_loads_nothing_and_publishes_the_same_figures(pipeline_copy):
    before = _messages_daily(pipeline_copy.analytics_path)
    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        first_run_end, raw_rows = con.execute(
            "select max(finished_at), (select count(*) from raw.whatsapp_cloud__payloads) "
            "from raw._batches"
        ).fetchone()

    refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir, faults=PIPELINE_FAULTS)

    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        rerun = con.execute(
            "select source, entity, fetched, inserted, updated from raw._batches "
            "where finished_at > ?",
            [first_run_end],
        ).fetchall()
        files_loaded_again = con.execute(
            "select count(*) from raw._capture_files where last_loaded_at > ?", [first_run_end]
        ).fetchone()[0]
        payloads = con.execute("select count(*) from raw.whatsapp_cloud__payloads").fetchone()[0]
    api_entities = {entity for source, entity, *_ in rerun if source == "respondio"}
    assert {"users", "channels", "closing_notes", "contacts", "messages"} <= api_entities
    assert all(inserted == updated == 0 for *_, inserted, updated in rerun)
    assert all(fetched > 0 for source, *_, fetched, _, _ in rerun if source == "respondio")
    assert files_loaded_again == 0
    assert payloads == raw_rows > 0
    assert _messages_daily(pipeline_copy.analytics_path) == before
    # each passing run (Dagster builds with `--select fqn:*`) marked the loads its tests read
    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        marked = con.execute("select passed from audit.dbt_tested_loads").fetchall()
    assert marked == [(True,), (True,)]


def test_every_check_of_the_run_is_kept_in_the_audit_table(built_pipeline):
    rows = _published_warehouse(
        built_pipeline, "select check_name, passed, asset_key from audit.check_results"
    )
    names = {name for name, _, _ in rows}
    assert {"new_messages_valid", "new_whatsapp_cloud_valid", "messages_daily_consistent"} <= names
    assert len(names) > 30  # the dbt tests too
    assert all(passed for _, passed, _ in rows)


def test_no_log_line_of_a_faulty_run_shows_the_token(built_pipeline):
    """The shared run went through 429s, 5xx and dropped connections, each logged."""
    log_text = built_pipeline.log_file.read_text()
    assert "retrying" in log_text or "rate limited" in log_text
    assert built_pipeline.token not in log_text


def test_a_duckdb_1x_shell_reads_every_published_table(built_pipeline):
    """Most BI drivers bundle DuckDB 1.x; the 1.x shell from duckdb-cli stands in for them."""
    shell = Path(sys.prefix) / "bin" / "duckdb"
    version = subprocess.run([shell, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v1.")
    for table in CONTRACT_TABLES:
        result = subprocess.run(
            [
                shell,
                "-readonly",
                "-csv",
                "-noheader",
                str(built_pipeline.analytics_path),
                f"select count(*) from {table}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        published = _published(built_pipeline.analytics_path, f"select count(*) from {table}")
        assert int(result.stdout.strip()) == published[0][0] > 0


def test_every_published_column_is_described_in_the_dbt_yml(built_pipeline):
    """The yml is where a metric is defined: no published column goes without a definition."""
    from orchestration.project import wabi_dbt_project

    manifest = json.loads(wabi_dbt_project.manifest_path.read_text())
    documented = {
        node["name"]: {
            name for name, column in node["columns"].items() if column.get("description")
        }
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node.get("description")
    }
    rows = _published(
        built_pipeline.analytics_path,
        "select table_name, column_name from duckdb_columns() where not internal",
    )
    undocumented = sorted(
        (table, column) for table, column in rows if column not in documented.get(table, set())
    )
    assert undocumented == []
