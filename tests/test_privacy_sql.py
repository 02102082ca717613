"""The SQL pseudonymisation (`crm_pseudonyms_sql`, what the loader runs, and the row-by-row
macro `hub_crm_pseudonyms`) gives exactly what the Python reference `crm_pseudonyms` gives."""
# ruff: noqa: RUF001  (look-alike characters are the point of these inputs)

from __future__ import annotations

import hashlib
import hmac
import random

import duckdb
import pyarrow as pa
import pytest

from dagster_project.privacy import (
    CRM_DERIVED,
    crm_pseudonyms,
    crm_pseudonyms_sql,
    pseudonym,
    register_udfs,
)

KEY = "test-key-0123456789abcdef"
COLUMNS = ("name", "phone", "email", "postcode", "uprn")

NAMES = [
    "SMITH, Mr John", "john smith", "Zoë Ångström", "Dr. Mary-Jane O'Neil", "  Rev  Sir   Bob ",
    "Søren KIERKEGAARD 2nd", "MS_ANNE\tLEE", "Mr Mrs Dr", "Mr", "123", "o'brien-SMITH jr.",
    "José Noémie", "Ｊｏｈｎ ＳＭＩＴＨ", "ﬁona STRAẞE", "İlker Işık", "Ωmega σς", "Ⅻ ½ ²",
    "a\u0301b c\u034fd", "Ada\u00a0Lovelace", "王 小明", "Mr\u3000Smith", "dr.who", "mrsmith",
    "", " ", "\t\n", "\u00a0", "\u3000", None,
]
PHONES = [
    "+44 7700 900123", "07700900123", "0044 (0)161 496 0000", "0044 161 496 0000",
    "01632 960 001", "12345", "077009001234", "n/a", "+44 12", "440044 1234 56789",
    "٠٧٧٠٠٩٠٠١٢٣", "０７７００ ９００１２３", "07700\u00a0900123", "", "  ", None,
]
EMAILS = [
    " John.Smith@Example.ORG ", "a@b.co", "no-at-sign.org", "a@b.c", "a b@c.org", "a@b.c0m",
    "\u3000x@y.org\u3000", "ÀB@c.org", "a@b.org\n", "x@y.org\x1c", "", " ", None,
]
POSTCODES = [
    "ab1 2cd", "AB1", "M1 1AE", "SW1A 1AA", "EC1A\t1BB", "12345", "UNKNOWN", "m1 1aß",
    "\u00a0M1 1AE", "sw1a\u20091aa", "", "\t", None,
]
UPRNS = ["100023336956", "UPRN 10-002", "1234567890123", "x", "١٢٣", "0", "", " ", None]


def _rows() -> list[tuple]:
    """Every listed value at least once, in varied combinations, plus repeats."""
    lists = (NAMES, PHONES, EMAILS, POSTCODES, UPRNS)
    n = max(len(v) for v in lists) * 3
    rows = [tuple(v[(i * (k + 1)) % len(v)] for k, v in enumerate(lists)) for i in range(n)]
    return rows + rows[:5]


