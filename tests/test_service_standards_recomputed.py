"""The service-standard marts agree with an independent plain-Python recomputation from the
landing files (tests/reference_service_standards.py).

`test_reference_on_the_hand_made_partner` checks the reference itself against figures worked
out by hand; the other tests compare the session warehouse (real `hub generate` + `hub build`)
with it: every row's fate (valid, quarantined by reason, excluded by reason) per partner and
source, and every KPI of marts.kpi_service_standards_monthly per partner x month (counts
exactly, ratios to rel=1e-9, the median to 1e-6 h: stored rounded to 6 decimals).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import duckdb
import pytest

from tests.reference_service_standards import SOURCES, compute, kpis
from tests.service_standards_landing import (
    MARCH,
    TICKET_QUARANTINE,
    VOICEMAIL_QUARANTINE,
    WEB_QUARANTINE,
    write_stdtown_landing,
)

KPIS = ("voicemail_in_policy_pct", "voicemail_median_response_hours",
        "reception_wait_avg_minutes", "reception_seen_within_target_pct",
        "reception_walkout_pct", "web_visits", "web_poor_rating_pct", "self_service_share_pct")
VIEWS = {"voicemail": "voicemails", "reception": "reception_tickets", "web": "web_days"}


def test_reference_on_the_hand_made_partner(tmp_path):
    landing, partners = write_stdtown_landing(tmp_path)
    ref = compute(landing, partners)
    rows = ref.rows["stdtown"]
    quarantined = {s: Counter(r.reason for r in rows if r.source == s
                              and r.status == "quarantined") for s in SOURCES}
    assert quarantined == {"voicemail": Counter(VOICEMAIL_QUARANTINE),
                           "reception": Counter(TICKET_QUARANTINE),
                           "web": Counter(WEB_QUARANTINE)}
    march = kpis(ref.months[("stdtown", dt.date(2024, 3, 1))], set())
    for kpi, value in march.items():
        if kpi in MARCH:
            assert float(value) == pytest.approx(MARCH[kpi], rel=1e-12), kpi
    assert march["self_service_share_pct"] is None  # no CRM: not measured


@pytest.fixture(scope="module")
def reference(built_warehouse):
    return compute(built_warehouse.landing_dir)


@pytest.fixture(scope="module")
def operations(built_warehouse):
    con = duckdb.connect(str(built_warehouse.operations_db), read_only=True)
    yield con
    con.close()


def test_every_row_has_the_fate_the_contract_gives_it(reference, operations):
    """Per partner and source: valid rows = fact rows, quarantined and excluded rows by reason
    = the quality views."""
    check_row_fates(reference, operations)


def check_row_fates(reference, operations) -> None:
    mismatches = []
    for code, rows in reference.rows.items():
        for source in SOURCES:
            ours = Counter((r.status, r.reason) for r in rows if r.source == source)
            if not ours:
                continue
            view = VIEWS[source]
            theirs = Counter()
            for status, table, reason in (("quarantined", f"quality.quarantine_{view}",
                                           "quarantine_reason"),
                                          ("excluded", f"quality.excluded_{view}",
                                           "exclusion_reason")):
                theirs.update({(status, r): n for r, n in operations.execute(
                    f"select {reason}, count(*) from {table} where partner_code = ? "
                    "group by 1", [code]).fetchall()})
            fact = {"voicemail": "fct_voicemails", "reception": "fct_reception_tickets",
                    "web": "fct_web_days"}[source]
            theirs[("valid", None)] = operations.execute(
                f"select count(*) from marts.{fact} where partner_code = ?", [code]).fetchone()[0]
            if +theirs != +ours:
                mismatches.append(f"{code} {source}: marts {dict(+theirs)} vs ours {dict(ours)}")
    assert not mismatches, "\n".join(mismatches)
    assert any(r.status == "quarantined" for rows in reference.rows.values() for r in rows)


def test_every_service_standard_kpi_matches_the_recomputation(reference, built_warehouse):
    marts = check_kpis(reference, built_warehouse.serving_db)
    # the partners without a source show as not measured (northmoor has no reception,
    # riverton no web)
    assert all(v["reception_walkout_pct"] is None for (p, _), v in marts.items()
               if p == "northmoor")
    assert all(v["web_visits"] is None for (p, _), v in marts.items() if p == "riverton")


def check_kpis(reference, serving_db) -> dict:
    """Compare every KPI of marts.kpi_service_standards_monthly with the reference; return the
    marts' figures by (partner, month)."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        marts = {(p, m): dict(zip(KPIS, values, strict=True)) for p, m, *values in con.execute(
            f"select partner_code, month, {', '.join(KPIS)} "
            "from marts.kpi_service_standards_monthly").fetchall()}
    finally:
        con.close()
    mismatches, compared = [], Counter()
    ours = {key: kpis(month, set()) for key, month in reference.months.items()}
    for key in sorted(set(marts) | {k for k, v in ours.items()
                                    if any(x is not None for x in v.values())}):
        theirs, mine = marts.get(key, {}), ours.get(key, {})
        for kpi in KPIS:
            a, b = theirs.get(kpi), mine.get(kpi)
            if a is None or b is None:
                if a is not b:
                    mismatches.append(f"{key} {kpi}: mart {a} vs ours {b}")
                continue
            tolerance = {"abs": 1e-6} if kpi == "voicemail_median_response_hours" else {
                "rel": 1e-9}
            if a != pytest.approx(float(b), **tolerance):
                mismatches.append(f"{key} {kpi}: mart {a} vs ours {float(b)}")
            compared[kpi] += 1
    assert not mismatches, "\n".join(mismatches[:40])
    # every KPI was compared on real figures
    assert set(compared) == set(KPIS) and min(compared.values()) >= 8, compared
    return marts
