"""The key of every phone-number hash, and the hash itself: the one place both are defined.

A customer's number is published only as HMAC-SHA256(key, digits): the hex HMAC of its ASCII
digits (everything but 0-9 dropped, so '+55 19 3491-8889' and '551934918889' hash alike). The
phone-number space is small enough to hash whole, so without the key a hash gives nothing back.

The key is the UTF-8 bytes of `WABI_PII_KEY` (surrounding whitespace dropped), 32 to 1024 bytes;
`python -c "import secrets; print(secrets.token_hex(32))"` makes a good one. Unset, it is the
key file `pii.key` in the data directory, written in the same form (one line) by the first run
that needs it. dbt gets it only through the dbt-duckdb plugin (orchestration/dbt_pii_plugin.py),
which defines `wabi_phone_hash` in each connection's memory: the key never reaches a compiled
model, a dbt artefact or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("wabi.pii")

KEY_VARIABLE = "WABI_PII_KEY"
RETIRED_SALT_VARIABLE = "WABI_PII_SALT"
KEY_FILE = "pii.key"
MIN_KEY_BYTES = 32
MAX_KEY_BYTES = 1024
# The SQL function every dbt model calls (macro phone_hash); defined per connection.
HASH_FUNCTION = "wabi_phone_hash"
_NOT_DIGITS = re.compile("[^0-9]")  # ASCII only, as DuckDB's regexp '[^0-9]' (not str.isdigit)
_BLOCK_BYTES = 64  # SHA-256's block: the size of HMAC's padded key


class PiiKeyError(ValueError):
    """The phone-number key is missing, malformed or replaced by an old setting."""


@dataclass(frozen=True)
class PiiKey:
    """A validated key; its bytes stay out of reprs, logs and tracebacks."""

    secret: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str, source: str) -> PiiKey:
        """The key `text` as read from `source` (a variable or file name, for the error)."""
        # the bytes as set: an environment value that is not UTF-8 comes back as it was
        secret = text.strip().encode("utf-8", "surrogateescape")
        if not MIN_KEY_BYTES <= len(secret) <= MAX_KEY_BYTES:
            raise PiiKeyError(
                f"{source} must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(secret)}: "
                'make one with python -c "import secrets; print(secrets.token_hex(32))"'
            )
        return cls(secret)

    def phone_hash(self, number: str | None) -> str | None:
        """The number as the marts carry it: hex HMAC-SHA256 of its digits; None stays None."""
        if number is None:
            return None
        digits = _NOT_DIGITS.sub("", number).encode("ascii")
        return hmac.new(self.secret, digits, hashlib.sha256).hexdigest()

    def pads(self) -> tuple[bytes, bytes]:
        """HMAC's inner and outer padded keys (RFC 2104): HMAC(k, m) =
        sha256(outer || sha256(inner || m)). As secret as the key itself."""
        block = self.secret
        if len(block) > _BLOCK_BYTES:
            block = hashlib.sha256(block).digest()
        block = block.ljust(_BLOCK_BYTES, b"\0")
        return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def key_from_environment(environ: Mapping[str, str] = os.environ) -> PiiKey | None:
    """`WABI_PII_KEY` checked (None when unset or empty); the retired salt is refused, so a
    deployment that set one learns that every hash changes instead of finding out later."""
    if environ.get(RETIRED_SALT_VARIABLE):
        raise PiiKeyError(
            f"{RETIRED_SALT_VARIABLE} was replaced by {KEY_VARIABLE} (phone numbers are now "
            f"HMAC-keyed and every hash changes): unset {RETIRED_SALT_VARIABLE} (README: "
            '"Phone numbers and the key")'
        )
    text = environ.get(KEY_VARIABLE)
    return PiiKey.from_text(text, KEY_VARIABLE) if text and text.strip() else None


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_key(
    data_dir: Path, *, create: bool = False, environ: Mapping[str, str] = os.environ
) -> PiiKey:
    """The key: `WABI_PII_KEY`, else the key file in `data_dir`, created first when `create`
    and missing (and said so, once: by the process that created it)."""
    key = key_from_environment(environ)
    if key is not None:
        return key
    path = key_file(data_dir)
    if not path.exists():
        if not create:
            raise PiiKeyError(
                f"no phone-number key: set {KEY_VARIABLE} or run `wabi refresh` once to "
                f"create {path}"
            )
        if _create_key_file(path):
            log.warning(
                "created the phone-number key %s (%s is not set): back it up with the data; "
                "a lost or changed key gives every number-keyed contact a new id",
                path,
                KEY_VARIABLE,
            )
    try:
        with path.open("rb") as file:
            # a key and its line ending; anything longer is refused by its length
            text = file.read(2 * MAX_KEY_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PiiKeyError(f"cannot read the key file {path}: {type(error).__name__}") from None
    return PiiKey.from_text(text, str(path))


def _create_key_file(path: Path) -> bool:
    """Write a new random key to `path` unless one exists; return whether this call wrote it.

    The key is written whole (mode 0600, O_EXCL) to a private temporary file, then linked to
    `path`: the link fails if another process got there first, so two processes never both
    create a key and none ever reads a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return True
    finally:
        temporary.unlink()


def create_hash_function(con: duckdb.DuckDBPyConnection, key: PiiKey) -> None:
    """Define `wabi_phone_hash(number)` on `con` alone: a TEMP macro lives in that connection's
    memory (never in the database file), and each DuckDB cursor is a connection of its own.

    HMAC in SQL over BLOBs, from the precomputed pads: sha256 accepts BLOB, and its hex is turned
    back into the 32 bytes the outer hash takes.
    """
    inner, outer = (pad.hex() for pad in key.pads())
    con.execute(
        f"""
        create or replace temp macro {HASH_FUNCTION}(number) as sha256(
            unhex('{outer}')
            || unhex(sha256(unhex('{inner}') || encode(regexp_replace(number, '[^0-9]', '', 'g'))))
        )
        """
    )
