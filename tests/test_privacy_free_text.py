"""Personal data typed into CRM free text (issue 11, case 8; docs/crm.md, "Free text").

An e-mail address, a UK phone number and a postcode typed into the enquiry-type field reached
`marts.fct_contacts` in clear. The loader now replaces them by markers before the text is
stored, `kpi_data_quality` counts the rows as `free_text_scrubbed`, and the privacy scan of the
served files looks for e-mail- and phone-shaped text in every text cell
(`tests/test_privacy_serving.py::scan_patterns`), not only for the landing files' personal
field values. Real loader over a small landing set written here; end to end (a real `hub
build`): tests/test_ingest_rows.py.
"""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.ingest import load_source
from dagster_project.partners import load_partners
from dagster_project.privacy import scrub_free_text, scrub_free_text_sql
from tests.crm_small_landing import ALPHA_HEADER, write_small_landing

TYPED = "ring Jo on 07700 900123 or jo.bloggs@example.com, lives AB1 2CD"
SCRUBBED = "ring Jo on [phone] or [email], lives [postcode]"
CLEAR = ("07700 900123", "07700900123", "jo.bloggs@example.com", "AB1 2CD")


@pytest.mark.parametrize("value, expected", [
    (TYPED, SCRUBBED),
    ("call +44 (0)161 496 0000 / 0161-496-0000", "call [phone] / [phone]"),
    ("Request: JO.BLOGGS@EXAMPLE.CO.UK", "Request: [email]"),
    ("m1 1ae and SW1A 1AA", "[postcode] and [postcode]"),
    ("payment 2024 ref 123456 B12", "payment 2024 ref 123456 B12"),  # nothing personal
    (None, None),
])
def test_scrubbing_in_python_and_in_duckdb(value, expected):
    assert scrub_free_text(value) == expected
    assert duckdb.execute(f"select {scrub_free_text_sql('?::varchar')}", [value]).fetchone() == (
        expected,)


def alpha_row(ref: str, enquiry_type: str) -> str:
    return f"{ref};02/05/2024 09:00;TEL;;Council Tax;{enquiry_type};Y;;-;;;;;;;;;"


def write_typed_file(landing) -> None:
    text = "\r\n".join([ALPHA_HEADER, alpha_row("A20", TYPED), alpha_row("A21", "request")])
    (landing / "alpha" / "crm" / "alpha_crm_2024_05.csv").write_bytes(
        b"\xef\xbb\xbf" + (text + "\r\n").encode("cp1252"))


def test_the_loader_stores_the_markers_never_the_values(tmp_path):
    landing, partners_dir, _ = write_small_landing(tmp_path)
    write_typed_file(landing)
    db = tmp_path / "work.duckdb"
    load_source(db, landing, load_partners(partners_dir), "crm", pseudonymisation_key="k" * 32)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select enquiry_type from raw.crm_contacts where enquiry_id = 'A20'"
                           ).fetchall() == [(SCRUBBED,)]
        assert con.execute("select enquiry_type from raw.crm_contacts where enquiry_id = 'A21'"
                           ).fetchall() == [("request",)]
    finally:
        con.close()
    blob = db.read_bytes().lower()
    assert not [v for v in CLEAR if v.lower().encode() in blob]


# End to end (a real `hub build`, every published file scanned): tests/test_ingest_rows.py,
# test_free_text_personal_data_never_reaches_the_served_files.
