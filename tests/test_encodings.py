"""One encoding rule for the whole file (issue 11, case 7; docs/architecture.md, "Encodings").

Before: Windows-1252 text in the first 8 KB rejected the file, the same bytes further down
quarantined just those lines as INVALID ENCODING. Now a UTF-8 source that is not UTF-8 from
its first byte to its last is decoded whole with `format.fallback_encoding` (Windows-1252 by
default), wherever the first bad byte sits; a file neither decodes is rejected with the byte
offset. Real DuckDB, files written here.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from dagster_project.build_summary import encoding_lines
from dagster_project.ingest import load_source
from tests.test_loader import EASTBROOK_HEADER, eastbrook_file, eastbrook_rows, query, write

CAFE = "Caf\u00e9 \u2013 \u20ac5 Payments"  # é, en dash and euro sign: 0xE9 0x96 0x80 in cp1252


def cp1252_file(position: int) -> bytes:
    """400 rows, UTF-8 except the queue of row `position`, written in Windows-1252."""
    rows = eastbrook_rows(400)
    rows[position - 1] = rows[position - 1].replace("Council Tax", CAFE)
    head = ("\n".join([EASTBROOK_HEADER, *rows[:position - 1]]) + "\n").encode()
    bad = (rows[position - 1] + "\n").encode("cp1252")
    return head + bad + ("\n".join(rows[position:]) + "\n").encode()


@pytest.mark.parametrize("position", [2, 390])  # inside the first 8 KB, and far past it
def test_where_the_windows_1252_byte_sits_does_not_matter(settings, partners, position):
    data = cp1252_file(position)
    assert (len(data.split(b"\n", position)[-1]) < len(data) - 8192) == (position == 390)
    write(eastbrook_file(settings.landing_dir), data)
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 400, 0)
    assert "decoded as cp1252: the file is not valid utf-8 text (format.fallback_encoding)" in (
        result.message)
    assert query(settings, "select queue from raw.telephony_calls where _row_number = ?",
                 [position]) == [(CAFE,)]
    assert query(settings, "select count(*) from raw.rejected_rows") == [(0,)]
    assert query(settings, "select encoding, encoding_fallback, file_lines, rows_read "
                           "from raw.load_files") == [("cp1252", True, 400, 400)]


def test_the_build_summary_names_the_encoding_used(settings, partners):
    write(eastbrook_file(settings.landing_dir, "202403"), cp1252_file(5))
    write(eastbrook_file(settings.landing_dir, "202404"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    con = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        lines = encoding_lines(con)
    finally:
        con.close()
    assert lines == ["NOTE eastbrook telephony: 1 of 2 file(s) decoded as cp1252, the fallback "
                     "encoding (format.fallback_encoding): eastbrook/telephony/"
                     "EB_Telephony_202403.csv"]


def test_a_file_neither_encoding_decodes_is_rejected_with_the_byte_offset(settings, partners):
    """0x81 is undefined in Windows-1252 and invalid in UTF-8: the whole file is rejected,
    naming the byte offset and the YAML key, never the line's content; the delivery before it
    stays."""
    path = write(eastbrook_file(settings.landing_dir),
                 "\n".join([EASTBROOK_HEADER, *eastbrook_rows(5)]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    head = ("\n".join([EASTBROOK_HEADER, *eastbrook_rows(300)]) + "\n").encode()
    write(path, head + b"EB99999;\x81x;Council Tax;A;0:00:01;0:04:10;0:00:00;0:01:00\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "rejected"
    offset = len(head) + len(b"EB99999;")
    assert f"not valid utf-8 text (invalid start byte at byte {offset})" in result.message
    assert f"nor not valid cp1252 text (character maps to <undefined> at byte {offset})" in (
        result.message)
    assert "format.fallback_encoding" in result.message and "kept" in result.message
    assert "EB99999" not in result.message
    assert query(settings, "select count(*) from raw.telephony_calls") == [(5,)]


def test_without_a_fallback_the_file_is_rejected_wherever_the_byte_sits(settings, partners):
    eastbrook = partners["eastbrook"]
    cfg = dataclasses.replace(eastbrook.sources["telephony"], fallback_encoding=None)
    partners = {**partners, "eastbrook": dataclasses.replace(
        eastbrook, sources={**eastbrook.sources, "telephony": cfg})}
    for month, position in (("202403", 2), ("202404", 390)):
        write(eastbrook_file(settings.landing_dir, month), cp1252_file(position))
    report = load_source(settings.work_db, settings.landing_dir, partners)
    assert [f.status for f in report.files] == ["rejected", "rejected"]
    assert all("no format.fallback_encoding to try" in f.message for f in report.files)
    assert query(settings, "select count(*) from raw.telephony_calls") == [(0,)]


def test_json_lines_follow_the_same_rule(settings, partners, tmp_path):
    """A JSON lines CRM file with one Windows-1252 line: decoded whole as Windows-1252, no
    line quarantined for its encoding."""
    from dagster_project.partners import load_partners
    from tests.test_crm_loader import JSONL_PARTNER, jsonl_file, jsonl_line

    folder = tmp_path / "partners"
    folder.mkdir()
    (folder / "jsontown.yml").write_text(JSONL_PARTNER, encoding="utf-8")
    crm = load_partners(folder)
    lines = [jsonl_line(i, ("", "", "", "", "")).encode() for i in range(3)]
    lines[1] = lines[1].replace(b'"Bins"', '"Bins \u2013 Caf\u00e9"'.encode("cp1252"))
    write(jsonl_file(settings), b"\n".join(lines) + b"\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, crm, "crm",
                            pseudonymisation_key="k" * 32).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 3, 0), (
        result.message)
    assert query(settings, "select service from raw.crm_contacts where _row_number = 2") == [
        ("Bins \u2013 Caf\u00e9",)]
    assert query(settings, "select encoding, encoding_fallback, file_lines from raw.load_files"
                 ) == [("cp1252", True, 3)]
