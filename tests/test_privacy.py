"""Normalisation, validity and keyed hashes of the CRM personal fields (docs/crm.md)."""

from __future__ import annotations

import sys

import duckdb
import pytest

from dagster_project import privacy
from dagster_project.privacy import (
    is_valid,
    keyed_hash,
    name_postcode_pseudonym,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    normalise_uprn,
    pseudonym,
    register_udfs,
)

KEY = "test-key-0123456789abcdef"


@pytest.mark.parametrize("a, b", [
    ("SMITH, Mr John", "john smith"),
    ("Zoë Ångström", "angstrom zoe"),
    ("Dr. Mary-Jane O'Neil", "jane mary neil o"),
    ("  Rev  Sir   Bob ", "bob"),
    ("Søren KIERKEGAARD 2nd", "kierkegaard nd søren"),
    ("MS_ANNE\tLEE", "anne lee"),
])
def test_name_normalisation(a, b):
    assert normalise_name(a) == b
    assert pseudonym(KEY, "name", a) == pseudonym(KEY, "name", b)


def test_names_that_differ_have_different_keys():
    assert pseudonym(KEY, "name", "John Smith") != pseudonym(KEY, "name", "Jane Smith")
    assert normalise_name("") is None and normalise_name(None) is None
    assert normalise_name("Mr") is None and pseudonym(KEY, "name", "Mr") is None


@pytest.mark.parametrize("value, normalised, valid", [
    ("+44 7700 900123", "07700900123", True),
    ("07700900123", "07700900123", True),
    ("0044 (0)161 496 0000", "001614960000", False),
    ("0044 161 496 0000", "01614960000", True),
    ("01632 960 001", "01632960001", True),
    ("12345", "12345", False),
    ("077009001234", "077009001234", False),
])
def test_phone(value, normalised, valid):
    assert normalise_phone(value) == normalised
    assert is_valid("phone", value) is valid
    assert (pseudonym(KEY, "phone", value) is not None) is valid


def test_same_phone_two_spellings_same_key():
    assert pseudonym(KEY, "phone", "+44 7700 900123") == pseudonym(KEY, "phone", "07700900123")


@pytest.mark.parametrize("value, valid", [
    (" John.Smith@Example.ORG ", True), ("a@b.co", True), ("no-at-sign.org", False),
    ("a@b.c", False), ("a b@c.org", False), ("a@b.c0m", False),
])
def test_email(value, valid):
    assert is_valid("email", value) is valid
    if valid:
        assert normalise_email(value) == value.strip().lower()


@pytest.mark.parametrize("value, normalised, valid", [
    ("ab1 2cd", "AB12CD", True), ("AB1", "AB1", False), ("M1 1AE", "M11AE", True),
    ("SW1A 1AA", "SW1A1AA", True), ("EC1A\t1BB", "EC1A1BB", True), ("12345", "12345", False),
])
def test_postcode(value, normalised, valid):
    assert normalise_postcode(value) == normalised
    assert is_valid("postcode", value) is valid


@pytest.mark.parametrize("value, normalised, valid", [
    ("100023336956", "100023336956", True), ("UPRN 10-002", "10002", True),
    ("1234567890123", "1234567890123", False), ("x", None, False),
])
def test_uprn(value, normalised, valid):
    assert normalise_uprn(value) == normalised
    assert is_valid("uprn", value) is valid


def test_empty_values_are_not_valid_or_invalid():
    for kind in ("name", "phone", "email", "postcode", "uprn"):
        assert is_valid(kind, None) is None and is_valid(kind, "  ") is None
        assert pseudonym(KEY, kind, "") is None


def test_keyed_hash_is_hmac_sha256_of_kind_and_value():
    import hashlib
    import hmac

    expected = hmac.new(KEY.encode(), b"phone:07700900123", hashlib.sha256).hexdigest()[:32]
    assert keyed_hash(KEY, "phone", "07700900123") == expected
    assert len(expected) == 32
    # the kind is part of the message: same digits as phone and uprn give different keys
    assert pseudonym(KEY, "uprn", "07700900123") != pseudonym(KEY, "phone", "07700900123")
    assert pseudonym("another-key-0123456789", "phone", "07700900123") != expected


def test_name_postcode_key_needs_both_and_a_valid_postcode():
    a = name_postcode_pseudonym(KEY, "SMITH, Mr John", "ab1 2cd")
    assert a is not None and a == name_postcode_pseudonym(KEY, "john smith", "AB12CD")
    assert name_postcode_pseudonym(KEY, "john smith", "AB1") is None
    assert name_postcode_pseudonym(KEY, "", "AB12CD") is None
    assert name_postcode_pseudonym(KEY, "john smith", None) is None


def test_duckdb_udfs_match_the_python_functions():
    con = duckdb.connect()
    register_udfs(con, KEY)
    register_udfs(con, KEY)  # registering twice on a connection is fine
    rows = con.execute("""
        select hub_pseudonym('phone', v), hub_is_valid('phone', v),
               hub_name_postcode_pseudonym('john smith', v)
        from (values ('+44 7700 900123'), (null), ('AB1 2CD')) t(v)
    """).fetchall()
    assert rows == [
        (pseudonym(KEY, "phone", "+44 7700 900123"), True, None),
        (None, None, None),
        (None, False, name_postcode_pseudonym(KEY, "john smith", "AB1 2CD"))]
    # vectorised: many rows in one call
    (count,) = con.execute("select count(hub_pseudonym('email', 'p' || range || '@x.org')) "
                           "from range(50000)").fetchone()
    assert count == 50000


def test_crm_pseudonyms_struct_matches_the_single_functions():
    from dagster_project.privacy import CRM_DERIVED, crm_pseudonyms

    derive = crm_pseudonyms(KEY)
    person = ("SMITH, Mr John", "+44 7700 900123", "bad-email", "ab1 2cd", "")
    values = dict(zip(CRM_DERIVED, derive(*person), strict=True))
    assert values == {
        "customer_name_key": pseudonym(KEY, "name", person[0]),
        "phone_key": pseudonym(KEY, "phone", person[1]),
        "email_key": None,
        "postcode_key": pseudonym(KEY, "postcode", person[3]),
        "uprn_key": None,
        "name_postcode_key": name_postcode_pseudonym(KEY, person[0], person[3]),
        "has_customer_name": True, "has_phone": True, "has_email": True, "has_postcode": True,
        "is_phone_valid": True, "is_email_valid": False, "is_postcode_valid": True}
    con = duckdb.connect()
    register_udfs(con, KEY)
    (row,) = con.execute("select unnest(hub_crm_pseudonyms(?, ?, ?, ?, ?))",
                         list(person)).fetchall()
    assert row == tuple(values.values())


def test_the_white_space_class_covers_every_white_space_character_of_unicode():
    """privacy._space_class scans code points below SPACE_SCAN_END only: no white space lies
    above it in this Python's Unicode tables."""
    assert privacy._space_class() == privacy._space_class(sys.maxunicode + 1)
