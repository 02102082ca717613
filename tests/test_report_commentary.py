"""The hub pack's commentary from the session's published warehouse (issue 12; dagster_project/
report/figures.py and commentary.py): every figure a sentence states is re-derived here from
other marts than the scorecard the rules read (the monthly telephony KPIs, the contact facts,
the deliveries), and every number in the text is that figure, formatted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from dagster_project.report.commentary import hub_commentary
from dagster_project.report.figures import read_month
from dagster_project.report.formats import figure

MONTH = dt.date(2024, 4, 1)  # the session sample's last month (tests/conftest.py SAMPLE_ARGS)


@pytest.fixture(scope="module")
def pack(built_warehouse):
    figures = read_month(built_warehouse.serving_db, MONTH)
    con = duckdb.connect(str(built_warehouse.serving_db), read_only=True)
    yield figures, hub_commentary(figures), con
    con.close()


def test_every_partner_months_calls_are_the_monthly_kpis_offered_calls(pack):
    figures, sentences, con = pack
    offered = dict(con.execute("select partner_code, offered from marts.kpi_telephony_monthly "
                               "where month = ?", [MONTH]).fetchall())
    before = dict(con.execute("select partner_code, offered from marts.kpi_telephony_monthly "
                              "where month = ?", [dt.date(2024, 3, 1)]).fetchall())
    calls = [s for s in sentences if " calls in April 2024" in s.text]
    assert len(calls) == len(offered) >= 6
    for code, n in offered.items():
        name = figures.partners[code]
        (s,) = [s for s in calls if s.text.startswith(f"{name} took ")]
        assert s.figures["this"] == n and f"took {n:,} calls" in s.text
        assert s.figures["previous"] == before.get(code)
        if before.get(code):
            assert f"{abs(n - before[code]):,} " in s.text


def test_contacts_are_the_contact_facts_of_the_month(pack):
    figures, sentences, con = pack
    counted = dict(con.execute("select partner_code, count(*) from marts.fct_contacts "
                               "where created_month = ? group by 1", [MONTH]).fetchall())
    contacts = [s for s in sentences if " contacts in April 2024" in s.text]
    assert len(contacts) == len(counted) >= 6
    for code, n in counted.items():
        (s,) = [s for s in contacts if s.text.startswith(f"{figures.partners[code]} took ")]
        assert s.figures["this"] == n and f"took {n:,} contacts" in s.text


def test_best_and_worst_tsf_are_the_highest_and_lowest_of_the_month(pack):
    _, sentences, con = pack
    tsf = dict(con.execute("select partner_code, tsf_pct from marts.kpi_telephony_monthly "
                           "where month = ? and tsf_pct is not null", [MONTH]).fetchall())
    (s,) = [s for s in sentences if s.text.startswith("Telephone service factor: best")]
    best, worst = max(tsf.values()), min(tsf.values())
    assert {c for c, v in tsf.items() if v == best} == set(s.figures["best"])
    assert {c for c, v in tsf.items() if v == worst} == set(s.figures["worst"])
    assert all(Decimal(str(v)) == Decimal(str(best)) for v in s.figures["best"].values())
    assert f"({figure(Decimal(str(best)), 'pct')})" in s.text
    assert f"({figure(Decimal(str(worst)), 'pct')})" in s.text


def test_a_partner_source_without_a_delivery_is_a_caveat_never_a_zero(pack):
    figures, sentences, con = pack
    delivered = set(con.execute("select partner_code, source from marts.kpi_deliveries "
                                "where month = ?", [MONTH]).fetchall())
    expected = set(con.execute("select partner_code, source from marts.kpi_freshness "
                               "where is_expecting_deliveries").fetchall())
    missing = expected - delivered
    said = {(s.figures["partner"], s.figures["source"]) for s in sentences
            if "did not deliver" in s.text}
    assert said == missing
    # no volume sentence for a partner-source that did not deliver
    for code, source in missing:
        if source not in ("telephony", "crm"):  # the service sources have no volume sentence
            continue
        noun = "calls" if source == "telephony" else "contacts"
        assert not [s for s in sentences if s.text.startswith(f"{figures.partners[code]} took ")
                    and f" {noun} in " in s.text]
