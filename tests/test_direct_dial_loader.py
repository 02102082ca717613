"""The separate direct-dial extract (docs/kpi-definitions.md, "A separate direct-dial
extract"): bad input quarantined with a reason, nothing lost, and its calls added to
csc_call_share_pct's direct dials, month by month.

One hand-made partner, ddtown, delivers telephony (no `direct_dial` outcome code) and a
switchboard extract in UTC. `hub check`'s own machinery (the real loader and dbt models in a
throwaway warehouse) builds it once for the module; the tests read that warehouse. Every line
of every file is accounted for: lines = valid + quarantined (with reason) + excluded (with
reason) + rejected. Every expected figure is worked out by hand from the rows below.
"""

from __future__ import annotations

from collections import Counter

import pytest

from dagster_project.check import _configuration_warnings, format_report
from dagster_project.partner_schema import PartnerConfigError
from dagster_project.partners import load_partner
from dagster_project.source_models import SOURCE_MODELS
from tests.conftest import checked_partner

DDTOWN_YML = r"""# Officers' direct lines on a separate switchboard (test fixture).
code: ddtown
name: Direct Dial Town Council
kind: district
timezone: Europe/London
opening_hours:
  mon: ["09:00", "17:00"]
  tue: ["09:00", "17:00"]
  wed: ["09:00", "17:00"]
  thu: ["09:00", "17:00"]
  fri: ["09:00", "17:00"]
sources:
  telephony:
    files: "*.csv"
    period_pattern: 'tel_(?P<year>\d{4})-(?P<month>\d{2})\.csv$'
    format: {type: csv, delimiter: ",", encoding: utf-8, header: true}
    columns: {call_id: Id, started_at: Start, outcome: Outcome}
    timestamp_format: "%Y-%m-%d %H:%M:%S"
    outcome_codes: {A: answered, AB: abandoned, I: ivr_only}
  direct_dial:
    files: "*.csv"
    period_pattern: 'dd_(?P<year>\d{4})(?P<month>\d{2})\.csv$'
    format: {type: csv, delimiter: ";", encoding: utf-8, header: true}
    columns: {call_id: Ref, started_at: When, extension: Ext, service: Dept}
    timestamp_format: "%d/%m/%Y %H:%M"
    timestamp_zone: utc
    services: {Revenues: council_tax, Staff: excluded}
"""

EXTRACT_HEADER = "Ref;When;Ext;Dept"
# UTC times; clocks go forward at 01:00 UTC on 31 March 2024.
EXTRACT_MARCH = [
    "D1;01/03/2024 10:00;4101;Revenues",  # valid (March)
    "D2;04/03/2024 11:00;4102;Revenues",  # valid (March)
    "D3;31/03/2024 23:30;4103;Revenues",  # valid: 1 April 00:30 local, an April call
    ";05/03/2024 10:00;4104;Revenues",  # missing_key
    "D5;31/02/2024 10:00;4105;Revenues",  # bad_timestamp
    "D6;01/03/1970 10:00;4106;Revenues",  # timestamp_out_of_range
    "D1;06/03/2024 10:00;4101;Revenues",  # duplicate_call_id (other values)
    "D8;06/03/2024 10:00;4108;Staff",  # excluded_service
    "D9;06/03/2024 10:00;4109;Reve\x07nues",  # control_character
    "D10;06/03/2024 10:00;4110;Revenues;one too many;fields",  # malformed line (rejected)
]
EXTRACT_APRIL = [
    "D2;04/03/2024 11:00;4102;Revenues",  # re-sent copy: already_delivered
    "D20;02/04/2024 09:00;4120;Revenues",  # valid (April)
]
EXTRACT_JUNE = ["D30;03/06/2024 09:00;4130;Revenues"]  # valid; no June telephony
EXTRACT_QUARANTINE = {"missing_key": 1, "bad_timestamp": 1, "timestamp_out_of_range": 1,
                      "duplicate_call_id": 1, "control_character": 1}
EXTENSIONS = {line.split(";")[2] for line in EXTRACT_MARCH + EXTRACT_APRIL + EXTRACT_JUNE}