def _sql_results(con, rows: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """(crm_pseudonyms_sql, hub_crm_pseudonyms) per row, in row order."""
    table = pa.table({"i": list(range(len(rows))),
                      **{c: [r[k] for r in rows] for k, c in enumerate(COLUMNS)}},
                     schema=pa.schema([("i", pa.int64())] + [(c, pa.string()) for c in COLUMNS]))
    con.register("people", table)
    per_set = con.execute(f"select unnest(_pii) from {crm_pseudonyms_sql('people', COLUMNS)} "
                          f"order by i").fetchall()
    per_row = con.execute(f"select unnest(hub_crm_pseudonyms({', '.join(COLUMNS)})) "
                          f"from people order by i").fetchall()
    con.unregister("people")
    return per_set, per_row


def _compare(key: str, rows: list[tuple]) -> list[tuple]:
    con = duckdb.connect()
    register_udfs(con, key)
    per_set, per_row = _sql_results(con, rows)
    expected = [crm_pseudonyms(key)(*r) for r in rows]
    for sql in (per_set, per_row):
        mismatches = [(r, dict(zip(CRM_DERIVED, e, strict=True)), got)
                      for r, e, got in zip(rows, expected, sql, strict=True) if got != e]
        assert not mismatches, mismatches[:3]
    return expected


def _hmac(message: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


def test_sql_equals_the_python_reference_on_listed_values():
    expected = _compare(KEY, _rows())
    # not vacuous: valid and invalid values of every kind occur
    for column in range(6):
        assert any(e[column] is not None for e in expected)
        assert any(e[column] is None for e in expected)
    for column in range(10, 13):
        assert {e[column] for e in expected} == {True, False, None}


def test_known_vectors():
    """Hex keys computed once with Python's hmac, as literals."""
    rows = [("Zoë Ångström", "+44 7700 900123", " John.Smith@Example.ORG ", "ab1 2cd",
             "UPRN 10-002"),
            ("SMITH, Mr John", "0044 7700 900123", "bad", "AB12CD", None),
            ("Søren", None, None, None, None)]
    con = duckdb.connect()
    register_udfs(con, KEY)
    per_set, per_row = _sql_results(con, rows)
    assert per_set == per_row
    zoe, john, soren = (dict(zip(CRM_DERIVED, r, strict=True)) for r in per_set)
    assert zoe["customer_name_key"] == "815e571050ba24244e9adb218a7a3b16" == _hmac(
        "name:angstrom zoe")
    assert soren["customer_name_key"] == "ebb6fd0b1b967151eae538013894727d" == _hmac(
        "name:søren")
    assert zoe["phone_key"] == john["phone_key"] == "312cf52a5fe7652cfae470d59773d003" == _hmac(
        "phone:07700900123")
    assert zoe["email_key"] == "32c6d30f3697adc5f4e1090c9ec4411a" == _hmac(
        "email:john.smith@example.org")
    assert zoe["postcode_key"] == john["postcode_key"] == "4e4fe72f46997e8b8e6ca1801a561ae0"
    assert zoe["uprn_key"] == "317988577c37979ab75b8a5385e14197" == _hmac("uprn:10002")
    assert john["name_postcode_key"] == "7309d049ae1ef93d349feaf1a8c8e676" == _hmac(
        "name_postcode:john smith|AB12CD")
    assert (john["email_key"], john["is_email_valid"], john["uprn_key"]) == (None, False, None)
    assert (soren["has_phone"], soren["is_phone_valid"]) == (False, None)


@pytest.mark.parametrize("key", ["k" * 100, "ключ-секрет-0123456789", "x" * 64])
def test_keys_longer_than_a_block_or_not_ascii(key):
    expected = _compare(key, _rows()[:12])
    assert expected[0][1] == pseudonym(key, "phone", "+44 7700 900123") == _hmac(
        "phone:07700900123", key)


_CHARS = [
    *"aZqQ09+-()@._,'/&",
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\x7f", "\xa0", "\x85",
    "\u3000", "\u2028", "\u2009", "é", "É", "ë", "ø", "Å", "ß", "ẞ", "İ", "ı", "ﬁ", "Ω", "Σ",
    "ς", "\u0301", "\u0327", "\u034f", "ः", "Ⅻ", "²", "½", "٣", "０", "Ａ", "中", "😀", "ǅ",
    "ⓐ", "〇", "Ǆ", "ŉ", "ﬀ", "\u200b", "\ufeff",
]
_TOKENS = ["Mr", "mrs", "DR.", "Sir", "prof", "+44", "0044", "07700900123", "1614960000",
           "AB1 2CD", "sw1a", "1aa", "x@y.org", "John", "SMITH", "Zoë", "100023336956"]


def _random_value(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.08:
        return None
    if roll < 0.12:
        return rng.choice(["", " ", "\t", "\u00a0"])
    parts = [rng.choice(_TOKENS) if rng.random() < 0.4 else rng.choice(_CHARS)
             for _ in range(rng.randint(1, 8))]
    return rng.choice(["", " "]).join(parts)


def test_random_strings_sql_equals_the_python_reference():
    rng = random.Random(20261123)
    rows = [tuple(_random_value(rng) for _ in COLUMNS) for _ in range(3000)]
    rows += rows[:300]  # repeats: each distinct value is computed once
    expected = _compare(KEY, rows)
    assert sum(e[0] is not None for e in expected) > 1000
    assert sum(e[1] is not None for e in expected) > 50  # valid phones
    assert sum(not str(r[0]).isascii() for r in rows) > 1000


def test_nothing_is_stored(tmp_path):
    """Macros, the Python UDF and the key's pads are the connection's: after a query that
    pseudonymises, the database file holds no function, variable or table of them."""
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    register_udfs(con, KEY)
    con.execute("create table t as select 'john smith' as name")
    con.execute(f"create table k as select _pii.customer_name_key as key from "
                f"{crm_pseudonyms_sql('t', ['name', 'null', 'null', 'null', 'null'])}")
    con.close()
    con = duckdb.connect(str(path))
    assert con.execute("select count(*) from duckdb_functions() "
                       "where function_name like 'hub_%'").fetchone() == (0,)
    assert con.execute("select count(*) from duckdb_variables()").fetchone() == (0,)
    assert con.execute("select key from k").fetchall() == [(_hmac("name:john smith"),)]
    assert sorted(r[0] for r in con.execute("show tables").fetchall()) == ["k", "t"]
