"""Pseudonymisation of CRM personal data at load (docs/crm.md, "Privacy").

Plain Python, no Dagster. The loader registers `register_udfs` on its DuckDB connection and
computes the key and flag columns of `raw.crm_contacts` in the statement that inserts the rows
(`crm_pseudonyms_sql`: DuckDB SQL, each distinct value once), so clear names, phone numbers,
e-mail addresses, postcodes and UPRNs never reach a table. The per-value Python functions below
are the reference the SQL equals (tests/test_privacy_sql.py).

- key: HMAC-SHA256 with the hub secret over "<kind>:<normalised value>", 32 hex characters;
  kinds are `name`, `phone`, `email`, `postcode`, `uprn` and `name_postcode` (value
  "<normalised name>|<normalised postcode>").
- secret: `HUB_PSEUDONYMISATION_KEY` (at least 16 characters); in demo mode (`HUB_MODE` unset or
  `demo`) one is generated once into `<data dir>/secrets/pseudonymisation.key` (mode 0600).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
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
    normalised = _message(kind, value)
    return None if normalised is None else keyed_hash(key, kind, normalised)


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
#
# The loader computes the keys in SQL (`crm_pseudonyms_sql`), each distinct value once: ASCII
# values are normalised and validated by SQL that follows the rules above (on ASCII text they
# need no Unicode tables), any other value by the Python functions above (a UDF), and the HMAC is
# DuckDB's sha256 over the two pads. The outputs equal `crm_pseudonyms` for every input (tests).

def _message(kind: str, value: str | None) -> str | None:
    """The normalised value `pseudonym` hashes: None when empty, or invalid (phone, email,
    postcode, uprn)."""
    normalised = NORMALISERS[kind](value)
    if normalised is None:
        return None
    pattern = _VALID[kind]
    if pattern is not None and not pattern.match(normalised):
        return None
    return normalised


def _re2_class(chars: Iterable[str]) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in chars)


# Every white-space character of Unicode lies below U+3001 (the last is U+3000, ideographic
# space): scanning that far instead of all 1.1 M code points saves 0.35 s of every CRM load.
# tests/test_privacy.py checks the whole range against it.
SPACE_SCAN_END = 0x3001


@functools.cache
def _space_class(end: int = SPACE_SCAN_END) -> str:
    """An RE2 character class body of exactly the characters Python's `str.strip()` and `\\s`
    treat as white space (from this Python's own Unicode tables, code points below `end`)."""
    return _re2_class(c for c in map(chr, range(end)) if c.isspace())


ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace())  # \t\n\v\f\r\x1c-\x1f


def hmac_pads(key: str) -> tuple[bytes, bytes]:
    """(K0 xor ipad, K0 xor opad) of HMAC-SHA256 (RFC 2104), so that
    HMAC(K, m) = SHA256(opad_key || SHA256(ipad_key || m))."""
    k0 = key.encode()
    if len(k0) > 64:
        k0 = hashlib.sha256(k0).digest()
    k0 = k0.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in k0), bytes(b ^ 0x5C for b in k0)


def _ascii_message_sql(kind: str, v: str) -> str:
    """SQL of `_message(kind, v)` for an ASCII text `v` (null when `_message` gives None)."""
    space = _re2_class(ASCII_SPACE)
    if kind == "name":
        # letters only, lower case; every token between its own two spaces, so that the title
        # pattern removes adjacent titles too; sorted, the empty strings come first (ltrim)
        letters = f"lower(regexp_replace({v}, '[^A-Za-z]+', ' ', 'g'))"
        titles = "|".join(sorted(TITLES))
        untitled = (f"regexp_replace(' ' || replace({letters}, ' ', '  ') || ' ', "
                    f"' (?:{titles}) ', '', 'g')")
        return (f"nullif(ltrim(array_to_string(list_sort(string_split({untitled}, ' '), "
                f"'ASC'), ' ')), '')")
    if kind == "phone":
        digits = f"regexp_replace({v}, '[^0-9]+', '', 'g')"
        return (f"nullif(regexp_extract(regexp_replace({digits}, '^(?:0044|44)', '0'), "
                f"'^0[0-9]{{9,10}}$'), '')")
    if kind == "email":
        chars = " || ".join(f"chr({ord(c)})" for c in ASCII_SPACE)
        return (f"nullif(regexp_extract(lower(trim({v}, {chars})), "
                f"'^[^@{space}]+@[^@{space}]+\\.[a-z]{{2,}}$'), '')")
    if kind == "postcode":
        return (f"nullif(regexp_extract(regexp_replace(upper({v}), '[{space}]+', '', 'g'), "
                f"'^[A-Z]{{1,2}}[0-9][A-Z0-9]?[0-9][A-Z]{{2}}$'), '')")
    if kind == "uprn":
        return (f"nullif(regexp_extract(regexp_replace({v}, '[^0-9]+', '', 'g'), "
                f"'^[0-9]{{1,12}}$'), '')")
    raise ValueError(f"unknown kind {kind!r}")


