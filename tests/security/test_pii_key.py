"""The phone-number key: checked early, created once when none is set, reused, and the hash dbt
computes in SQL is the HMAC computed in Python (extract/pii.py)."""

from __future__ import annotations

import hmac
import json
import os
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from extract.pii import (
    HASH_FUNCTION,
    KEY_FILE,
    KEY_VARIABLE,
    RETIRED_SALT_VARIABLE,
    PiiKey,
    PiiKeyError,
    create_hash_function,
    load_key,
)
from orchestration.settings import Settings
from simulator.generate import generate
from simulator.model import WorkspaceSpec
from tests.conftest import refresh_from

SMALL_SPEC = WorkspaceSpec(
    seed=23, contacts=15, agents=2, days=2, messages_per_day=15, start=date(2026, 3, 16)
)
KEY_TEXTS = {
    "32 bytes": "k" * 32,
    "a block": "0123456789abcdef" * 4,
    "longer than a block": "wabi-key-" * 12,  # HMAC hashes keys longer than SHA-256's block
}
NUMBERS = ["+55 19 3491-8889", "551934918889", "+1 (555) 010-0199", "", "no digits", "\u0663\u0664"]
PROCESS_TIMEOUT_SECONDS = 120


@pytest.fixture
def no_key(monkeypatch):
    for name in (KEY_VARIABLE, RETIRED_SALT_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("key_text", KEY_TEXTS.values(), ids=KEY_TEXTS.keys())
def test_the_sql_hash_is_hmac_sha256_of_the_digits(key_text):
    key = PiiKey.from_text(key_text, KEY_VARIABLE)
    with duckdb.connect() as con:
        create_hash_function(con, key)
        in_sql = [
            con.execute(f"select {HASH_FUNCTION}(?)", [number]).fetchone()[0]
            for number in [*NUMBERS, None]
        ]
    by_hand = [
        hmac.new(
            key_text.encode(), "".join(c for c in number if c in "0123456789").encode(), "sha256"
        ).hexdigest()
        for number in NUMBERS
    ]

    assert in_sql == [*by_hand, None]
    assert [key.phone_hash(number) for number in [*NUMBERS, None]] == in_sql
    assert in_sql[0] == in_sql[1]  # the same number written two ways
    # digits other than ASCII's are dropped, as DuckDB's '[^0-9]' drops them
    assert in_sql[-2] == in_sql[3]


def test_the_hash_function_stays_in_the_connection_and_out_of_the_file(tmp_path):
    key = PiiKey.from_text("k" * 40, KEY_VARIABLE)
    inner, outer = (pad.hex().encode() for pad in key.pads())
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_hash_function(con, key)
        con.execute(f"create table hashed as select {HASH_FUNCTION}('+1 555 0100') as h")
        con.execute(f"create view hashing as select {HASH_FUNCTION}('+1 555 0100') as h")
        with con.cursor() as cursor, pytest.raises(duckdb.CatalogException):
            cursor.execute(f"select {HASH_FUNCTION}('1')")  # a cursor is a connection of its own
        con.execute("checkpoint")
    files = list(tmp_path.iterdir())
    with duckdb.connect(str(path)) as con:
        with pytest.raises(duckdb.CatalogException):
            con.execute("select * from hashing")  # the view names the function, not the key
        stored = con.execute("select h from hashed").fetchone()[0]

    assert stored == key.phone_hash("+1 555 0100")
    assert not any(pad in file.read_bytes() for file in files for pad in (inner, outer))


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (KEY_VARIABLE, "too-short", "WABI_PII_KEY must be 32 to 1024 bytes, not 9"),
        (KEY_VARIABLE, "x" * 1025, "WABI_PII_KEY must be 32 to 1024 bytes, not 1025"),
        (RETIRED_SALT_VARIABLE, "old-salt", "WABI_PII_SALT was replaced by WABI_PII_KEY"),
    ],
)
def test_wabi_refuses_a_bad_key_setting_in_one_line(tmp_path, variable, value, says):
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("WABI_")
    } | {variable: value, "WABI_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "refresh", "--webhook-dir", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"wabi: {says}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert value not in result.stderr
    assert not (tmp_path / "data").exists()


def test_settings_take_a_key_of_32_bytes_and_refuse_one_shorter(no_key):
    no_key.setenv(KEY_VARIABLE, "k" * 32)
    Settings.from_env()
    no_key.setenv(KEY_VARIABLE, "k" * 31)
    with pytest.raises(PiiKeyError, match="WABI_PII_KEY must be 32 to 1024 bytes, not 31"):
        Settings.from_env()


def test_a_key_file_too_short_is_refused_by_its_path(tmp_path, no_key):
    (tmp_path / KEY_FILE).write_text("abc\n")
    with pytest.raises(PiiKeyError, match=f"{tmp_path / KEY_FILE} must be 32 to 1024 bytes"):
        load_key(tmp_path, create=True)
    assert (tmp_path / KEY_FILE).read_text() == "abc\n"  # never replaced


def test_without_a_key_and_without_creating_one_the_error_says_how(tmp_path, no_key):
    with pytest.raises(PiiKeyError, match="set WABI_PII_KEY or run `wabi refresh` once"):
        load_key(tmp_path)
    assert not (tmp_path / KEY_FILE).exists()


def test_processes_creating_the_key_at_once_make_one_key(tmp_path):
    """Eight processes start together on an empty data directory: one creates the key (and says
    so), every one of them reads that same key."""
    start = tmp_path / "go"
    data_dir = tmp_path / "data"
    script = (
        "import hashlib, os, sys, time\n"
        "from pathlib import Path\n"
        "from extract.pii import load_key\n"
        f"while not Path({str(start)!r}).exists(): time.sleep(0.001)\n"
        f"key = load_key(Path({str(data_dir)!r}), create=True)\n"
        "print(hashlib.sha256(key.secret).hexdigest())\n"
    )
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("WABI_")
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    time.sleep(1)  # let them import and wait at the start line
    start.touch()
    outputs = [process.communicate(timeout=PROCESS_TIMEOUT_SECONDS) for process in processes]

    assert all(process.returncode == 0 for process in processes), outputs
    assert len({stdout for stdout, _ in outputs}) == 1
    assert sum("created the phone-number key" in stderr for _, stderr in outputs) == 1
    assert sorted(path.name for path in data_dir.iterdir()) == [KEY_FILE]


def _dim_contact_hashes(data_dir: Path) -> dict[str, str | None]:
    with duckdb.connect(str(data_dir / "analytics.duckdb"), read_only=True) as con:
        return dict(con.execute("select contact_id, phone_hash from dim_contacts").fetchall())


def test_a_run_without_a_key_creates_one_that_the_next_run_reuses(tmp_path, no_key, caplog):
    workspace_dir, data_dir = tmp_path / "workspace", tmp_path / "data"
    generate(SMALL_SPEC, workspace_dir)
    contacts = (workspace_dir / "api" / "contacts.jsonl").read_text().splitlines()
    numbers = {str(contact["id"]): contact["phone"] for contact in map(json.loads, contacts)}

    refresh_from(workspace_dir, data_dir)
    created = [record for record in caplog.records if "created the phone-number key" in record.msg]
    key_text = (data_dir / KEY_FILE).read_text()
    first = _dim_contact_hashes(data_dir)
    caplog.clear()
    refresh_from(workspace_dir, data_dir)
    second = _dim_contact_hashes(data_dir)

    assert len(created) == 1
    assert str(data_dir / KEY_FILE) in created[0].getMessage()
    assert "back it up" in created[0].getMessage()
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert not [record for record in caplog.records if "phone-number key" in record.msg]
    assert (data_dir / KEY_FILE).read_text() == key_text
    key = load_key(data_dir)
    assert {contact: first[contact] for contact in numbers} == {
        contact: key.phone_hash(number) for contact, number in numbers.items()
    }
    assert second == first
