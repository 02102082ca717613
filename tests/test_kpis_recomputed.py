"""The KPI marts agree with an independent plain-Python recomputation from the landing files.

`tests/reference_kpis.py` reads every landing file of the session warehouse (built by the real
`hub generate` + `hub build`) and recomputes each KPI from the written definitions; here every
partner-month of the marts is compared with it: counts exactly, ratios to rel=1e-9, RAG status,
ranks and pooled hub values, plus the row accounting, quarantine counts by reason (the sample
generator writes a little dirt of every kind) and a known figure of the real PhoneNow export.
Mismatches are collected and reported together (partner, period, column, mart, ours).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.reference_kpis import (
    QUARANTINE_REASONS,
    SCORECARD_KPIS,
    SOURCE,
    Reference,
    Tally,
    _delivery_key,
    as_float,
    compute,
    is_out_of_hours,
    load_bank_holidays,
    load_partners,
)

pytestmark = pytest.mark.slow

REL = 1e-9
# logical name -> accepted mart column names (first found wins)
PARTNER = ("partner_code", "partner")
MONTH = ("month", "month_start", "period_month", "call_month", "month_date", "report_month")
DAY = ("call_date", "date", "day", "local_date", "call_day", "report_date")
QUARANTINE = {
    "partner": PARTNER,
    "reason": ("quarantine_reason", "reason"),
    "file": ("source_file", "_source_file"),
    "row": ("source_row_number", "_row_number"),
}
# the kinds of dirt `hub generate` writes; each must reach the quarantine under its own reason
GENERATED_DIRT = ("bad_timestamp", "negative_duration", "duplicate_call_id",
                  "unknown_outcome_code", "missing_key")
MONTHLY_COUNTS = {
    "offered": ("offered", "calls_offered"),
    "answered": ("answered", "calls_answered"),
    "answered_within_threshold": ("answered_within_threshold", "answered_within_sla",
                                  "answered_in_threshold"),
    "abandoned": ("abandoned", "calls_abandoned"),
    "short_abandoned": ("short_abandoned", "short_abandons", "short_abandon"),
    "ivr_only": ("ivr_only", "calls_ivr_only"),
    "direct_dial": ("direct_dial", "calls_direct_dial"),
    "sl_days_met": ("sl_days_met",),
    "sl_days": ("sl_days",),
    "answered_unknown_wait": ("answered_unknown_wait",),
    "calls_total": ("calls_total", "calls"),
    "out_of_hours_calls": ("out_of_hours_calls",),
}
MONTHLY_RATIOS = {
    "tsf_pct": ("tsf_pct",),
    "asa_seconds": ("asa_seconds",),
    "abandon_rate_pct": ("abandon_rate_pct",),
    "sl_days_pct": ("sl_days_pct",),
    "aht_seconds": ("aht_seconds",),
    "out_of_hours_pct": ("out_of_hours_pct",),
    "offered_mom_change_pct": ("offered_mom_change_pct",),
    "csc_call_share_pct": ("csc_call_share_pct",),
}
DAILY_COUNTS = {k: MONTHLY_COUNTS[k] for k in
                ("offered", "answered", "answered_within_threshold", "short_abandoned")}
SCORECARD = {
    "kpi": ("kpi_code", "kpi"),
    "value": ("value", "kpi_value"),
    "target": ("target", "target_value"),
    "amber_tolerance": ("amber_tolerance",),
    "rag_status": ("rag_status", "rag"),
    "rank_among_partners": ("rank_among_partners", "partner_rank", "rank"),
    "hub_value": ("hub_value", "hub_pooled_value"),
    "measurement_status": ("measurement_status",),
}


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def reference(built_warehouse) -> Reference:
    return compute(built_warehouse.landing_dir)


@pytest.fixture(scope="module")
def serving(built_warehouse):
    """The published full copy: the same marts as the served file, plus the quality schema."""
    con = duckdb.connect(str(built_warehouse.operations_db), read_only=True)
    yield con
    con.close()


def table_columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def resolve(con, table: str, wanted: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Logical name -> the mart's column; a required column that is missing fails loudly."""
    present = table_columns(con, table)
    found, missing = {}, []
    for logical, candidates in wanted.items():
        name = next((c for c in candidates if c in present), None)
        if name is None:
            missing.append(f"{logical} (tried {', '.join(candidates)})")
        else:
            found[logical] = name
    assert not missing, f"{table} lacks required column(s): {missing}; it has {present}"
    return found