TELEPHONY_HEADER = "Id,Start,Outcome"
# calls per month: March 8 (6 answered, 1 abandoned, 1 IVR), April 3, May 2
TELEPHONY = {
    "2024-03": ["A"] * 6 + ["AB", "I"],
    "2024-04": ["A", "A", "I"],
    "2024-05": ["A", "AB"],
}
# Hand-worked: (calls reaching the centre, extract calls, csc_call_share_pct)
EXPECTED = {
    "2024-03": (8, 2, 80.0),  # D1, D2
    "2024-04": (3, 2, 60.0),  # D3 (local April) and D20; D2's copy is excluded
    "2024-05": (2, None, None),  # no extract delivered: not measured, never 100 %
}


def write_ddtown_landing(root):
    partners, landing = root / "partners", root / "landing"
    partners.mkdir(parents=True, exist_ok=True)
    (partners / "ddtown.yml").write_text(DDTOWN_YML, encoding="utf-8")
    for source in ("telephony", "direct_dial"):
        (landing / "ddtown" / source).mkdir(parents=True, exist_ok=True)
    for month, outcomes in TELEPHONY.items():
        rows = [f"T{month}-{i},{month}-0{i % 7 + 1} 10:00:00,{outcome}"
                for i, outcome in enumerate(outcomes)]
        (landing / "ddtown" / "telephony" / f"tel_{month}.csv").write_text(
            "\n".join([TELEPHONY_HEADER, *rows]) + "\n", encoding="utf-8")
    for name, rows in (("dd_202403.csv", EXTRACT_MARCH), ("dd_202404.csv", EXTRACT_APRIL),
                       ("dd_202406.csv", EXTRACT_JUNE)):
        (landing / "ddtown" / "direct_dial" / name).write_text(
            "\n".join([EXTRACT_HEADER, *rows]) + "\n", encoding="utf-8")
    return landing, partners


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """(report, read-only connection to the throwaway warehouse) of `hub check ddtown`."""
    root = tmp_path_factory.mktemp("ddtown")
    landing, partners = write_ddtown_landing(root)
    yield from checked_partner(root, landing, partners, "ddtown")


MODELS = SOURCE_MODELS["direct_dial"]


def test_each_bad_row_is_quarantined_with_its_reason(checked):
    _, con = checked
    reasons = Counter(dict(con.execute(
        f"select quarantine_reason, count(*) from warehouse.{MODELS.quarantine} "
        "group by 1").fetchall()))
    assert reasons == Counter(EXTRACT_QUARANTINE)
    excluded = Counter(dict(con.execute(
        f"select exclusion_reason, count(*) from warehouse.{MODELS.excluded} "
        "group by 1").fetchall()))
    assert excluded == Counter(excluded_service=1, already_delivered=1)


def test_every_line_is_accounted_for(checked):
    """lines = valid + quarantined + excluded + rejected (the malformed line in
    raw.rejected_rows), per file and in total."""
    report, con = checked
    per_file = con.execute("""
        select source_file, coalesce(file_lines, rows_read), rows_loaded, rows_rejected
        from warehouse.raw.load_files where source = 'direct_dial' order by 1""").fetchall()
    assert [(f.rsplit("/", 1)[-1], n) for f, n, _, _ in per_file] == [
        ("dd_202403.csv", 10), ("dd_202404.csv", 2), ("dd_202406.csv", 1)]
    for source_file, lines, loaded, rejected in per_file:
        fates = dict(con.execute(
            f"select record_status, count(*) from warehouse.{MODELS.validated} "
            "where source_file = ? group by 1", [source_file]).fetchall())
        assert sum(fates.values()) == loaded, source_file
        assert lines == loaded + rejected, source_file
    valid = con.execute(f"select count(*) from {MODELS.fact}").fetchone()[0]
    quarantined = con.execute(f"select count(*) from warehouse.{MODELS.quarantine}").fetchone()[0]
    excluded = con.execute(f"select count(*) from warehouse.{MODELS.excluded}").fetchone()[0]
    rejected = con.execute("select count(*) from warehouse.raw.rejected_rows "
                           "where source = 'direct_dial'").fetchone()[0]
    assert (valid, quarantined, excluded, rejected) == (5, 5, 2, 1)
    assert valid + quarantined + excluded + rejected == 13
    check = next(s for s in report.sources if s.source == "direct_dial")
    assert (check.valid, sum(check.quarantined.values()), check.rows_rejected) == (
        valid, quarantined, rejected)