def _pick_message_sql(kind: str, v: str, ascii_message: str) -> str:
    """`_message(kind, v)`: `ascii_message` (the SQL of `_ascii_message_sql`) when `v` is ASCII,
    else the Python function (the UDF `hub_pii_message_py`)."""
    return (f"case when {v} is null then null when strlen({v}) = length({v}) then "
            f"{ascii_message} else hub_pii_message_py('{kind}', {v}) end")


def _flags_sql(m: Callable[[str], str], blank: Callable[[str], str]) -> list[str]:
    """The `has_` and `is_..._valid` fields of `CRM_DERIVED` (struct_pack arguments), from the
    message and blank SQL of each kind."""
    has = [f"has_{col} := not {blank(k)}" for col, k in (
        ("customer_name", "name"), ("phone", "phone"), ("email", "email"),
        ("postcode", "postcode"))]
    valid = [f"is_{k}_valid := case when {blank(k)} then null else {m(k)} is not null end"
             for k in ("phone", "email", "postcode")]
    return has + valid


def _macros_sql() -> list[str]:
    """The temp macros of `register_udfs` (no secret in them: the pads are variables)."""
    macros = [
        # HMAC-SHA256 of a message "<kind>:<value>", 32 hex characters; null for null
        "hub_pii_hmac(message) as left(sha256(getvariable('hub_pii_opad') || "
        "unhex(sha256(getvariable('hub_pii_ipad') || encode(message)))), 32)",
        # no value: null, or only white space (Python's `not value.strip()`)
        f"hub_pii_blank(v) as v is null or regexp_full_match(v, '[{_space_class()}]*')",
    ]
    for kind in KINDS:
        macros.append(f"hub_pii_ascii_{kind}(v) as {_ascii_message_sql(kind, 'v')}")
        message = _pick_message_sql(kind, "v", f"hub_pii_ascii_{kind}(v)")
        macros.append(f"hub_pii_message_{kind}(v) as {message}")
    # One row at a time (no deduplication): list_transform over a one-element list binds each
    # argument and each message to a name once.
    keys = [f"{col} := hub_pii_hmac('{k}:' || m.{k})"
            for col, k in zip(CRM_DERIVED[:5], KINDS, strict=True)]
    keys.append("name_postcode_key := hub_pii_hmac('name_postcode:' || m.name || '|' || "
                "m.postcode)")
    fields = keys + _flags_sql(lambda k: f"m.{k}", lambda k: f"m.blank_{k}")
    bound = ", ".join(f"'{k}': hub_pii_message_{k}(a.{k})" for k in KINDS)
    bound += ", " + ", ".join(f"'blank_{k}': hub_pii_blank(a.{k})" for k in KINDS[:4])
    macros.append(
        "hub_crm_pseudonyms(name, phone, email, postcode, uprn) as "
        "list_transform([{'name': name, 'phone': phone, 'email': email, 'postcode': postcode, "
        f"'uprn': uprn}}], lambda a: list_transform([{{{bound}}}], "
        f"lambda m: struct_pack({', '.join(fields)}))[1])[1]")
    return macros


