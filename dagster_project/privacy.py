"""Pseudonymisation of CRM personal data at load (docs/crm.md, "Privacy").

Plain Python, no Dagster. The loader registers `register_udfs` on its DuckDB connection and
computes the key and flag columns of `raw.crm_contacts` in the statement that inserts the rows,
so clear names, phone numbers, e-mail addresses, postcodes and UPRNs never reach a table.

- key: HMAC-SHA256 with the hub secret over "<kind>:<normalised value>", 32 hex characters;
  kinds are `name`, `phone`, `email`, `postcode`, `uprn` and `name_postcode` (value
  "<normalised name>|<normalised postcode>").
- secret: `HUB_PSEUDONYMISATION_KEY` (at least 16 characters); in demo mode (`HUB_MODE` unset or
  `demo`) one is generated once into `<data dir>/secrets/pseudonymisation.key` (mode 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEY_ENV = "HUB_PSEUDONYMISATION_KEY"
MODE_ENV = "HUB_MODE"
MIN_KEY_LENGTH = 16
KEY_FILE = Path("secrets") / "pseudonymisation.key"
KINDS = ("name", "phone", "email", "postcode", "uprn")

TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir"})
PHONE_RE = re.compile(r"^0\d{9,10}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
UPRN_RE = re.compile(r"^\d{1,12}$")
_NON_LETTER = re.compile(r"[\W\d_]+")  # anything but a (Unicode) letter
_NON_DIGIT = re.compile(r"\D+")
_SPACE = re.compile(r"\s+")

HOW_TO_MAKE_A_KEY = (
    f"set {KEY_ENV} to a secret of at least {MIN_KEY_LENGTH} characters, e.g. the output of "
    f"`python -c \"import secrets; print(secrets.token_hex(32))\"`, and keep it: changing it "
    f"changes every customer id (every key in raw.crm_contacts)")


class PseudonymisationKeyMissing(RuntimeError):
    """No usable pseudonymisation key: CRM files cannot be loaded (nothing is loaded)."""


def is_production() -> bool:
    return os.environ.get(MODE_ENV, "demo").strip().lower() == "production"


def _data_dir(settings_or_data_dir: Any) -> Path:
    data_dir = getattr(settings_or_data_dir, "data_dir", settings_or_data_dir)
    return Path(data_dir)


def key_file(settings_or_data_dir: Any) -> Path:
    """Where demo mode keeps its generated key: `<data dir>/secrets/pseudonymisation.key`."""
    return _data_dir(settings_or_data_dir) / KEY_FILE


def pseudonymisation_key(settings_or_data_dir: Any) -> str:
    """The hub-wide secret of the keyed hashes (a `Settings` or the data directory).

    `HUB_PSEUDONYMISATION_KEY` when set. Otherwise, in demo mode, the key generated once into
    the data directory (created now if needed, mode 0600); with `HUB_MODE=production`,
    `PseudonymisationKeyMissing`.
    """
    value = os.environ.get(KEY_ENV)
    if value is not None and value.strip():
        key = value.strip()
        if len(key) < MIN_KEY_LENGTH:
            raise PseudonymisationKeyMissing(
                f"{KEY_ENV} is only {len(key)} characters; CRM files were not loaded: "
                f"{HOW_TO_MAKE_A_KEY}")
        return key
    if is_production():
        raise PseudonymisationKeyMissing(
            f"HUB_MODE=production and {KEY_ENV} is not set, so CRM files (which carry personal "
            f"data) cannot be pseudonymised and none were loaded: {HOW_TO_MAKE_A_KEY}")
    path = key_file(settings_or_data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process generated it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise PseudonymisationKeyMissing(
            f"{path} holds a key shorter than {MIN_KEY_LENGTH} characters; delete it to have a "
            f"new one generated (demo data only: every customer id changes) or {HOW_TO_MAKE_A_KEY}")
    return key


# --- normalisation and validity (docs/crm.md) -----------------------------------------------

def _empty(value: str | None) -> bool:
    return value is None or not str(value).strip()


def normalise_name(value: str | None) -> str | None:
    """Accents removed, lower case, non-letters as spaces, titles dropped, tokens sorted."""
    if _empty(value):
        return None
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower()
    tokens = sorted(t for t in _NON_LETTER.sub(" ", text).split() if t not in TITLES)
    return " ".join(tokens) or None


def normalise_phone(value: str | None) -> str | None:
    """Digits only; a leading 44 (from +44 / 0044) becomes 0."""
    if _empty(value):
        return None
    digits = _NON_DIGIT.sub("", str(value))
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44"):
        digits = "0" + digits[2:]
    return digits or None


def normalise_email(value: str | None) -> str | None:
    if _empty(value):
        return None
    return str(value).strip().lower()


def normalise_postcode(value: str | None) -> str | None:
    if _empty(value):
        return None
    return _SPACE.sub("", str(value).upper()) or None


def normalise_uprn(value: str | None) -> str | None:
    if _empty(value):
        return None
    return _NON_DIGIT.sub("", str(value)) or None


NORMALISERS: dict[str, Callable[[str | None], str | None]] = {
    "name": normalise_name, "phone": normalise_phone, "email": normalise_email,
    "postcode": normalise_postcode, "uprn": normalise_uprn,
}
_VALID: dict[str, re.Pattern[str] | None] = {
    "name": None, "phone": PHONE_RE, "email": EMAIL_RE, "postcode": POSTCODE_RE,
    "uprn": UPRN_RE,
}


def is_valid(kind: str, value: str | None) -> bool | None:
    """Whether a delivered value is valid once normalised; None when no value was given."""
    if _empty(value):
        return None
    normalised = NORMALISERS[kind](value)
    pattern = _VALID[kind]
    if normalised is None:
        return False
    return True if pattern is None else bool(pattern.match(normalised))


def keyed_hash(key: str, kind: str, normalised: str) -> str:
    """HMAC-SHA256 over "<kind>:<normalised value>", first 32 hex characters."""
    message = f"{kind}:{normalised}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


class Hasher:
    """`keyed_hash` with the key schedule computed once (for many values)."""

    def __init__(self, key: str) -> None:
        self._base = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def __call__(self, kind: str, normalised: str) -> str:
        h = self._base.copy()
        h.update(f"{kind}:{normalised}".encode())
        return h.hexdigest()[:32]


def pseudonym(key: str, kind: str, value: str | None) -> str | None:
    """The key column of one personal value: null when empty or (phone, email, postcode, uprn)
    invalid."""
    normalised = NORMALISERS[kind](value)
    if normalised is None:
        return None
    pattern = _VALID[kind]
    if pattern is not None and not pattern.match(normalised):
        return None
    return keyed_hash(key, kind, normalised)


def name_postcode_pseudonym(key: str, name: str | None, postcode: str | None) -> str | None:
    """Key of normalised name + normalised postcode; null unless both present and the postcode
    valid."""
    n, p = normalise_name(name), normalise_postcode(postcode)
    if n is None or p is None or not POSTCODE_RE.match(p):
        return None
    return keyed_hash(key, "name_postcode", f"{n}|{p}")


# The columns of raw.crm_contacts computed from the personal fields, in table order.
CRM_DERIVED = ("customer_name_key", "phone_key", "email_key", "postcode_key", "uprn_key",
               "name_postcode_key", "has_customer_name", "has_phone", "has_email",
               "has_postcode", "is_phone_valid", "is_email_valid", "is_postcode_valid")


def crm_pseudonyms(key: str) -> Callable[..., tuple]:
    """A function (name, phone, email, postcode, uprn) -> the values of `CRM_DERIVED`, each
    personal value normalised and validated once."""
    digest = Hasher(key)

    def keyed(kind: str, value: str | None) -> tuple[str | None, bool | None, str | None]:
        """(key or None, valid or None when empty, normalised value)."""
        if _empty(value):
            return None, None, None
        normalised = NORMALISERS[kind](value)
        if normalised is None:
            return None, False, None
        pattern = _VALID[kind]
        if pattern is not None and not pattern.match(normalised):
            return None, False, normalised
        return digest(kind, normalised), True, normalised

    def derive(name, phone, email, postcode, uprn) -> tuple:
        name_key, _, name_n = keyed("name", name)
        phone_key, phone_ok, _ = keyed("phone", phone)
        email_key, email_ok, _ = keyed("email", email)
        postcode_key, postcode_ok, postcode_n = keyed("postcode", postcode)
        uprn_key, _, _ = keyed("uprn", uprn)
        both = (digest("name_postcode", f"{name_n}|{postcode_n}")
                if name_n is not None and postcode_ok else None)
        return (name_key, phone_key, email_key, postcode_key, uprn_key, both,
                not _empty(name), not _empty(phone), not _empty(email), not _empty(postcode),
                phone_ok, email_ok, postcode_ok)

    return derive


# --- DuckDB ---------------------------------------------------------------------------------

def register_udfs(con: Any, key: str) -> None:
    """Register on a DuckDB connection (vectorised, Arrow in and out):

    - `hub_pseudonym(kind varchar, value varchar) -> varchar`
    - `hub_name_postcode_pseudonym(name varchar, postcode varchar) -> varchar`
    - `hub_is_valid(kind varchar, value varchar) -> boolean`
    - `hub_crm_pseudonyms(name, phone, email, postcode, uprn varchar) -> struct` with the
      fields `CRM_DERIVED` (what the loader uses: every value normalised once)
    """
    import pyarrow as pa
    from duckdb import struct_type
    from duckdb.sqltypes import BOOLEAN, VARCHAR

    derive = crm_pseudonyms(key)
    fields = [pa.field(c, pa.string() if c.endswith("_key") else pa.bool_())
              for c in CRM_DERIVED]
    struct = pa.struct(fields)

    def _crm(names, phones, emails, postcodes, uprns):
        rows = [derive(*values) for values in zip(
            names.to_pylist(), phones.to_pylist(), emails.to_pylist(), postcodes.to_pylist(),
            uprns.to_pylist(), strict=True)]
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in fields]
        return pa.StructArray.from_arrays(
            [pa.array(col, f.type) for col, f in zip(columns, fields, strict=True)],
            fields=list(struct))

    crm_type = struct_type({c: (VARCHAR if c.endswith("_key") else BOOLEAN)
                            for c in CRM_DERIVED})

    def _pseudonym(kinds, values):
        return pa.array([pseudonym(key, k, v) for k, v in
                         zip(kinds.to_pylist(), values.to_pylist(), strict=True)], pa.string())

    def _name_postcode(names, postcodes):
        return pa.array([name_postcode_pseudonym(key, n, p) for n, p in
                         zip(names.to_pylist(), postcodes.to_pylist(), strict=True)], pa.string())

    def _valid(kinds, values):
        return pa.array([is_valid(k, v) for k, v in
                         zip(kinds.to_pylist(), values.to_pylist(), strict=True)], pa.bool_())

    for name, fn, params, result in (
            ("hub_pseudonym", _pseudonym, [VARCHAR, VARCHAR], VARCHAR),
            ("hub_name_postcode_pseudonym", _name_postcode, [VARCHAR, VARCHAR], VARCHAR),
            ("hub_is_valid", _valid, [VARCHAR, VARCHAR], BOOLEAN),
            ("hub_crm_pseudonyms", _crm, [VARCHAR] * 5, crm_type)):
        with contextlib.suppress(Exception):  # not registered yet on this connection
            con.remove_function(name)
        con.create_function(name, fn, params, result, type="arrow", null_handling="special",
                            side_effects=False)