def fetch(con, table: str, wanted: dict[str, tuple[str, ...]]) -> list[dict]:
    cols = resolve(con, table, wanted)
    select = ", ".join(f'"{c}"' for c in cols.values())
    return [dict(zip(cols, row, strict=True))
            for row in con.execute(f"select {select} from {table}").fetchall()]


def as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    return dt.date.fromisoformat(text if len(text) >= 10 else text[:7] + "-01")


def number(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def same_count(mart, ours: int) -> bool:
    return mart is not None and int(mart) == ours


def same_ratio(mart, ours: float | None) -> bool:
    if mart is None or ours is None:
        return mart is None and ours is None
    return float(mart) == pytest.approx(ours, rel=REL)


def report(mismatches: list[str], what: str) -> None:
    shown = "\n  ".join(mismatches[:60])
    more = f"\n  ... and {len(mismatches) - 60} more" if len(mismatches) > 60 else ""
    assert not mismatches, f"{len(mismatches)} {what} mismatch(es) (mart vs ours):\n  {shown}{more}"


def monthly_rows(con) -> dict[tuple[str, dt.date], dict]:
    wanted = {"partner": PARTNER, "month": MONTH, **MONTHLY_COUNTS, **MONTHLY_RATIOS}
    rows = fetch(con, "marts.kpi_telephony_monthly", wanted)
    keyed = {(r["partner"], as_date(r["month"])): r for r in rows}
    assert len(keyed) == len(rows), "marts.kpi_telephony_monthly: partner-month not unique"
    return keyed


# ---------------------------------------------------------------- tests


def test_same_partner_months(serving, reference):
    mart = set(monthly_rows(serving))
    ours = set(reference.monthly)
    assert mart, "marts.kpi_telephony_monthly is empty"
    assert sorted(mart - ours) == [] and sorted(ours - mart) == [], (
        f"only in mart: {sorted(mart - ours)}; only in recomputation: {sorted(ours - mart)}")


def test_monthly_kpis_match_recomputation(serving, reference):
    mismatches = []
    for key, row in sorted(monthly_rows(serving).items()):
        ours = reference.monthly.get(key)
        if ours is None:
            continue  # reported by test_same_partner_months
        tally = ours.tally
        expected_counts = {
            "offered": tally.offered, "answered": tally.answered,
            "answered_within_threshold": tally.answered_within_threshold,
            "abandoned": tally.abandoned, "short_abandoned": tally.short_abandoned,
            "ivr_only": tally.ivr_only, "direct_dial": tally.direct_dial,
            "sl_days_met": ours.sl_days_met, "sl_days": ours.sl_days,
            "answered_unknown_wait": tally.answered_unknown_wait, "calls_total": tally.calls,
            "out_of_hours_calls": tally.out_of_hours,
        }
        expected_ratios = {
            "tsf_pct": tally.tsf_pct, "asa_seconds": tally.asa_seconds,
            "abandon_rate_pct": tally.abandon_rate_pct, "sl_days_pct": ours.sl_days_pct,
            "aht_seconds": tally.aht_seconds, "out_of_hours_pct": tally.out_of_hours_pct,
            "offered_mom_change_pct": ours.offered_mom_change_pct,
            "csc_call_share_pct": ours.csc_call_share_pct,
        }
        where = f"{key[0]} {key[1]:%Y-%m}"
        for col, value in expected_counts.items():
            if not same_count(row[col], value):
                mismatches.append(f"{where} {col}: {row[col]} vs {value}")
        for col, value in expected_ratios.items():
            if not same_ratio(row[col], as_float(value)):
                mismatches.append(f"{where} {col}: {row[col]} vs {as_float(value)}")
    report(mismatches, "monthly")


def test_daily_kpis_summed_over_queues_match(serving, reference):
    rows = fetch(serving, "marts.kpi_telephony_daily",
                 {"partner": PARTNER, "day": DAY, **DAILY_COUNTS})
    mart: dict[tuple[str, dt.date], Counter] = defaultdict(Counter)
    for r in rows:
        mart[(r["partner"], as_date(r["day"]))].update(
            {c: int(r[c] or 0) for c in DAILY_COUNTS})
    assert mart, "marts.kpi_telephony_daily is empty"
    mismatches = []
    for key in sorted(set(mart) | set(reference.daily)):
        tally = reference.daily.get(key)
        ours = ({c: getattr(tally, c) for c in DAILY_COUNTS} if tally is not None
                else dict.fromkeys(DAILY_COUNTS, 0))
        for col, value in ours.items():
            if mart.get(key, Counter())[col] != value:
                mismatches.append(f"{key[0]} {key[1]} {col}: "
                                  f"{mart.get(key, Counter())[col]} vs {value}")
    report(mismatches, "daily")


def test_scorecard_matches_recomputation(serving, reference):
    rows = fetch(serving, "marts.kpi_scorecard", {"partner": PARTNER, "month": MONTH,
                                                  **SCORECARD})
    mart = {}
    for r in rows:
        if r["kpi"] in SCORECARD_KPIS:
            key = (r["partner"], as_date(r["month"]), r["kpi"])
            assert key not in mart, f"marts.kpi_scorecard: duplicate row {key}"
            mart[key] = r
    ours = reference.scorecard
    missing = sorted(set(ours) - set(mart))
    extra = sorted(set(mart) - set(ours))
    assert not missing and not extra, (f"scorecard rows only in recomputation: {missing[:20]}; "
                                       f"only in mart: {extra[:20]}")
    mismatches = []
    for key in sorted(ours):
        r, o = mart[key], ours[key]
        where = f"{key[0]} {key[1]:%Y-%m} {key[2]}"
        for col, value in (("value", o.value), ("target", o.target),
                           ("amber_tolerance", o.amber_tolerance), ("hub_value", o.hub_value)):
            if not same_ratio(number(r[col]), as_float(value)):
                mismatches.append(f"{where} {col}: {r[col]} vs {as_float(value)}")
        if (r["rag_status"] or "none").lower() != o.rag_status:
            mismatches.append(f"{where} rag_status: {r['rag_status']} vs {o.rag_status} "
                              f"(value {as_float(o.value)}, target {as_float(o.target)})")
        if r["measurement_status"] != o.measurement_status:
            mismatches.append(f"{where} measurement_status: {r['measurement_status']} vs "
                              f"{o.measurement_status}")
        rank = r["rank_among_partners"]
        if (None if rank is None else int(rank)) != o.rank_among_partners:
            mismatches.append(f"{where} rank_among_partners: {rank} vs {o.rank_among_partners}")
    report(mismatches, "scorecard")


def test_row_accounting(serving, reference):
    def per_partner(table: str) -> Counter:
        col = resolve(serving, table, {"partner": PARTNER})["partner"]
        return Counter(dict(serving.execute(
            f'select "{col}", count(*) from {table} group by all').fetchall()))

    fct = per_partner("marts.fct_calls")
    quarantine = per_partner("quality.quarantine_calls")
    excluded = per_partner("quality.excluded_calls")
    mismatches = []
    for code, data in sorted(reference.partners.items()):
        accounted = fct[code] + quarantine[code] + excluded[code]
        if data.raw_rows != accounted:
            mismatches.append(f"{code}: {data.raw_rows} rows in files vs {fct[code]} fct + "
                              f"{quarantine[code]} quarantined + {excluded[code]} excluded")
        for label, mart_n, ours_n in (("fct_calls", fct[code], len(data.calls)),
                                      ("quarantine_calls", quarantine[code],
                                       len(data.quarantined)),
                                      ("excluded_calls", excluded[code], len(data.excluded))):
            if mart_n != ours_n:
                mismatches.append(f"{code} {label}: {mart_n} vs {ours_n}")
    unknown = sorted((set(fct) | set(quarantine) | set(excluded)) - set(reference.partners))
    assert not unknown, f"marts hold partners with no landing data read here: {unknown}"
    report(mismatches, "row accounting")


def test_phonenow_january_2021(serving, reference):
    """The real PhoneNow export: January 2021 is 1,772 offered, 1,455 answered, 69 within 15 s."""
    expected = {"offered": 1772, "answered": 1455, "answered_within_threshold": 69}
    row = monthly_rows(serving).get(("phonenow", dt.date(2021, 1, 1)))
    assert row is not None, "marts.kpi_telephony_monthly has no PhoneNow January 2021 row"
    assert {k: int(row[k]) for k in expected} == expected
    tally = reference.monthly[("phonenow", dt.date(2021, 1, 1))].tally
    assert {k: getattr(tally, k) for k in expected} == expected
    assert reference.definitions["tsf_pct"].threshold_seconds == 15


def quarantined_rows(con) -> dict[str, set[tuple[str, int, str]]]:
    """Partner -> {(file under the partner's source folder, data row, reason)} in the mart."""
    rows: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for r in fetch(con, "quality.quarantine_calls", QUARANTINE):
        file = str(r["file"]).replace("\\", "/")
        file = file.split(f"{r['partner']}/{SOURCE}/", 1)[-1]
        rows[r["partner"]].add((file, int(r["row"]), r["reason"]))
    return rows


def test_quarantine_reasons_by_partner_match(serving, reference):
    mart = quarantined_rows(serving)
    unknown = sorted({reason for rows in mart.values() for _, _, reason in rows}
                     - set(QUARANTINE_REASONS))
    assert not unknown, f"quality.quarantine_calls has reasons the definitions lack: {unknown}"
    mismatches = []
    for code in sorted(set(mart) | set(reference.partners)):
        data = reference.partners.get(code)
        ours = set(data.quarantined) if data is not None else set()
        theirs = mart.get(code, set())
        mart_counts = Counter(reason for _, _, reason in theirs)
        our_counts = data.quarantine_by_reason() if data is not None else Counter()
        for reason in QUARANTINE_REASONS:
            if mart_counts[reason] != our_counts[reason]:
                only_mart = sorted(r for r in theirs - ours if r[2] == reason)[:5]
                only_ours = sorted(r for r in ours - theirs if r[2] == reason)[:5]
                mismatches.append(f"{code} {reason}: {mart_counts[reason]} vs "
                                  f"{our_counts[reason]} (rows only in mart {only_mart}, "
                                  f"only ours {only_ours})")
    report(mismatches, "quarantine reason")


def test_every_kind_of_generated_dirt_is_quarantined(serving, reference):
    mart = Counter(reason for rows in quarantined_rows(serving).values()
                   for _, _, reason in rows)
    ours = Counter()
    for data in reference.partners.values():
        ours.update(data.quarantine_by_reason())
    missing = [kind for kind in GENERATED_DIRT if not mart[kind] or not ours[kind]]
    assert not missing, (f"no {missing} rows in the fixture warehouse "
                         f"(mart {dict(mart)}, recomputed {dict(ours)})")


# ---------------------------------------------------------------- issue 14: direct dials, weeks


def test_csc_call_share_not_measured_without_direct_dial_codes(serving, reference):
    """PhoneNow's outcome codes have no `direct_dial`: its csc_call_share_pct is null and
    `not_measured`, never 100 % and never ranked; the fictional partners, which carry
    direct-dial codes, are measured (and agree with the recomputation, tests above)."""
    rows = serving.execute("""
        select partner_code, measurement_status, value, rank_among_partners
        from marts.kpi_scorecard where kpi_code = 'csc_call_share_pct'""").fetchall()
    by_partner = defaultdict(set)
    for partner, status, value, rank in rows:
        by_partner[partner].add((status, value is None, rank is None))
    assert by_partner["phonenow"] == {("not_measured", True, True)}
    measured = {p for p, seen in by_partner.items() if ("measured", False, False) in seen}
    assert measured == {p for p, d in reference.partners.items() if p != "phonenow" and d.calls}
    ours = {(p, m) for (p, m), k in reference.monthly.items() if k.csc_call_share_pct is not None}
    assert ours and all(p != "phonenow" for p, _ in ours)


def test_direct_dial_extract_recomputed(serving, reference):
    """The sample's separate direct-dial extract (a partner whose YAML has `sources.direct_dial`
    and no direct_dial outcome code), read in plain Python (tests/reference_direct_dial.py):
    each row's fate and each month's calls agree with the warehouse, the months with telephony
    are measured through the extract alone, and its share sits below the 80 % target (the
    generator's direct_dial_share), so the dashboards show it amber or red."""
    assert reference.extracts, "no sample partner delivers a direct-dial extract"
    for code, extract in reference.extracts.items():
        assert extract.valid and extract.quarantined, code  # the sample's dirt reaches it
        assert extract.lines == (extract.valid + sum(extract.quarantined.values())
                                 + sum(extract.excluded.values()) + extract.rejected)
        quarantined = Counter(dict(serving.execute(
            "select quarantine_reason, count(*) from quality.quarantine_direct_dial_calls "
            "where partner_code = ? group by 1", [code]).fetchall()))
        excluded = Counter(dict(serving.execute(
            "select exclusion_reason, count(*) from quality.excluded_direct_dial_calls "
            "where partner_code = ? group by 1", [code]).fetchall()))
        calls = Counter({as_date(m): n for m, n in serving.execute(
            "select call_month, count(*) from marts.fct_direct_dial_calls "
            "where partner_code = ? group by 1", [code]).fetchall()})
        assert (quarantined, excluded, calls) == (
            extract.quarantined, extract.excluded, extract.calls), code
        months = {as_date(m): (n, measured, pct) for m, n, measured, pct in serving.execute(
            "select month, direct_dial_extract_calls, is_direct_dial_measured, "
            "csc_call_share_pct from marts.kpi_telephony_monthly where partner_code = ?",
            [code]).fetchall()}
        assert months, code
        for month, (n, measured, value) in months.items():
            ours = reference.monthly[(code, month)]
            assert n == ours.extract_calls and measured == ours.csc_measured, (code, month)
            assert same_ratio(value, as_float(ours.csc_call_share_pct)), (code, month)
            assert measured and ours.csc_call_share_pct < 80, (code, month)


WEEKLY = {
    "partner": PARTNER, "week_start": ("week_start_date",), "iso_year": ("iso_year",),
    "iso_week": ("iso_week",), "week_end": ("week_end_date",), "is_complete": ("is_complete",),
    "days_with_calls": ("days_with_calls",), "calls_total": ("calls_total",),
    "offered": ("offered",), "answered": ("answered",), "abandoned": ("abandoned",),
    "weekend_calls": ("weekend_calls",), "out_of_hours_calls": ("out_of_hours_calls",),
    "tsf_pct": ("tsf_pct",), "asa_seconds": ("asa_seconds",),
    "abandon_rate_pct": ("abandon_rate_pct",),
}


def _delivered_months(reference, partners) -> dict[str, set[dt.date]]:
    """Per partner, the months it delivered telephony for: each file's period (the partner's
    period_pattern on the file name), else the months of the rows read from it."""
    out: dict[str, set[dt.date]] = defaultdict(set)
    for code, data in reference.partners.items():
        pattern = partners[code].source.get("period_pattern")
        for name in data.files:
            key = _delivery_key(Path(name).name, pattern)
            if pattern and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", key):
                out[code].add(dt.date(int(key[:4]), int(key[5:7]), 1))
            else:
                out[code].update(c.local_start.date().replace(day=1)
                                 for c in data.calls + data.excluded if c.source_file == name)
    return out


def weekly_reference(reference) -> dict[tuple[str, dt.date], dict]:
    """(partner, Monday) -> the week's figures, from the recomputation's calls."""
    partners = load_partners()
    holidays = load_bank_holidays()
    delivered = _delivered_months(reference, partners)
    tsf = reference.definitions["tsf_pct"].threshold_seconds
    short = reference.definitions["abandon_rate_pct"].threshold_seconds
    weeks: dict[tuple[str, dt.date], dict] = {}
    for code, data in reference.partners.items():
        for call in data.calls:
            day = call.local_start.date()
            monday = day - dt.timedelta(days=day.weekday())
            week = weeks.setdefault((code, monday), {"tally": Tally(), "days": set(),
                                                     "weekend": 0})
            week["tally"].add(call, tsf, short, is_out_of_hours(call.local_start,
                                                                partners[code], holidays))
            week["days"].add(day)
            week["weekend"] += day.isoweekday() >= 6
    out = {}
    for (code, monday), week in weeks.items():
        t, sunday = week["tally"], monday + dt.timedelta(days=6)
        iso = monday.isocalendar()
        out[(code, monday)] = {
            "iso_year": iso.year, "iso_week": iso.week, "week_end": sunday,
            "is_complete": {monday.replace(day=1), sunday.replace(day=1)} <= delivered[code],
            "days_with_calls": len(week["days"]), "calls_total": t.calls,
            "offered": t.offered, "answered": t.answered, "abandoned": t.abandoned,
            "weekend_calls": week["weekend"], "out_of_hours_calls": t.out_of_hours,
            "tsf_pct": as_float(t.tsf_pct), "asa_seconds": as_float(t.asa_seconds),
            "abandon_rate_pct": as_float(t.abandon_rate_pct),
        }
    return out


def test_weekly_kpis_match_recomputation(serving, reference):
    """marts.kpi_telephony_weekly against weeks recomputed from the landing files: every ISO
    week with calls, its volumes, weekend and out-of-hours calls, TSF, ASA, abandon rate and
    completeness (the sample's first and last weeks reach into months never delivered)."""
    mart = {(r["partner"], as_date(r["week_start"])): r
            for r in fetch(serving, "marts.kpi_telephony_weekly", WEEKLY)}
    ours = weekly_reference(reference)
    assert sorted(set(mart) ^ set(ours)) == [], "weeks only in one of mart / recomputation"
    assert {w["is_complete"] for w in ours.values()} == {True, False}
    mismatches = []
    for key, expected in sorted(ours.items()):
        row = mart[key]
        for col, value in expected.items():
            got = row[col]
            same = (same_ratio(got, value) if col.endswith(("_pct", "_seconds"))
                    else (as_date(got) if col == "week_end" else got) == value)
            if not same:
                mismatches.append(f"{key[0]} {key[1]} {col}: {got} vs {value}")
    report(mismatches, "weekly")