def crm_pseudonyms_sql(source: str, values: Sequence[str], column: str = "_pii") -> str:
    """A SQL subquery: the rows of `source` (a table or subquery) with the struct `column` of
    `CRM_DERIVED` computed from `values`, SQL expressions over its columns giving the name,
    phone, email, postcode and uprn text. Same result as `hub_crm_pseudonyms(*values)`, but
    each distinct value (and name + postcode pair) is normalised and hashed once.

    Needs `register_udfs` on the connection. Clear values stay in the statement (no table).
    """
    if len(values) != len(KINDS):
        raise ValueError(f"{len(KINDS)} values expected ({', '.join(KINDS)})")
    ctes = ["__pii_src as not materialized (select *, " + ", ".join(
        f"{v} as __pii_{k}" for v, k in zip(values, KINDS, strict=True)) + f" from {source})"]
    for k in KINDS:
        # the ASCII rules on every distinct value first, then the choice (list functions
        # inside a case are slow in DuckDB)
        distinct = (f"select distinct __pii_{k} as __pii_v from __pii_src "
                    f"where __pii_{k} is not null")
        ascii_message = (f"select __pii_v, hub_pii_ascii_{k}(__pii_v) as __pii_a "
                         f"from ({distinct})")
        message = _pick_message_sql(k, "__pii_v", "__pii_a")
        ctes.append(
            f"__pii_{k}_keys as materialized (select *, hub_pii_hmac('{k}:' || __pii_m) as "
            f"__pii_key from (select __pii_v, {message} as __pii_m, hub_pii_blank(__pii_v) as "
            f"__pii_blank from ({ascii_message})))")
    ctes.append(
        "__pii_np_keys as materialized (select *, hub_pii_hmac('name_postcode:' || __pii_n || "
        "'|' || __pii_p) as __pii_key from (select distinct n.__pii_m as __pii_n, p.__pii_m as "
        "__pii_p from (select distinct __pii_name, __pii_postcode from __pii_src) d "
        "join __pii_name_keys n on n.__pii_v = d.__pii_name "
        "join __pii_postcode_keys p on p.__pii_v = d.__pii_postcode "
        "where n.__pii_m is not null and p.__pii_m is not null))")
    joins = [f"left join __pii_{k}_keys __pii_{k}_k on __pii_{k}_k.__pii_v = s.__pii_{k}"
             for k in KINDS]
    joins.append("left join __pii_np_keys __pii_np_k on __pii_np_k.__pii_n = "
                 "__pii_name_k.__pii_m and __pii_np_k.__pii_p = __pii_postcode_k.__pii_m")
    keys = [f"{col} := __pii_{k}_k.__pii_key"
            for col, k in zip(CRM_DERIVED[:5], KINDS, strict=True)]
    keys.append("name_postcode_key := __pii_np_k.__pii_key")
    fields = keys + _flags_sql(lambda k: f"__pii_{k}_k.__pii_m",
                               lambda k: f"coalesce(__pii_{k}_k.__pii_blank, true)")
    hidden = ", ".join(f"__pii_{k}" for k in KINDS)
    return (f"(with {', '.join(ctes)} select s.* exclude ({hidden}), "
            f"struct_pack({', '.join(fields)}) as {column} from __pii_src s {' '.join(joins)})")


