"""Every line of a delivered file accounted for (issue 11, case 5; docs/architecture.md,
"Line accounting"): an unterminated quote never swallows the rows after it.

Real DuckDB, real files written here in the partner's declared format.
"""

from __future__ import annotations

import dataclasses

from dagster_project.ingest import load_source
from dagster_project.ingest.lines import count_lines, locate_breaks
from tests.test_loader import EASTBROOK_HEADER, eastbrook_file, eastbrook_rows, query, write

BOOKKEEPING = ("select rows_read, rows_loaded, rows_rejected, file_lines, quoted_line_breaks "
               "from raw.load_files")


def test_a_stray_quote_rejects_its_line_and_the_rows_after_it_load(settings, partners):
    """Case 5: one stray `"` at data row 101 of 200. DuckDB's reader alone made one rejected
    "line" of rows 101-200 (99 good calls gone, counts reconciled); the line count read apart
    from the reader finds the gap, the line is rejected on its own and rows 102-200 load with
    their true row numbers."""
    rows = eastbrook_rows(200)
    rows[100] = rows[100].replace(";Council Tax;", ';"Council Tax;')  # data row 101
    write(eastbrook_file(settings.landing_dir), "\n".join([EASTBROOK_HEADER, *rows]) + "\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 199, 1)
    assert "unterminated quote (first: row 101)" in result.message
    assert "EB00101" not in result.message  # never the line's content
    assert query(settings, BOOKKEEPING) == [(200, 199, 1, 200, 0)]
    ((row, reason, raw_line),) = query(settings, "select _row_number, reason, raw_line "
                                                 "from raw.rejected_rows")
    assert row == 101 and reason.startswith("UNTERMINATED QUOTE") and raw_line == rows[100]
    loaded = query(settings, "select _row_number, call_id from raw.telephony_calls order by 1")
    assert [n for n, _ in loaded] == [*range(1, 101), *range(102, 201)]
    assert all(call_id == f"EB{n:05d}" for n, call_id in loaded)


def test_two_stray_quotes_never_merge_the_rows_between_them(settings, partners):
    """A stray opening quote at row 101 and a stray quote at row 151 that would close it:
    DuckDB alone read rows 101-151 as ONE valid row (49 calls silently gone). The opening
    quote's line is rejected; row 151's quote, inside an unquoted field, is text."""
    rows = eastbrook_rows(200)
    rows[100] = rows[100].replace(";Council Tax;", ';"Council Tax;')
    rows[150] = rows[150].replace(";Council Tax;", ';Council Tax";')
    write(eastbrook_file(settings.landing_dir), "\n".join([EASTBROOK_HEADER, *rows]) + "\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 199, 1)
    assert query(settings, "select _row_number from raw.rejected_rows") == [(101,)]
    assert query(settings, "select queue from raw.telephony_calls where _row_number = 151"
                 ) == [('Council Tax"',)]
    assert query(settings, BOOKKEEPING) == [(200, 199, 1, 200, 0)]


def test_quoted_fields_and_empty_lines_keep_their_row_numbers(settings, partners):
    """Well-formed quoted fields (with delimiters and doubled quotes), a quote inside an
    unquoted field, an empty line in the middle and empty lines at the end: the fast count
    reconciles, and the empty line takes no row number."""
    rows = eastbrook_rows(12)
    rows[2] = rows[2].replace(";Council Tax;", ';"Council; ""Tax""";')
    rows[4] = rows[4].replace(";Council Tax;", ';Council 5" Tax;')
    lines = [EASTBROOK_HEADER, *rows[:6], "", *rows[6:]]
    write(eastbrook_file(settings.landing_dir), "\r\n".join(lines) + "\r\n\r\n\r\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 12, 0)
    assert query(settings, BOOKKEEPING) == [(12, 12, 0, 12, 0)]
    loaded = query(settings, "select _row_number, call_id, queue from raw.telephony_calls "
                             "order by 1")
    assert [n for n, _, _ in loaded] == [*range(1, 7), *range(8, 14)]
    assert [c for _, c, _ in loaded] == [f"EB{n:05d}" for n in range(1, 13)]
    assert loaded[2][2] == 'Council; "Tax"' and loaded[4][2] == 'Council 5" Tax'


def test_multiline_fields_when_the_yaml_allows_them(settings, partners):
    """With `format.multiline_fields: true` a closed quoted field may span lines (counted in
    `quoted_line_breaks`); only a quote still open at the end of the file is a stray one."""
    eastbrook = partners["eastbrook"]
    cfg = dataclasses.replace(eastbrook.sources["telephony"], multiline_fields=True)
    partners = {**partners, "eastbrook": dataclasses.replace(
        eastbrook, sources={**eastbrook.sources, "telephony": cfg})}
    rows = eastbrook_rows(20)
    rows[3] = rows[3].replace(";Council Tax;", ';"Council\nTax";')
    rows[15] = rows[15].replace(";Council Tax;", ';"Council Tax;')  # never closed
    write(eastbrook_file(settings.landing_dir), "\n".join([EASTBROOK_HEADER, *rows]) + "\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 19, 1)
    assert query(settings, BOOKKEEPING) == [(20, 19, 1, 21, 1)]
    assert query(settings, "select _row_number from raw.rejected_rows") == [(16,)]
    assert query(settings, "select queue from raw.telephony_calls where _row_number = 4") == [
        ("Council\nTax",)]
    assert query(settings, "select max(_row_number), count(*) from raw.telephony_calls") == [
        (20, 19)]


def test_line_count_and_breaks_on_their_own(tmp_path):
    """The two counts: physical lines and empty lines whatever the quotes, across block
    boundaries; the slow path's records, broken lines and line breaks in quoted fields."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"h;x\n" + b"a;b\n" * 3 + b"\n" + b'"c\nd";e\n' + b"f;g")
    lc = count_lines(path)
    assert (lc.lines, lc.trailing_blank, lc.has_quote, lc.may_have_blank) == (8, 0, True, True)
    assert not lc.reconciles(7)  # an empty line in a file with quotes: the slow path
    path.write_bytes(b"h;x\r\n" + b"a;b\r\n" * 3 + b"\r\n\r\n")
    lc = count_lines(path)
    assert (lc.lines, lc.trailing_blank, lc.has_quote) == (6, 2, False)
    assert lc.reconciles(4) and not lc.reconciles(3)
    path.write_bytes(b"h;x\n" + b"a;b\n" * 3 + b"\n" + b'"c\nd";e\n' + b"f;g")
    closed = locate_breaks(path, ";", b"\n", multiline=True)
    assert (closed.records, closed.broken, closed.quoted_line_breaks, closed.blank) == (
        7, [], 1, [5])
    stray = locate_breaks(path, ";", b"\n", multiline=False)
    assert [b[0] for b in stray.broken] == [6] and stray.records == 8
