"""Onboarding by configuration alone: two exports unlike the sample partners
(tests/onboarding_landing.py: a 1998 tab-separated call log with two-digit-year dates and the
time in its own column; a 2015 CRM export with month-first 12-hour dates and staff- and
system-raised requests) are built by a real `hub build` from their YAML alone, and every
figure is recomputed independently from the files (tests/reference_kpis.py,
tests/reference_crm.py). The build is shared with tests/test_ingest_rows.py's first
(tests/conftest.py, `small_partners`): the same warehouse holds that module's two partners."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import duckdb
import pytest

from dagster_project.settings import REPO_ROOT
from tests import reference_crm, reference_kpis
from tests.conftest import copy_data_dir, hub, hub_env

REL = 1e-9


@pytest.fixture(scope="module")
def onboarded(small_partners):
    """The first build of these two partners (tests/conftest.py, `small_partners`: one
    warehouse with tests/test_ingest_rows.py's two partners, read here, never changed)."""
    serving = duckdb.connect(str(small_partners.data / "serving" / "operations.duckdb"),
                             read_only=True)
    yield {"landing": small_partners.data / "landing",
           "partners": small_partners.onboarding_partners, "con": serving,
           "build": small_partners.build, "small_partners": small_partners}
    serving.close()


@pytest.fixture(scope="module")
def calls_reference(onboarded):
    return reference_kpis.compute(onboarded["landing"], onboarded["partners"])


@pytest.fixture(scope="module")
def crm_reference(onboarded):
    return reference_crm.compute(onboarded["landing"], onboarded["partners"],
                                 REPO_ROOT / "seeds" / "reference")


def _close(mart, ours) -> bool:
    if ours is None or mart is None:
        return mart is None and ours is None
    return abs(float(mart) - float(ours)) <= REL * max(1.0, abs(float(ours)))


def test_the_1990s_call_log_loads_and_its_kpis_match(onboarded, calls_reference):
    rows = onboarded["con"].execute(
        "select month, offered, answered, answered_within_threshold, abandoned, tsf_pct, "
        "asa_seconds, abandon_rate_pct from marts.kpi_telephony_monthly "
        "where partner_code = 'bankline' order by month").fetchall()
    assert [r[0] for r in rows] == [dt.date(1998, 1, 1), dt.date(1998, 2, 1)]
    for month, offered, answered, within, abandoned, tsf, asa, abandon in rows:
        ours = calls_reference.monthly[("bankline", month)]
        t = ours.tally
        assert (offered, answered, within, abandoned) == (
            t.offered, t.answered, t.answered_within_threshold, t.abandoned), month
        assert _close(tsf, ours.value("tsf_pct")) and _close(asa, ours.value("asa_seconds"))
        assert _close(abandon, ours.value("abandon_rate_pct"))
        assert offered > 200


def test_the_calendar_spans_the_loaded_years(onboarded):
    first, last = onboarded["con"].execute(
        "select min(date_day), max(date_day) from marts.dim_date").fetchone()
    assert first == dt.date(1998, 1, 1)
    assert last.month == 12 and last.day == 31 and last.year >= dt.date.today().year


def test_out_of_range_and_unparseable_times_are_two_reasons(onboarded, calls_reference):
    found = Counter(dict(onboarded["con"].execute(
        "select quarantine_reason, count(*) from quality.quarantine_calls "
        "where partner_code = 'bankline' group by all").fetchall()))
    assert found == calls_reference.partners["bankline"].quarantine_by_reason()
    assert found == Counter(timestamp_out_of_range=2, bad_timestamp=2)


def test_staff_raised_requests_are_excluded_not_quarantined(onboarded, crm_reference):
    con = onboarded["con"]
    ours = crm_reference.partners["cityreq"]
    excluded = con.execute("select count(*) from quality.excluded_contacts "
                           "where partner_code = 'cityreq'").fetchone()[0]
    quarantined = Counter(dict(con.execute(
        "select quarantine_reason, count(*) from quality.quarantine_contacts "
        "where partner_code = 'cityreq' group by all").fetchall()))
    contacts = con.execute("select count(*) from marts.fct_contacts "
                           "where partner_code = 'cityreq'").fetchone()[0]
    assert excluded == len(ours.excluded) > 50
    assert quarantined == ours.quarantine_by_reason() == Counter(unknown_code=2)
    assert contacts == len(ours.contacts)
    assert excluded + sum(quarantined.values()) + contacts == ours.raw_rows == 600
    rows_excluded = con.execute("select sum(rows_excluded) from marts.kpi_deliveries "
                                "where partner_code = 'cityreq'").fetchone()[0]
    assert rows_excluded == excluded


def test_the_12_hour_crm_kpis_match(onboarded, crm_reference):
    """Created times month-first on a 12-hour clock, closing times ISO (a per-column format):
    contacts and resolved contacts per month and channel match the reference."""
    rows = onboarded["con"].execute(
        "select month, channel_code, sum(contacts), sum(resolved_contacts) "
        "from marts.kpi_contact_monthly where partner_code = 'cityreq' group by all "
        "order by all").fetchall()
    assert {r[0] for r in rows} == {dt.date(2015, 10, 1), dt.date(2015, 11, 1)}
    for month, channel, contacts, resolved in rows:
        ours = crm_reference.monthly[("cityreq", month)].by_channel[channel]
        assert contacts == ours.counts["contacts"], (month, channel)
        assert resolved == ours.counts["resolved_contacts"], (month, channel)
    assert sum(r[3] for r in rows) > 200  # the closing dates parsed
    assert "excluded" not in {r[1] for r in rows}


def test_the_build_says_published_without_noise(onboarded):
    build = onboarded["build"]
    assert "published" in build.stdout
    # no Dagster BetaWarning, no warning about reference rows naming partners not configured
    # here (riverton's target override, its unit costs)
    assert "BetaWarning" not in build.stderr and "WARN" not in build.stdout + build.stderr


def test_kpis_of_fields_never_delivered_are_not_measured(onboarded, crm_reference):
    """cityreq maps no avoidable reason, satisfaction, feedback or identity field: those KPIs
    are null and `not_measured`, never 0 %, never ranked (and agree with the reference)."""
    rows = onboarded["con"].execute(
        "select month, kpi_code, value, measurement_status, rank_among_partners, rag_status "
        "from marts.kpi_scorecard where partner_code = 'cityreq' and segment_code = 'all' "
        "and kpi_code in ('avoidable_contact_pct', 'csat_response_rate_pct', "
        "'complaints_per_1000', 'repeat_complainants', 'duplicate_case_pct')").fetchall()
    assert len(rows) == 10  # five KPIs x two months
    for month, kpi, value, status, rank, rag in rows:
        assert (value, status, rank, rag) == (None, "not_measured", None, "none"), (month, kpi)
        assert crm_reference.scorecard[("cityreq", month, kpi, "all")].value is None
    measured = onboarded["con"].execute(
        "select count(*) from marts.kpi_scorecard where partner_code = 'cityreq' "
        "and kpi_code = 'contacts' and measurement_status = 'measured'").fetchone()[0]
    assert measured == 2


def test_the_build_ends_with_a_table_per_partner_and_source(onboarded):
    out = onboarded["build"].stdout
    header = next(line for line in out.splitlines() if line.startswith("partner "))
    assert "quarantined" in header and "excluded" in header and "top reasons" in header
    bankline = next(line for line in out.splitlines() if line.startswith("bankline "))
    assert bankline.split()[:8] == ["bankline", "telephony", "2", "520", "520", "0", "0", "4"]
    assert "bad_timestamp 2" in bankline and "timestamp_out_of_range 2" in bankline
    cityreq = next(line for line in out.splitlines() if line.startswith("cityreq "))
    excluded = onboarded["con"].execute("select count(*) from quality.excluded_contacts "
                                        "where partner_code = 'cityreq'").fetchone()[0]
    assert cityreq.split()[6:8] == [f"{excluded:,}", "2"] and "unknown_code 2" in cityreq
    assert "ERROR" not in onboarded["build"].stderr  # 0.8 % and 0.3 %: under the 2 % threshold


def test_strict_fails_on_a_quarantine_share_over_the_threshold(onboarded, tmp_path):
    """The same files (on a copy of the warehouse), a 0.5 % threshold: the ERROR line names
    bankline; --strict publishes nothing."""
    shared = onboarded["small_partners"]
    data = copy_data_dir(shared.data, tmp_path / "data")
    env = hub_env(data, HUB_PARTNERS_DIR=str(shared.partners), HUB_MAX_QUARANTINE_PCT="0.5")
    served = data / "serving" / "warehouse.duckdb"
    before = served.stat().st_mtime_ns
    proc = hub(env, "build", "--strict", "--full-refresh", check=False)
    assert proc.returncode == 1
    assert "ERROR bankline telephony: 0.8 % of rows quarantined (4 of 520)" in proc.stderr
    assert "calls_quarantine_rate" in proc.stderr
    assert served.stat().st_mtime_ns == before  # the last good warehouse keeps serving