def test_the_extract_counts_in_the_local_month_of_each_call(checked):
    _, con = checked
    months = dict(con.execute(f"select strftime(call_month, '%Y-%m'), count(*) from {MODELS.fact} "
                              "group by 1").fetchall())
    assert months == {"2024-03": 2, "2024-04": 2, "2024-06": 1}
    delivered = dict(con.execute(
        "select strftime(month, '%Y-%m'), direct_dial_calls "
        "from warehouse.intermediate.int_direct_dial__partner_months").fetchall())
    assert delivered == {"2024-03": 2, "2024-04": 2, "2024-06": 1}


def test_csc_call_share_adds_the_extract_as_worked_out_by_hand(checked):
    _, con = checked
    rows = {r[0]: r[1:] for r in con.execute("""
        select strftime(month, '%Y-%m'), calls_total, direct_dial, direct_dial_extract_calls,
               is_direct_dial_measured, csc_call_share_numerator, csc_call_share_denominator,
               csc_call_share_pct
        from marts.kpi_telephony_monthly where partner_code = 'ddtown'""").fetchall()}
    assert set(rows) == set(EXPECTED)  # June: an extract without telephony gives no row
    for month, (centre, extract, pct) in EXPECTED.items():
        total, direct_dial, extract_calls, measured, numerator, denominator, value = rows[month]
        assert (total, direct_dial, extract_calls) == (centre, 0, extract), month
        assert measured is (extract is not None), month
        if pct is None:
            assert (numerator, denominator, value) == (None, None, None), month
        else:
            assert (numerator, denominator) == (centre, centre + extract), month
            assert value == pytest.approx(pct), month
    assert con.execute("select has_direct_dial_outcome_code, has_direct_dial_extract, "
                       "is_measuring_direct_dial from marts.dim_partner").fetchall() == [
        (False, True, True)]


def test_no_extension_reaches_the_marts(checked):
    """The officer's extension stays in raw (tracing): no mart column, no mart cell."""
    _, con = checked
    tables = con.execute("select table_name from information_schema.tables "
                         "where table_catalog = 'marts_db' and table_schema = 'marts'").fetchall()
    assert ("fct_direct_dial_calls",) in tables
    for (table,) in tables:
        columns = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = "
            "'marts_db' and table_name = ?", [table]).fetchall()]
        assert "extension" not in columns, table
        for column in columns:
            cells = {r[0] for r in con.execute(
                f'select distinct cast("{column}" as varchar) from marts."{table}"').fetchall()}
            assert not cells & EXTENSIONS, (table, column)


def test_check_report_shows_reasons_examples_and_months(checked):
    report, _ = checked
    text = format_report(report)
    assert "direct_dial: 3 file(s), 13 rows read: 12 loaded, 1 rejected (malformed)" in text
    assert "quarantined duplicate_call_id: 1" in text
    assert "started_at_text='31/02/2024 10:00'" in text  # the value as delivered
    assert "excluded already_delivered: 1" in text
    assert "direct_dial_extract_calls" in text and "2024-04" in text
    assert "4101" not in text  # no extension
    assert "WARNING" not in text  # one measure of direct dials, not two


def test_both_measures_configured_warn_and_extract_needs_telephony(tmp_path):
    """A `direct_dial` outcome code and the extract: `hub check` warns that a call in both
    counts twice, naming the file and keys. The extract without telephony is refused."""
    both = tmp_path / "ddtown.yml"
    both.write_text(DDTOWN_YML.replace("I: ivr_only}", "I: ivr_only, D: direct_dial}"),
                    encoding="utf-8")
    warnings = _configuration_warnings(load_partner(both))
    assert len(warnings) == 1 and str(both) in warnings[0]
    assert "outcome_codes maps D to direct_dial" in warnings[0]
    assert "sources.direct_dial" in warnings[0] and "counts twice" in warnings[0]
    alone = tmp_path / "alone" / "ddtown.yml"
    alone.parent.mkdir()
    start = DDTOWN_YML.index("  telephony:")
    alone.write_text(DDTOWN_YML[:start] + DDTOWN_YML[DDTOWN_YML.index("  direct_dial:"):],
                     encoding="utf-8")
    with pytest.raises(PartnerConfigError, match="direct_dial without telephony"):
        load_partner(alone)