def register_udfs(con: Any, key: str) -> None:
    """Register on a DuckDB connection (temporary: nothing is written to the database; the
    HMAC pads of `key` are the connection's variables `hub_pii_ipad` and `hub_pii_opad`):

    - `hub_crm_pseudonyms(name, phone, email, postcode, uprn varchar) -> struct` of
      `CRM_DERIVED`, a SQL macro (row by row; `crm_pseudonyms_sql` is the same per set of rows,
      each distinct value once: what the loader uses);
    - the macros it is made of: `hub_pii_message_<kind>(value)` (the normalised value that is
      hashed, null when empty or invalid), `hub_pii_blank(value)`, `hub_pii_hmac(message)`, and
      the Python UDF `hub_pii_message_py(kind, value)` for non-ASCII values;
    - Python UDFs `hub_pseudonym(kind, value) -> varchar`,
      `hub_name_postcode_pseudonym(name, postcode) -> varchar`,
      `hub_is_valid(kind, value) -> boolean`.

    Raises `freed_memory.FreedMemoryNotOverwritten` when DuckDB's allocator in this process
    does not overwrite freed memory (DuckDB started before the package set it up).
    """
    import pyarrow as pa
    from duckdb.sqltypes import BOOLEAN, VARCHAR

    from dagster_project.freed_memory import require

    require()  # the clear values must not outlive their use in memory

    def _pseudonym(kinds, values):
        return pa.array([pseudonym(key, k, v) for k, v in
                         zip(kinds.to_pylist(), values.to_pylist(), strict=True)], pa.string())

    def _name_postcode(names, postcodes):
        return pa.array([name_postcode_pseudonym(key, n, p) for n, p in
                         zip(names.to_pylist(), postcodes.to_pylist(), strict=True)], pa.string())

    def _valid(kinds, values):
        return pa.array([is_valid(k, v) for k, v in
                         zip(kinds.to_pylist(), values.to_pylist(), strict=True)], pa.bool_())

    # The loader's UDF is called value by value ("native"): DuckDB hands it only the non-ASCII
    # values (_pick_message_sql), a small share, and an Arrow UDF's result (`pa.array` of a
    # list) makes pyarrow import pandas, about 0.3 CPU-second in every process that loads
    # personal data (docs/benchmarks-journal.md, "pandas' import in every load").
    for name, fn, params, result, udf_type in (
            ("hub_pii_message_py", _message, [VARCHAR, VARCHAR], VARCHAR, "native"),
            ("hub_pseudonym", _pseudonym, [VARCHAR, VARCHAR], VARCHAR, "arrow"),
            ("hub_name_postcode_pseudonym", _name_postcode, [VARCHAR, VARCHAR], VARCHAR,
             "arrow"),
            ("hub_is_valid", _valid, [VARCHAR, VARCHAR], BOOLEAN, "arrow")):
        with contextlib.suppress(Exception):  # not registered yet on this connection
            con.remove_function(name)
        con.create_function(name, fn, params, result, type=udf_type, null_handling="special",
                            side_effects=False)
    ipad, opad = hmac_pads(key)
    con.execute("set variable hub_pii_ipad = ?", [ipad])
    con.execute("set variable hub_pii_opad = ?", [opad])
    for macro in _macros_sql():
        con.execute(f"create or replace temp macro {macro}")


# --- free text (docs/crm.md, "Free text") -------------------------------------------------------

# Personal data typed into a free-text field: each match is replaced by its marker before the
# text is stored. The patterns are the same in Python (`re`, ASCII) and in DuckDB (RE2).
FREE_TEXT_PATTERNS = (
    ("email", r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "[email]"),
    # UK numbers: 0 or +44 / 0044, then 9 or 10 digits, spaces, dashes or brackets between
    ("phone", r"(?:\+44 ?(?:\(0\))?|\b0044|\(?\b0)(?:[ ()-]{0,2}[0-9]){9,10}\b", "[phone]"),
    ("postcode", r"\b[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}\b", "[postcode]"),
)
FREE_TEXT_MARKERS = tuple(marker for _, _, marker in FREE_TEXT_PATTERNS)
_FREE_TEXT_RES = tuple((re.compile(p, re.ASCII), m) for _, p, m in FREE_TEXT_PATTERNS)


def scrub_free_text(value: str | None) -> str | None:
    """`value` with every e-mail address, UK phone number and postcode replaced by a marker
    (`[email]`, `[phone]`, `[postcode]`); the reference `scrub_free_text_sql` equals."""
    if value is None:
        return None
    for pattern, marker in _FREE_TEXT_RES:
        value = pattern.sub(marker, value)
    return value


def scrub_free_text_sql(expr: str) -> str:
    """DuckDB SQL of `scrub_free_text` over the text expression `expr`."""
    for _, pattern, marker in FREE_TEXT_PATTERNS:
        quoted = pattern.replace("'", "''")
        expr = f"regexp_replace({expr}, '{quoted}', '{marker}', 'g')"
    return expr
