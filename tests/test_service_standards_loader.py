"""Bad input of the service-standard sources (voicemail, reception, web; docs/architecture.md,
"Service-standard sources"): the same loader, quarantine with a reason, nothing lost.

One hand-made partner (tests/service_standards_landing.py) delivers each source in another
format (CSV, xlsx, JSON lines) with one row per bad-input case. `hub check`'s own machinery
(the real loader and dbt models in a throwaway warehouse) builds it once for the module; the
tests read that warehouse. Every line of every file is accounted for: lines = valid +
quarantined (with reason) + excluded (with reason) + rejected.
"""

from __future__ import annotations

from collections import Counter

import pytest

from dagster_project.check import format_report
from dagster_project.ingest import load_source
from dagster_project.partners import load_partners
from dagster_project.settings import REPO_ROOT
from dagster_project.source_models import SOURCE_MODELS
from tests.conftest import checked_partner
from tests.service_standards_landing import (
    MARCH,
    TICKET_QUARANTINE,
    VOICEMAIL_QUARANTINE,
    WEB_QUARANTINE,
    write_stdtown_landing,
)

SOURCES = ("voicemail", "reception", "web")


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """(report, read-only connection to the throwaway warehouse) of `hub check stdtown`."""
    root = tmp_path_factory.mktemp("stdtown")
    landing, partners = write_stdtown_landing(root)
    yield from checked_partner(root, landing, partners, "stdtown")


def _reasons(con, source: str) -> Counter:
    view = SOURCE_MODELS[source].quarantine
    return Counter(dict(con.execute(f"select quarantine_reason, count(*) from warehouse.{view} "
                                    "group by 1").fetchall()))


@pytest.mark.parametrize(("source", "expected"), [
    ("voicemail", VOICEMAIL_QUARANTINE),
    ("reception", TICKET_QUARANTINE),
    ("web", WEB_QUARANTINE),
])
def test_each_bad_row_is_quarantined_with_its_reason(checked, source, expected):
    _, con = checked
    assert _reasons(con, source) == Counter(expected)


def test_exclusions_name_their_reason(checked):
    _, con = checked
    excluded = {source: Counter(dict(con.execute(
        f"select exclusion_reason, count(*) from warehouse.{SOURCE_MODELS[source].excluded} "
        "group by 1").fetchall())) for source in SOURCES}
    assert excluded == {
        "voicemail": Counter(excluded_service=1, already_delivered=1),
        "reception": Counter(excluded_service=1),
        "web": Counter(excluded_service=1),
    }


def test_every_line_is_accounted_for(checked):
    """Per source: the file's data lines (counted apart from the reader) = valid + quarantined
    + excluded + rejected (malformed lines in raw.rejected_rows, never silently dropped)."""
    report, con = checked
    by_source = {s.source: s for s in report.sources}
    for source in SOURCES:
        models = SOURCE_MODELS[source]
        lines, loaded, rejected = con.execute(
            "select sum(coalesce(file_lines, rows_read)), sum(rows_loaded), "
            "sum(rows_rejected) from warehouse.raw.load_files where source = ?",
            [source]).fetchone()
        valid = con.execute(f"select count(*) from {models.fact}").fetchone()[0]
        quarantined = sum(_reasons(con, source).values())
        excluded = con.execute(
            f"select count(*) from warehouse.{models.excluded}").fetchone()[0]
        assert lines == valid + quarantined + excluded + rejected, source
        assert loaded == valid + quarantined + excluded, source
        check = by_source[source]
        assert (check.valid, sum(check.quarantined.values()), check.rows_rejected) == (
            valid, quarantined, rejected)
    assert {s: by_source[s].rows_rejected for s in SOURCES} == {
        "voicemail": 1, "reception": 0, "web": 1}


def test_march_figures_as_worked_out_by_hand(checked):
    _, con = checked
    columns = list(MARCH)
    row = con.execute(f"select {', '.join(columns)} from marts.kpi_service_standards_monthly "
                      "where partner_code = 'stdtown' and month = date '2024-03-01'").fetchone()
    for column, value in zip(columns, row, strict=True):
        assert value == pytest.approx(MARCH[column], rel=1e-9), column
    # no CRM delivered: the self-service share is not measured, never 0
    assert con.execute("select self_service_share_pct from marts.kpi_service_standards_monthly "
                       "where month = date '2024-03-01'").fetchone() == (None,)


def test_check_report_shows_reasons_examples_and_months(checked):
    report, _ = checked
    text = format_report(report)
    assert "voicemail: 2 file(s), 14 rows read: 13 loaded, 1 rejected (malformed)" in text
    assert "quarantined responded_before_left: 1" in text
    assert "quarantined timestamps_out_of_order: 1" in text
    assert "called_at_text='soon'" in text  # the value as delivered
    assert "quarantined bad_count: 1" in text
    assert "excluded already_delivered: 1" in text
    assert "2024-03" in text


def test_no_caller_or_page_text_reaches_the_facts(checked):
    """Facts carry ids prefixed with the partner and a hashed page, never page text."""
    _, con = checked
    columns = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_catalog = 'marts_db' "
        "and table_name in ('fct_voicemails', 'fct_reception_tickets', 'fct_web_days')"
    ).fetchall()}
    assert not columns & {"page_name", "service_name", "page", "caller", "phone"}
    pages = {r[0] for r in con.execute("select page_id from marts.fct_web_days").fetchall()}
    assert pages and not any(p.startswith("/") for p in pages)


def test_a_file_without_a_configured_header_is_rejected_naming_the_key(tmp_path):
    """The shared loader's header check, for a new source: nothing loads from the file and the
    message names the configured column, never the file's content."""
    landing, partners_dir = write_stdtown_landing(tmp_path)
    path = landing / "stdtown" / "voicemail" / "vm_202403.csv"
    path.write_text("Reference;Left;Responded;Mailbox\nV1;01/03/2024 10:00;;Bins\n",
                    encoding="utf-8")
    partners = load_partners(partners_dir, REPO_ROOT / "seeds" / "reference")
    report = load_source(tmp_path / "w.duckdb", landing, partners, "voicemail", settle=0)
    rejected = {f.rel_path: f.message for f in report.files if f.status == "rejected"}
    message = rejected["stdtown/voicemail/vm_202403.csv"]
    assert "header lacks configured column(s) ['Ref']" in message
    assert "V1" not in message and "Reference" not in message
    assert report.count("loaded") == 1  # April's file still loads
