"""No secret and no customer's phone number is written where it can be read back.

One real refresh (both sources, light faults) with `WABI_PII_KEY` set, its workspace outside the
data directory; then every file under the data directory and the dbt project is read as bytes
(SQLite databases, logs, dbt's artefacts and every per-run target folder included) and searched
for the key, for HMAC's padded keys derived from it (as secret as the key), and for every
customer number of the workspace as written and as digits only. Only the raw warehouse may hold
the numbers (it stores what the sources sent); nothing may hold the key.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from extract.pii import KEY_FILE, KEY_VARIABLE, PiiKey
from orchestration.project import DBT_PROJECT_DIR
from simulator.generate import CAPTURES_DIR, generate
from tests.conftest import PIPELINE_FAULTS, TINY_SPEC, refresh_from

# The raw warehouse (with its write-ahead log and its spill directory): the loaders store the
# sources' records as sent, numbers included; staging reads them and publishes only hashes.
RAW_WAREHOUSE = ("warehouse.duckdb", "warehouse.duckdb.wal")
RAW_WAREHOUSE_SPILL = "warehouse.duckdb.tmp"
# Where Meta's payloads carry a customer's number.
NUMBER_FIELDS = ("from", "recipient_id", "wa_id", "phone")
DIGIT_RUNS = re.compile(rb"\d+")


@dataclass(frozen=True)
class KeyedRefresh:
    data_dir: Path
    key: PiiKey
    numbers: frozenset[str]


def _numbers_in(value: object) -> Iterator[str]:
    """Every value of a number field anywhere in a JSON document."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name in NUMBER_FIELDS and isinstance(item, str | int) and item:
                yield str(item)
            else:
                yield from _numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers_in(item)


def customer_numbers(workspace_dir: Path) -> frozenset[str]:
    """The customers' numbers as the workspace's API records and captures write them."""
    numbers = set()
    for path in [
        workspace_dir / "api" / "contacts.jsonl",
        *(workspace_dir / CAPTURES_DIR).rglob("*"),
    ]:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                numbers.update(_numbers_in(json.loads(line)))
            except json.JSONDecodeError:
                continue  # a torn line the faults wrote
    return frozenset(numbers)


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if ".venv" not in path.parts and path.is_file() and not path.is_symlink():
                yield path


def key_needles(key: PiiKey) -> dict[bytes, str]:
    """The key and what is as good as the key, in the forms a file could hold them."""
    inner, outer = key.pads()
    return {
        key.secret: "the key",
        key.secret.hex().encode(): "the key in hex",
        inner: "HMAC's inner padded key",
        outer: "HMAC's outer padded key",
        inner.hex().encode(): "HMAC's inner padded key in hex",
        outer.hex().encode(): "HMAC's outer padded key in hex",
    }


def leaks(path: Path, key: PiiKey, numbers: frozenset[str]) -> list[str]:
    """What `path` holds that it must not: the key in any file but the key file, a customer's
    number in any file but the raw warehouse."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # deleted since it was listed (another test's dbt run): gone
        return []
    found = []
    if path.name != KEY_FILE:
        found += [f"{path}: {what}" for needle, what in key_needles(key).items() if needle in data]
    if path.name not in RAW_WAREHOUSE and path.parent.name != RAW_WAREHOUSE_SPILL:
        digits_only = {re.sub(r"[^0-9]", "", number) for number in numbers}
        # numbers written as digits alone count only as whole digit runs (below), not inside a
        # longer run such as an id
        written = {number.encode() for number in numbers if number not in digits_only}
        found += [f"{path}: a customer's number" for number in written if number in data]
        found += [
            f"{path}: a customer's number, digits only"
            for run in {match.group() for match in DIGIT_RUNS.finditer(data)}
            if run.decode() in digits_only
        ]
    return found


@pytest.fixture(scope="module")
def keyed_refresh(tmp_path_factory: pytest.TempPathFactory) -> KeyedRefresh:
    workspace_dir = tmp_path_factory.mktemp("leak_workspace")  # outside the data directory
    data_dir = tmp_path_factory.mktemp("leak_data")
    generate(TINY_SPEC, workspace_dir, faults=PIPELINE_FAULTS)
    key_text = secrets.token_hex(32)
    refresh_from(workspace_dir, data_dir, faults=PIPELINE_FAULTS, pii_key=key_text)
    return KeyedRefresh(
        data_dir=data_dir,
        key=PiiKey.from_text(key_text, KEY_VARIABLE),
        numbers=customer_numbers(workspace_dir),
    )


def test_the_refresh_writes_neither_the_key_nor_a_number_outside_the_raw_warehouse(
    keyed_refresh,
):
    scanned = list(files_under(keyed_refresh.data_dir, DBT_PROJECT_DIR))
    found = [
        leak for path in scanned for leak in leaks(path, keyed_refresh.key, keyed_refresh.numbers)
    ]

    assert len(keyed_refresh.numbers) >= TINY_SPEC.contacts
    assert any(path.suffix == ".db" for path in scanned)  # Dagster's SQLite storage was read
    assert not (keyed_refresh.data_dir / KEY_FILE).exists()  # the variable's key is used
    assert found == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The same scan over planted files: a key in any form, a number as written or as digits,
    a number in the raw warehouse or its spill files (allowed), the key in the raw warehouse
    (not allowed) and a number inside a longer digit run (not one)."""
    key = PiiKey.from_text(secrets.token_hex(32), KEY_VARIABLE)
    number, digits = "+55 19 3491-8889", "551934918889"
    numbers = frozenset({number, digits})
    inner, _ = key.pads()
    planted = {
        "key.log": b"key=" + key.secret,
        "pad.sql": b"unhex('" + inner.hex().encode() + b"')",
        "written.json": number.encode(),
        "digits.msgpack": b"\x00" + digits.encode() + b"\x00",
        "warehouse.duckdb": number.encode(),
        "warehouse.duckdb.tmp/spill-0.tmp": digits.encode(),
        "warehouse.duckdb.wal": key.secret.hex().encode(),
        "longer.txt": b"9" + digits.encode() + b"9",
    }
    for name, data in planted.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)

    found = {
        path.relative_to(tmp_path).as_posix(): leaks(path, key, numbers)
        for path in files_under(tmp_path)
    }

    assert found.keys() == planted.keys()
    assert {name for name, hits in found.items() if hits} == {
        "key.log",
        "pad.sql",
        "written.json",
        "digits.msgpack",
        "warehouse.duckdb.wal",
    }
