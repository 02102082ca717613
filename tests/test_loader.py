"""Loading landing files into raw: formats, idempotence, re-delivery and every kind of bad file.

Real DuckDB, real files written here by hand in each partner's declared format.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import duckdb
import openpyxl
import pytest

from dagster_project.ingest import load_source
from tests.conftest import copy_realdata

EASTBROOK_HEADER = "Call Ref;Call Start;Service;Result;Queue Time;Talk Time;Hold Time;Wrap Time"


def eastbrook_rows(n: int, start: int = 1) -> list[str]:
    return [f"EB{i:05d};0{1 + i % 9}/03/2024 10:{i % 60:02d}:00;Council Tax;A;0:00:{i % 50:02d};"
            f"0:04:10;0:00:00;0:01:00" for i in range(start, start + n)]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def eastbrook_file(landing: Path, month: str = "202403") -> Path:
    return landing / "eastbrook" / "telephony" / f"EB_Telephony_{month}.csv"


def query(settings, sql: str, params=None):
    con = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def statuses(report) -> dict[str, str]:
    return {f.rel_path: f.status for f in report.files}


def test_real_export_loads_with_lineage(settings, partners):
    copy_realdata(settings.landing_dir)
    report = load_source(settings.work_db, settings.landing_dir, partners)
    assert report.count("loaded") == 1 and report.rows_loaded == 5000
    rows = query(settings, "select count(*), min(_row_number), max(_row_number), "
                           "count(distinct _row_number), count(distinct _file_hash), "
                           "min(started_at), count(*) filter (where wait is null) "
                           "from raw.telephony_calls where partner_code = 'phonenow'")
    assert rows == [(5000, 1, 5000, 5000, 1, "2021-01-01 09:12:58", 946)]
    first = query(settings, "select call_id, queue, outcome, wait, talk from raw.telephony_calls "
                            "where _row_number = 1")
    assert first == [("ID0001", "Contract related", "Y", "109", "00:02:23")]


def test_loading_twice_changes_nothing(settings, partners):
    copy_realdata(settings.landing_dir)
    load_source(settings.work_db, settings.landing_dir, partners)
    before = query(settings, "select count(*), max(_load_id) from raw.telephony_calls")
    again = load_source(settings.work_db, settings.landing_dir, partners)
    assert again.count("unchanged") == 1 and again.rows_loaded == 0
    assert query(settings, "select count(*), max(_load_id) from raw.telephony_calls") == before


def test_redelivery_replaces_the_partner_month(settings, partners):
    path = write(eastbrook_file(settings.landing_dir),
                 "\n".join([EASTBROOK_HEADER, *eastbrook_rows(30)]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    write(path, "\n".join([EASTBROOK_HEADER, *eastbrook_rows(25, start=100)]) + "\n")
    report = load_source(settings.work_db, settings.landing_dir, partners)
    assert statuses(report) == {"eastbrook/telephony/EB_Telephony_202403.csv": "replaced"}
    assert query(settings, "select count(*), min(call_id) from raw.telephony_calls") == [
        (25, "EB00100")]
    assert query(settings, "select count(*), sum(rows_loaded) from raw.load_files") == [(1, 25)]


def test_truncated_file_quarantines_the_broken_line_and_keeps_the_rest(settings, partners):
    text = "\n".join([EASTBROOK_HEADER, *eastbrook_rows(40)]) + "\n"
    write(eastbrook_file(settings.landing_dir), text[: text.rindex(";0:04:10")])
    report = load_source(settings.work_db, settings.landing_dir, partners)
    (result,) = report.files
    assert result.status == "loaded" and result.rows_loaded == 39 and result.rows_rejected == 1
    rejected = query(settings, "select _row_number, reason, raw_line from raw.rejected_rows")
    assert len(rejected) == 1
    assert rejected[0][0] == 40 and "MISSING COLUMNS" in rejected[0][1]
    assert rejected[0][2].startswith("EB00040;")
    assert query(settings, "select max(_row_number), count(*) from raw.telephony_calls") == [
        (39, 39)]
    assert query(settings, "select rows_read, rows_loaded, rows_rejected from raw.load_files") == [
        (40, 39, 1)]


def test_malformed_line_in_the_middle_keeps_row_numbers_true(settings, partners):
    rows = eastbrook_rows(10)
    rows[4] = rows[4] + ";extra;fields"
    write(eastbrook_file(settings.landing_dir), "\n".join([EASTBROOK_HEADER, *rows]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    assert query(settings, "select _row_number from raw.rejected_rows") == [(5,)]
    loaded = query(settings, "select _row_number, call_id from raw.telephony_calls order by 1")
    assert [r[0] for r in loaded] == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert all(call_id == f"EB{n:05d}" for n, call_id in loaded)


def test_wrong_delimiter_is_rejected_and_keeps_the_last_good_delivery(settings, partners):
    path = write(eastbrook_file(settings.landing_dir),
                 "\n".join([EASTBROOK_HEADER, *eastbrook_rows(12)]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    write(path, "\n".join(line.replace(";", ",") for line in
                          [EASTBROOK_HEADER, *eastbrook_rows(20)]) + "\n")
    report = load_source(settings.work_db, settings.landing_dir, partners)
    (result,) = report.files
    assert result.status == "rejected"
    assert "EB_Telephony_202403.csv" in result.message
    assert "wrong delimiter" in result.message and "kept" in result.message
    assert query(settings, "select count(*) from raw.telephony_calls") == [(12,)]
    events = query(settings, "select status, message from raw.load_events order by event_at")
    assert events[-1][0] == "rejected" and "EB_Telephony_202403.csv" in events[-1][1]


def test_unparseable_dates_are_loaded_as_text_for_typed_quarantine(settings, partners):
    rows = eastbrook_rows(3)
    rows[1] = rows[1].replace("03/2024 10:", "13/2024 99:")
    write(eastbrook_file(settings.landing_dir), "\n".join([EASTBROOK_HEADER, *rows]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    assert query(settings, "select count(*) from raw.telephony_calls") == [(3,)]
    assert query(settings, "select started_at from raw.telephony_calls where _row_number = 2"
                 ) == [("03/13/2024 99:02:00",)]


def test_duplicate_delivery_under_another_name_is_rejected(settings, partners):
    content = "\n".join([EASTBROOK_HEADER, *eastbrook_rows(8)]) + "\n"
    write(eastbrook_file(settings.landing_dir, "202403"), content)
    load_source(settings.work_db, settings.landing_dir, partners)
    write(eastbrook_file(settings.landing_dir, "202404"), content)
    report = load_source(settings.work_db, settings.landing_dir, partners)
    result = {f.rel_path: f for f in report.files}["eastbrook/telephony/EB_Telephony_202404.csv"]
    assert result.status == "rejected" and "duplicate delivery" in result.message
    assert "EB_Telephony_202403.csv" in result.message
    assert query(settings, "select count(*) from raw.telephony_calls") == [(8,)]


def test_empty_file_is_rejected(settings, partners):
    write(eastbrook_file(settings.landing_dir), b"")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "rejected" and "empty (0 bytes)" in result.message
    assert "EB_Telephony_202403.csv" in result.message


def test_header_only_file_is_a_delivery_of_no_calls(settings, partners):
    """A daily-file partner closed on a Sunday sends just the header: that is news, not dirt."""
    write(eastbrook_file(settings.landing_dir), EASTBROOK_HEADER + "\n")
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "loaded" and "header only" in result.message
    assert query(settings, "select rows_read from raw.load_files") == [(0,)]


@pytest.mark.parametrize("content, expected", [
    (b"", "empty (0 bytes)"),
    ((EASTBROOK_HEADER + "\n").encode(), "would replace a delivery of 5 rows"),
])
def test_empty_redelivery_does_not_wipe_good_rows(settings, partners, content, expected):
    path = write(eastbrook_file(settings.landing_dir),
                 "\n".join([EASTBROOK_HEADER, *eastbrook_rows(5)]) + "\n")
    load_source(settings.work_db, settings.landing_dir, partners)
    write(path, content)
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "rejected" and expected in result.message
    assert "EB_Telephony_202403.csv" in result.message and "kept" in result.message
    assert query(settings, "select count(*) from raw.telephony_calls") == [(5,)]


def test_unknown_partner_folder_and_unexpected_file_names(settings, partners):
    write(settings.landing_dir / "newtown" / "telephony" / "calls.csv", "a,b\n1,2\n")
    write(settings.landing_dir / "eastbrook" / "telephony" / "EB_Telephony_March.csv", "x\n")
    report = load_source(settings.work_db, settings.landing_dir, partners)
    messages = {f.rel_path: f.message for f in report.rejected}
    assert "no partner configuration" in messages["newtown"]
    assert "seeds/partners/newtown.yml" in messages["newtown"]
    assert "period_pattern" in messages["eastbrook/telephony/EB_Telephony_March.csv"]
    assert report.rows_loaded == 0


def test_windows_1252_with_bom(settings, partners):
    header = ("Call ID,Start Date/Time,Queue,Outcome Code,Time in Queue,Talk Duration,"
              "Hold Duration,Wrap Duration")
    body = "SF1,04/03/2024 09:15,Council Tax – £ Payments,1,0:00:12,0:03:00,0:00:00,0:00:45"
    data = b"\xef\xbb\xbf" + (header + "\r\n" + body + "\r\n").encode("cp1252")
    write(settings.landing_dir / "southfield" / "telephony" / "Southfield Calls 03-2024.csv", data)
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "loaded", result.message
    assert query(settings, "select call_id, queue, started_at from raw.telephony_calls") == [
        ("SF1", "Council Tax – £ Payments", "04/03/2024 09:15")]


def test_excel_workbook(settings, partners):
    path = settings.landing_dir / "westvale" / "telephony" / "westvale_calls_2024_03.xlsx"
    path.parent.mkdir(parents=True)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Calls"
    sheet.append(["Call Number", "Date Time", "Queue Name", "Disposition", "Wait (s)",
                  "Talk (s)", "Hold (s)", "ACW (s)"])
    sheet.append(["WV1", dt.datetime(2024, 3, 4, 9, 15, 7), "Bins", "Handled", 12, 200, 0, 30])
    sheet.append(["WV2", dt.datetime(2024, 3, 4, 9, 16), "Bins", "Abandoned", 40, None, None,
                  None])
    book.save(path)
    (result,) = load_source(settings.work_db, settings.landing_dir, partners).files
    assert result.status == "loaded", result.message
    assert query(settings, "select call_id, started_at, wait, talk from raw.telephony_calls "
                           "order by 1") == [("WV1", "2024-03-04 09:15:07", "12", "200"),
                                             ("WV2", "2024-03-04 09:16:00", "40", None)]


def test_scope_limits_the_load_to_selected_partner_months(settings, partners):
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]) + "\n")
    write(eastbrook_file(settings.landing_dir, "202404"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(4, start=50)]) + "\n")
    report = load_source(settings.work_db, settings.landing_dir, partners,
                         scope={("eastbrook", dt.date(2024, 4, 1))})
    assert [f.rel_path for f in report.files] == ["eastbrook/telephony/EB_Telephony_202404.csv"]
    assert query(settings, "select count(*) from raw.telephony_calls") == [(4,)]


def test_a_file_duckdb_cannot_read_costs_no_other_file(settings, partners):
    """A file DuckDB refuses (a repeated column name) aborts the partner's batch transaction;
    the batch is retried file by file, so the good files still load."""
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(6)]) + "\n")
    write(eastbrook_file(settings.landing_dir, "202404"),
          "\n".join([EASTBROOK_HEADER + ";Service", *(r + ";x" for r in eastbrook_rows(4))]))
    report = load_source(settings.work_db, settings.landing_dir, partners)
    result = {f.rel_path.rsplit("/", 1)[1]: f for f in report.files}
    assert result["EB_Telephony_202403.csv"].status == "loaded"
    assert result["EB_Telephony_202404.csv"].status == "rejected"
    message = result["EB_Telephony_202404.csv"].message
    assert "EB_Telephony_202404.csv" in message and "DuckDB could not read it" in message
    assert 'Duplicate named argument "Service"' in message
    assert query(settings, "select count(*) from raw.telephony_calls") == [(6,)]


def test_files_read_together_keep_their_own_line_numbers_and_rejections(settings, partners):
    """The new files of a partner are read by one statement: a malformed line is numbered and
    explained within its own file, a bad header rejects only its file, and the rows of each file
    keep their own row numbers."""
    good = eastbrook_rows(5)
    broken = eastbrook_rows(7, start=100)
    broken[2] += ";extra"  # data row 3 of the April file
    broken[5] = broken[5][:10]  # data row 6: too few fields
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *good]) + "\n")
    write(eastbrook_file(settings.landing_dir, "202404"),
          "\n".join([EASTBROOK_HEADER, *broken]) + "\n")
    write(eastbrook_file(settings.landing_dir, "202405"),
          "\n".join([EASTBROOK_HEADER.replace("Call Ref", "Ref"), *eastbrook_rows(3)]) + "\n")
    write(eastbrook_file(settings.landing_dir, "202406"), EASTBROOK_HEADER + "\n")
    report = load_source(settings.work_db, settings.landing_dir, partners)
    result = {f.rel_path.rsplit("_", 1)[1]: f for f in report.files}
    assert [(k, r.status, r.rows_loaded, r.rows_rejected) for k, r in sorted(result.items())] == [
        ("202403.csv", "loaded", 5, 0), ("202404.csv", "loaded", 5, 2),
        ("202405.csv", "rejected", 0, 0), ("202406.csv", "loaded", 0, 0)]
    assert "lacks configured column(s) ['Call Ref']" in result["202405.csv"].message
    assert "EB_Telephony_202405.csv" in result["202405.csv"].message
    rejected = query(settings, "select _source_file, _row_number, reason, raw_line "
                               "from raw.rejected_rows order by 2")
    assert [(r[0].rsplit("_", 1)[1], r[1]) for r in rejected] == [("202404.csv", 3),
                                                                  ("202404.csv", 6)]
    assert "TOO MANY COLUMNS" in rejected[0][2] and rejected[0][3].startswith("EB00102;")
    assert "MISSING COLUMNS" in rejected[1][2] and rejected[1][3] == broken[5]
    rows = query(settings, "select _source_file, _row_number, call_id from raw.telephony_calls "
                           "order by 1, 2")
    assert [(f.rsplit("_", 1)[1], n, c) for f, n, c in rows] == [
        *(("202403.csv", n, f"EB{n:05d}") for n in range(1, 6)),
        *(("202404.csv", n, f"EB{99 + n:05d}") for n in (1, 2, 4, 5, 7))]
    assert query(settings, "select source_file, rows_read, rows_loaded, rows_rejected "
                           "from raw.load_files order by 1") == [
        ("eastbrook/telephony/EB_Telephony_202403.csv", 5, 5, 0),
        ("eastbrook/telephony/EB_Telephony_202404.csv", 7, 5, 2),
        ("eastbrook/telephony/EB_Telephony_202406.csv", 0, 0, 0)]


def test_identical_new_files_in_one_batch_load_once(settings, partners):
    """Two new files with the same content: the first loads, the second is a duplicate of it,
    as when they were loaded one after the other."""
    content = "\n".join([EASTBROOK_HEADER, *eastbrook_rows(4)]) + "\n"
    write(eastbrook_file(settings.landing_dir, "202403"), content)
    write(eastbrook_file(settings.landing_dir, "202404"), content)
    report = load_source(settings.work_db, settings.landing_dir, partners)
    assert [f.status for f in report.files] == ["loaded", "rejected"]
    assert "identical content to eastbrook/telephony/EB_Telephony_202403.csv" in (
        report.files[1].message)
    assert query(settings, "select count(*) from raw.telephony_calls") == [(4,)]


def with_twinbrook(partners) -> dict:
    """Eastbrook and a twin partner, twinbrook (files TB_Telephony_YYYYMM.csv), whose files have
    Eastbrook's header but which reads its call id from the service column and its queue from
    the call reference: the same format, another column mapping."""
    eastbrook = partners["eastbrook"]
    telephony = eastbrook.sources["telephony"]
    swapped = dict(telephony.columns)
    swapped["call_id"], swapped["queue"] = telephony.columns["queue"], telephony.columns["call_id"]
    twin_source = dataclasses.replace(
        telephony, columns={name: dataclasses.replace(spec, field=name)
                            for name, spec in swapped.items()},
        period_pattern=re.compile(r"TB_Telephony_(?P<year>\d{4})(?P<month>\d{2})\.csv$"))
    twin = dataclasses.replace(eastbrook, code="twinbrook", sources={"telephony": twin_source})
    return {"eastbrook": eastbrook, "twinbrook": twin}


def test_partners_loaded_together_keep_their_own_column_mappings(settings, partners):
    """Small partners share one transaction (`MAX_BATCH_BYTES`) and files of one format are
    read by one statement: two partners with the same header but different column mappings
    each get their own mapping, and a file identical to another partner's is a duplicate of it,
    as when the partners were loaded one after the other."""
    both = with_twinbrook(partners)
    content = "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]) + "\n"
    write(eastbrook_file(settings.landing_dir, "202403"), content)
    write(settings.landing_dir / "twinbrook" / "telephony" / "TB_Telephony_202403.csv",
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(2, start=50)]) + "\n")
    write(settings.landing_dir / "twinbrook" / "telephony" / "TB_Telephony_202404.csv", content)
    report = load_source(settings.work_db, settings.landing_dir, both)
    assert [(f.partner_code, f.status, f.rows_loaded) for f in report.files] == [
        ("eastbrook", "loaded", 3), ("twinbrook", "loaded", 2), ("twinbrook", "rejected", 0)]
    assert "identical content to eastbrook/telephony/EB_Telephony_202403.csv" in (
        report.files[2].message)
    rows = query(settings, "select partner_code, _row_number, call_id, queue "
                           "from raw.telephony_calls order by 1, 2")
    assert rows == [("eastbrook", n, f"EB{n:05d}", "Council Tax") for n in (1, 2, 3)] + [
        ("twinbrook", n, "Council Tax", f"EB{49 + n:05d}") for n in (1, 2)]


def test_a_file_duckdb_cannot_read_costs_no_other_partner(settings, partners):
    """A file DuckDB refuses aborts the transaction its partner shares with another partner;
    the batch is retried file by file, so the other partner's file still loads, with its own
    column mapping."""
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER + ";Service", *(r + ";x" for r in eastbrook_rows(4))]))
    write(settings.landing_dir / "twinbrook" / "telephony" / "TB_Telephony_202403.csv",
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(2, start=50)]) + "\n")
    report = load_source(settings.work_db, settings.landing_dir, with_twinbrook(partners))
    assert [(f.partner_code, f.status, f.rows_loaded) for f in report.files] == [
        ("eastbrook", "rejected", 0), ("twinbrook", "loaded", 2)]
    assert "DuckDB could not read it" in report.files[0].message
    assert query(settings, "select partner_code, call_id, queue from raw.telephony_calls "
                           "order by 1, 2") == [
        ("twinbrook", "Council Tax", f"EB{n:05d}") for n in (50, 51)]
