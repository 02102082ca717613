"""The CRM marts agree with an independent plain-Python recomputation from the landing files.

`tests/reference_crm.py` reads every partner's CRM landing files and recomputes, from the written
contract (docs/crm.md, docs/kpi-definitions.md), the row accounting, customer identity, the
contact flags and every CRM KPI per partner × month × segment. `test_reference_crm_small`
checks the reference itself on a hand-made landing set against hand-computed figures; the
other tests compare the session warehouse (real `hub generate` + `hub build`) with it: counts
exactly, ratios and money to rel=1e-9. Mismatches are collected and reported together
(partner, month, kpi, segment, column: mart vs ours).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from fractions import Fraction

import duckdb
import pytest

from tests.crm_small_landing import write_small_landing
from tests.reference_crm import (
    AVOIDABLE,
    COUNT_COLUMNS,
    KPI_UNITS,
    PERSONAL,
    QUARANTINE_REASONS,
    SOURCE,
    Reference,
    as_float,
    collect_personal_values,
    compute,
    landing_files,
    load_partners,
    normalise_personal,
    read_rows,
)
from tests.test_kpis_recomputed import as_date, fetch, number, report, resolve

REL = 1e-9
PARTNER = ("partner_code",)
MONTH = ("month", "month_start", "created_month")


# ---------------------------------------------------------------- the reference, by hand


def test_reference_crm_small(tmp_path):
    landing, partners, reference = write_small_landing(tmp_path)
    ref = compute(landing, partners, reference)
    alpha, beta = ref.partners["alpha"], ref.partners["beta"]

    # row accounting: every data row exactly once (CSV in cp1252 + BOM, JSON lines)
    assert (alpha.raw_rows, len(alpha.contacts), len(alpha.rejected)) == (17, 8, 1)
    # one of each (control characters: tests/test_ingest_rows.py)
    assert alpha.quarantine_by_reason() == Counter(
        r for r in QUARANTINE_REASONS if r != "control_character")
    assert [r for _, r, _ in alpha.quarantined] == [7, 8, 9, 10, 11, 12, 13]
    # a staff-raised record (channel mapped to `excluded`) with an unmapped avoidable code
    assert alpha.excluded == [("alpha_crm_2024_03.csv", 17, "excluded_channel")]
    assert (beta.raw_rows, len(beta.contacts), beta.rejected) == (8, 5, [("beta_202404.jsonl",
                                                                          5)])
    assert beta.quarantine_by_reason() == Counter(bad_timestamp=1, unknown_code=1)

    by_id = {c.contact_id: c for c in ref.contacts}
    # UTC 23:30 on 31 March is 00:30 BST on 1 April; accents survive cp1252
    assert by_id["beta:B1"].created == dt.datetime(2024, 4, 1, 0, 30)
    assert by_id["alpha:A3"].personal.name == "doe jane"
    assert by_id["alpha:A1"].personal.name == "john smith"  # "SMITH, Mr John"
    assert by_id["alpha:A2"].personal.phone == "07700900001"  # +44 7700 900001
    assert by_id["alpha:A13"].personal.phone_valid is False
    assert by_id["beta:B8"].personal.uprn == "200000000002"

    # identity: connected components across partners
    groups = defaultdict(set)
    for c in ref.contacts:
        groups[c.customer].add(c.contact_id)
    assert sorted(map(sorted, groups.values())) == sorted([
        ["alpha:A1", "alpha:A2", "alpha:A4", "beta:B1", "beta:B2", "beta:B3"],
        ["alpha:A3", "alpha:A5"], ["alpha:A12", "alpha:A13"], ["beta:B4", "beta:B8"],
        ["alpha:A14"]])
    assert by_id["alpha:A14"].customer is None

    assert {i for i, c in by_id.items() if c.is_duplicate_case} == {"alpha:A2", "beta:B3"}
    assert {i: c.has_repeat_within_7_days for i, c in by_id.items()} == {
        "alpha:A1": True, "alpha:A2": None, "alpha:A3": False, "alpha:A4": False,
        "alpha:A5": False, "alpha:A12": True, "alpha:A13": False, "alpha:A14": None,
        "beta:B1": True, "beta:B2": False, "beta:B3": None, "beta:B4": False, "beta:B8": None}

    complaints = {k.contact.contact_id: k for k in ref.complaints}
    a3, a5, b2 = complaints["alpha:A3"], complaints["alpha:A5"], complaints["beta:B2"]
    assert (a3.due, a3.response_working_days, a3.is_answered_in_policy) == (
        dt.date(2024, 3, 12), 5, True)
    assert (a5.due, a5.is_policy_assessable, a5.is_answered_in_policy,
            a5.is_repeat_complainant) == (dt.date(2024, 4, 3), True, False, True)  # Easter
    assert (b2.stage, b2.policy_days, b2.due, b2.response_working_days,
            b2.is_answered_in_policy) == (2, 20, dt.date(2024, 5, 1), 21, False)

    mar, apr = dt.date(2024, 3, 1), dt.date(2024, 4, 1)
    sc = ref.scorecard
    expected = {
        ("alpha", mar, "contacts", "all"): 5,
        ("alpha", mar, "fpoc_pct", "all"): 75,
        ("alpha", mar, "repeat_contact_7d_pct", "all"): 25,
        ("alpha", mar, "fpoc_repeat_7d_pct", "all"): Fraction(100, 3),
        ("alpha", mar, "avoidable_contact_pct", "all"): 40,
        ("alpha", mar, "avoidable_contact_pct", "progress_chasing"): 20,
        ("alpha", mar, "avoidable_contact_pct", "poor_signposting"): 0,
        ("alpha", mar, "channel_mix_pct", "phone"): 60,
        ("alpha", mar, "cost_to_serve_gbp", "all"): Fraction("11.15"),  # 3 x 3.00 + .25 + 1.90
        ("alpha", mar, "cost_per_contact_gbp", "all"): Fraction("2.23"),
        ("alpha", mar, "cost_per_contact_gbp", "web"): Fraction("0.25"),  # partner row
        ("alpha", mar, "csat_pct", "all"): Fraction(200, 3),
        ("alpha", mar, "csat_response_rate_pct", "all"): 100,
        ("alpha", mar, "complaints_per_1000", "all"): 400,
        ("alpha", mar, "complaints_in_policy_pct", "all"): 50,
        ("alpha", mar, "repeat_complainants", "all"): 1,
        ("alpha", mar, "duplicate_case_pct", "all"): 20,
        ("alpha", mar, "data_accuracy_pct", "all"): 80,
        ("alpha", apr, "cost_per_contact_gbp", "phone"): Fraction("2.80"),  # FY2024 hub row
        ("alpha", apr, "cost_to_serve_gbp", "all"): Fraction("11.05"),
        ("alpha", apr, "data_accuracy_pct", "all"): 75,
        ("alpha", apr, "fpoc_pct", "all"): 50,
        ("beta", apr, "contacts", "all"): 5,
        ("beta", apr, "cost_to_serve_gbp", "all"): Fraction("7.20"),
        ("beta", apr, "repeat_contact_7d_pct", "all"): Fraction(100, 3),
        ("beta", apr, "complaints_in_policy_pct", "all"): 0,
        ("beta", apr, "channel_mix_pct", "web"): 40,
        ("beta", apr, "fpoc_pct", "all"): Fraction(200, 3),  # true, "N", "yes" (defaults)
        ("beta", apr, "avoidable_contact_pct", "all"): 20,
    }
    assert {k: sc[k].value for k in expected} == expected
    assert sc[("alpha", apr, "complaints_in_policy_pct", "all")].value is None
    # not measured is not zero: no April contact of alpha carries a feedback type
    assert sc[("alpha", apr, "complaints_per_1000", "all")].value is None
    assert sc[("alpha", apr, "avoidable_contact_pct", "all")].value == 0  # A12's "-" is given
    assert sc[("alpha", mar, "channel_shift_pts", "phone")].value is None  # no last year
    assert ("beta", mar, "contacts", "all") not in sc  # B1 is an April contact locally
    assert {seg for (p, m, k, seg) in sc if (p, m, k) == ("alpha", mar, "channel_mix_pct")} == {
        "phone", "web", "email"}
    assert {seg for (p, m, k, seg) in sc if (p, m, k) == (
        "alpha", mar, "avoidable_contact_pct")} == {"all", *AVOIDABLE}
    # pooled hub values: sums of numerators over sums of denominators
    assert ref.hub[(apr, "fpoc_pct", "all")] == 60  # (1 + 2) / (2 + 3)
    assert ref.hub[(apr, "cost_per_contact_gbp", "all")] == Fraction("18.25") / 8
    assert ref.hub[(apr, "contacts", "all")] == 8
    assert ref.hub[(apr, "channel_shift_pts", "phone")] is None

    found = collect_personal_values(landing, partners)
    assert {"John.Smith@Example.com", "john.smith@example.com", "q7@example.net",
            "q7b@example.net", "not-an-email"} <= found["email"]
    assert {"07700 900001", "07700900001", "447700900001", "07700900777"} <= found["phone"]
    assert {"ab1 2cd", "AB12CD", "ZZ11ZZ"} <= found["postcode"]
    assert {"SMITH, Mr John", "john smith", "Mrs Jane Dóe", "doe jane", "Zoë Ng"} <= found[
        "customer_name"]
    assert {"2000 0000 0002", "200000000002"} <= found["uprn"]


# ---------------------------------------------------------------- against the real build


@pytest.fixture(scope="module")
def crm_reference(built_warehouse) -> Reference:
    ref = compute(built_warehouse.landing_dir, built_warehouse.partners_dir)
    assert ref.partners, "no partner YAML has a sources.crm block"
    assert ref.contacts, f"no valid CRM contacts under {built_warehouse.landing_dir}"
    return ref


@pytest.fixture(scope="module")
def marts(built_warehouse):
    con = duckdb.connect(str(built_warehouse.serving_db), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def operations(built_warehouse):
    con = duckdb.connect(str(built_warehouse.operations_db), read_only=True)
    yield con
    con.close()


def close(mart, ours: Fraction | None) -> bool:
    mart = number(mart)
    if mart is None or ours is None:
        return mart is None and ours is None
    return float(mart) == pytest.approx(float(ours), rel=REL, abs=1e-12)


def scorecard_rows(con) -> dict[tuple, dict]:
    rows = fetch(con, "marts.kpi_scorecard", {
        "partner": PARTNER, "month": MONTH, "kpi": ("kpi_code",), "segment": ("segment_code",),
        "value": ("value",), "numerator": ("numerator",), "denominator": ("denominator",),
        "hub_value": ("hub_value",)})
    out = {}
    for r in rows:
        if r["kpi"] in KPI_UNITS:
            key = (r["partner"], as_date(r["month"]), r["kpi"], r["segment"])
            assert key not in out, f"marts.kpi_scorecard: duplicate row {key}"
            out[key] = r
    return out


@pytest.mark.slow
def test_crm_scorecard_rows_are_the_same(marts, crm_reference):
    mart = set(scorecard_rows(marts))
    ours = set(crm_reference.scorecard)
    assert mart, "marts.kpi_scorecard has no CRM rows"
    only_mart, only_ours = sorted(mart - ours), sorted(ours - mart)
    assert not only_mart and not only_ours, (
        f"{len(only_mart)} rows only in mart: {only_mart[:30]}; "
        f"{len(only_ours)} only in recomputation: {only_ours[:30]}")


@pytest.mark.slow
def test_crm_scorecard_matches_recomputation(marts, crm_reference):
    mart = scorecard_rows(marts)
    mismatches = []
    for key, o in sorted(crm_reference.scorecard.items()):
        r = mart.get(key)
        if r is None:
            continue  # reported by test_crm_scorecard_rows_are_the_same
        where = f"{key[0]} {key[1]:%Y-%m} {key[2]} {key[3]}"
        for col, ours in (("value", o.value), ("numerator", o.numerator),
                          ("denominator", o.denominator),
                          ("hub_value", crm_reference.hub[key[1:]])):
            if not close(r[col], ours):
                mismatches.append(f"{where} {col}: {r[col]} vs {as_float(ours)}")
    report(mismatches, "CRM scorecard")


@pytest.mark.slow
def test_contact_monthly_matches_recomputation(marts, crm_reference):
    wanted = {"partner": PARTNER, "month": MONTH, "channel": ("channel_code",),
              "service": ("service_line_code",), "cost_gbp": ("cost_gbp",),
              **{c: (c,) for c in COUNT_COLUMNS}}
    rows = fetch(marts, "marts.kpi_contact_monthly", wanted)
    assert rows, "marts.kpi_contact_monthly is empty"
    cells: dict[tuple, int] = {}
    totals: dict[tuple, Counter] = defaultdict(Counter)
    cost: dict[tuple, float] = defaultdict(float)
    for r in rows:
        key = (r["partner"], as_date(r["month"]))
        cell = (*key, r["channel"], r["service"])
        assert cell not in cells, f"kpi_contact_monthly: duplicate row {cell}"
        cells[cell] = int(r["contacts"])
        totals[key].update({c: int(r[c] or 0) for c in COUNT_COLUMNS})
        cost[key] += float(number(r["cost_gbp"]) or 0)
    mismatches = []
    ours_cells = {(p, m, ch, sv): t.column("contacts")
                  for (p, m), f in crm_reference.monthly.items()
                  for (ch, sv), t in f.by_channel_service.items()}
    for cell in sorted(set(cells) | set(ours_cells), key=str):
        if cells.get(cell) != ours_cells.get(cell):
            mismatches.append(f"{cell[0]} {cell[1]:%Y-%m} {cell[2]} {cell[3]} contacts: "
                              f"{cells.get(cell)} vs {ours_cells.get(cell)}")
    for key in sorted(set(totals) | set(crm_reference.monthly)):
        f = crm_reference.monthly.get(key)
        where = f"{key[0]} {key[1]:%Y-%m}"
        for col in COUNT_COLUMNS:
            ours = f.total.column(col) if f else 0
            if totals[key][col] != ours:
                mismatches.append(f"{where} {col}: {totals[key][col]} vs {ours}")
        if not close(cost[key], f.total.cost_gbp if f else Fraction(0)):
            mismatches.append(f"{where} cost_gbp: {cost[key]} vs "
                              f"{as_float(f.total.cost_gbp) if f else 0}")
    report(mismatches, "kpi_contact_monthly")


def _per_partner(con, sql: str) -> Counter:
    return Counter({tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1]
                    for r in con.execute(sql).fetchall()})


@pytest.mark.slow
def test_crm_row_accounting(operations, marts, crm_reference):
    reason = resolve(operations, "quality.quarantine_contacts",
                     {"reason": ("quarantine_reason", "reason")})["reason"]
    quarantined = _per_partner(operations, f'select partner_code, "{reason}", count(*) from '
                                           f"quality.quarantine_contacts group by all")
    rejected = _per_partner(operations, "select partner_code, count(*) from raw.rejected_rows "
                                        f"where source = '{SOURCE}' group by all")
    fct = _per_partner(marts, "select partner_code, count(*) from marts.fct_contacts "
                              "group by all")
    excluded = _per_partner(operations, "select partner_code, count(*) from "
                                        "quality.excluded_contacts group by all")
    unknown = sorted({r for _, r in quarantined} - set(QUARANTINE_REASONS))
    assert not unknown, f"quality.quarantine_contacts has reasons docs/crm.md lacks: {unknown}"
    partners = {p for p, _ in quarantined} | set(rejected) | set(fct)
    assert partners <= set(crm_reference.partners), (
        f"CRM rows for partners without CRM landing data here: "
        f"{sorted(partners - set(crm_reference.partners))}")
    mismatches = []
    for code, data in sorted(crm_reference.partners.items()):
        q = {r: quarantined[(code, r)] for r in QUARANTINE_REASONS}
        accounted = rejected[code] + sum(q.values()) + excluded[code] + fct[code]
        if accounted != data.raw_rows:
            mismatches.append(f"{code}: {data.raw_rows} data rows in files vs {rejected[code]} "
                              f"rejected + {sum(q.values())} quarantined + {excluded[code]} "
                              f"excluded + {fct[code]} fct")
        for label, mart_n, ours_n in (("rejected", rejected[code], len(data.rejected)),
                                      ("excluded", excluded[code], len(data.excluded)),
                                      ("fct_contacts", fct[code], len(data.contacts))):
            if mart_n != ours_n:
                mismatches.append(f"{code} {label}: {mart_n} vs {ours_n}")
        ours_q = data.quarantine_by_reason()
        for r in QUARANTINE_REASONS:
            if q[r] != ours_q[r]:
                sample = [x for x in data.quarantined if x[2] == r][:5]
                mismatches.append(f"{code} quarantine {r}: {q[r]} vs {ours_q[r]} "
                                  f"(ours e.g. {sample})")
    report(mismatches, "CRM row accounting")


FCT = {"contact_id": ("contact_id",), "customer_id": ("customer_id",),
       "channel": ("channel_code",), "service": ("service_line_code",),
       "created_at": ("created_at",), "duplicate": ("is_duplicate_case",),
       "repeat": ("has_repeat_within_7_days",), "unit_cost": ("unit_cost_gbp",),
       "fcr": ("is_resolved_first_contact",), "avoidable": ("avoidable_category",),
       "satisfaction": ("satisfaction_score",), "feedback": ("feedback_type",),
       "has_phone": ("has_phone",), "phone_valid": ("is_phone_valid",),
       "has_postcode": ("has_postcode",), "postcode_valid": ("is_postcode_valid",)}


@pytest.mark.slow
def test_fct_contacts_match_per_contact(marts, crm_reference):
    """Per contact: identity partition, flags and unit cost (pinpoints scorecard mismatches)."""
    mart = {r["contact_id"]: r for r in fetch(marts, "marts.fct_contacts", FCT)}
    ours = {c.contact_id: c for c in crm_reference.contacts}
    assert sorted(set(mart) - set(ours))[:20] == [] and sorted(set(ours) - set(mart))[:20] == []
    mismatches = []
    for cid, c in sorted(ours.items()):
        r = mart[cid]
        p = c.personal
        expected = {
            "channel": c.channel, "service": c.service_line, "created_at": c.created,
            "duplicate": c.is_duplicate_case, "repeat": c.has_repeat_within_7_days,
            "fcr": c.first_contact_resolved, "avoidable": c.avoidable,
            "satisfaction": c.satisfaction, "feedback": c.feedback_type,
            "has_phone": p.phone_given, "phone_valid": p.phone_valid,
            "has_postcode": p.postcode_given, "postcode_valid": p.postcode_valid,
        }
        for col, value in expected.items():
            if r[col] != value:
                mismatches.append(f"{cid} {col}: {r[col]!r} vs {value!r}")
        if not close(r["unit_cost"], c.unit_cost):
            mismatches.append(f"{cid} unit_cost_gbp: {r['unit_cost']} vs {as_float(c.unit_cost)}")
        if (r["customer_id"] is None) != (c.customer is None):
            mismatches.append(f"{cid} customer_id: {r['customer_id']} vs component {c.customer}")
    # same partition: every mart customer is exactly one reference component and vice versa
    theirs: dict[str, set] = defaultdict(set)
    mine: dict[int, set] = defaultdict(set)
    for cid, r in mart.items():
        if r["customer_id"] is not None:
            theirs[r["customer_id"]].add(cid)
    for cid, c in ours.items():
        if c.customer is not None:
            mine[c.customer].add(cid)
    a = {frozenset(s) for s in theirs.values()}
    b = {frozenset(s) for s in mine.values()}
    for s in sorted(a - b, key=sorted)[:10]:
        mismatches.append(f"customer only in mart: {sorted(s)[:8]} (size {len(s)})")
    for s in sorted(b - a, key=sorted)[:10]:
        mismatches.append(f"customer only in recomputation: {sorted(s)[:8]} (size {len(s)})")
    report(mismatches, "fct_contacts")


@pytest.mark.slow
def test_fct_complaints_match_per_complaint(marts, crm_reference):
    rows = fetch(marts, "marts.fct_complaints", {
        "contact_id": ("contact_id",), "type": ("feedback_type",),
        "stage": ("feedback_stage",), "received": ("received_date",),
        "responded": ("responded_date",), "due": ("due_date",),
        "policy": ("policy_working_days",), "taken": ("response_working_days",),
        "assessable": ("is_policy_assessable",), "in_policy": ("is_answered_in_policy",),
        "repeat": ("is_repeat_complainant",)})
    mart = {r["contact_id"]: r for r in rows if r["type"] == "complaint"}
    ours = {k.contact.contact_id: k for k in crm_reference.complaints}
    feedback = Counter(r["type"] for r in rows)
    ours_feedback = Counter(c.feedback_type for c in crm_reference.contacts if c.feedback_type)
    mismatches = [f"fct_complaints {t}: {feedback[t]} vs {ours_feedback[t]}"
                  for t in ("complaint", "comment", "compliment")
                  if feedback[t] != ours_feedback[t]]
    for cid in sorted(set(mart) | set(ours)):
        r, k = mart.get(cid), ours.get(cid)
        if r is None or k is None:
            side = "recomputation" if r is None else "mart"
            mismatches.append(f"{cid}: complaint only in {side}")
            continue
        expected = {"stage": k.stage, "received": k.received, "responded": k.responded,
                    "due": k.due, "policy": k.policy_days, "taken": k.response_working_days,
                    "assessable": k.is_policy_assessable, "in_policy": k.is_answered_in_policy,
                    "repeat": k.is_repeat_complainant}
        for col, value in expected.items():
            got = r[col]
            if isinstance(got, dt.datetime):
                got = got.date()
            if got != value and not (col == "taken" and got is not None and value is not None
                                     and int(got) == value):
                mismatches.append(f"{cid} {col}: {r[col]!r} vs {value!r}")
    report(mismatches, "fct_complaints")


RAW_FLAGS = ("has_customer_name", "has_phone", "is_phone_valid", "has_email", "is_email_valid",
             "has_postcode", "is_postcode_valid")
RAW_KEYS = ("customer_name_key", "phone_key", "email_key", "postcode_key", "uprn_key",
            "name_postcode_key")
IDENTITY_KEYS = ("email_key", "phone_key", "name_postcode_key", "uprn_key")


@pytest.mark.slow
def test_raw_crm_contacts_privacy_columns_match_per_row(crm_reference, built_warehouse):
    """raw.crm_contacts per loaded row: the has_/is_valid flags, which keys are null, and the
    partition of the valid contacts by shared identity keys (docs/crm.md, pseudonymisation)."""
    cols = ", ".join(("partner_code", "_source_file", "_row_number", *RAW_FLAGS, *RAW_KEYS))
    raw = {}
    # the delivered rows stay in the working file (publish.py)
    with duckdb.connect(str(built_warehouse.work_db), read_only=True) as work:
        rows = work.execute(f"select {cols} from raw.crm_contacts").fetchall()
    for r in rows:
        file = str(r[1]).replace("\\", "/").split(f"{r[0]}/{SOURCE}/", 1)[-1]
        key = (r[0], file, int(r[2]))
        assert key not in raw, f"raw.crm_contacts: two rows for {key}"
        raw[key] = dict(zip(RAW_FLAGS + RAW_KEYS, r[3:], strict=True))
    partners = load_partners(built_warehouse.partners_dir)
    mismatches, expected_rows = [], 0
    for code, p in sorted(partners.items()):
        for name, path in landing_files(built_warehouse.landing_dir, p):
            for row_no, values in enumerate(read_rows(path, p.source), start=1):
                if values is None:
                    continue
                expected_rows += 1
                row = raw.get((code, name, row_no))
                if row is None:
                    mismatches.append(f"{code} {name} row {row_no}: not in raw.crm_contacts")
                    continue
                v = {f: (values[f].strip() or None) if values[f] is not None else None
                     for f in PERSONAL}
                per = normalise_personal(v)
                expected = {
                    "has_customer_name": v["customer_name"] is not None,
                    "has_phone": per.phone_given, "is_phone_valid": per.phone_valid,
                    "has_email": per.email_given, "is_email_valid": per.email_valid,
                    "has_postcode": per.postcode_given, "is_postcode_valid": per.postcode_valid,
                    "customer_name_key": per.name is not None,
                    "phone_key": per.phone is not None, "email_key": per.email is not None,
                    "postcode_key": per.postcode is not None, "uprn_key": per.uprn is not None,
                    "name_postcode_key": bool(per.name and per.postcode),
                }
                for col, value in expected.items():
                    got = row[col] if col in RAW_FLAGS else row[col] is not None
                    if got != value:
                        mismatches.append(f"{code} {name} row {row_no} {col}: {got} vs "
                                          f"{value}")
    if len(raw) != expected_rows:
        mismatches.append(f"raw.crm_contacts has {len(raw)} rows vs {expected_rows} parseable")
    # the partition of valid contacts by shared keys equals the reference's components
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def identity(c):
        row = raw.get((c.partner, c.source_file, c.row_number), {})
        return [(k, row[k]) for k in IDENTITY_KEYS if row.get(k) is not None]

    for c in crm_reference.contacts:
        keys = identity(c)
        for k in keys:
            find(k)
        for a, b in itertools.pairwise(keys):
            parent[find(a)] = find(b)
    theirs: dict = defaultdict(set)
    mine: dict = defaultdict(set)
    for c in crm_reference.contacts:
        if keys := identity(c):
            theirs[find(keys[0])].add(c.contact_id)
        if c.customer is not None:
            mine[c.customer].add(c.contact_id)
    a = {frozenset(s) for s in theirs.values()}
    b = {frozenset(s) for s in mine.values()}
    for s in sorted(a - b, key=sorted)[:10]:
        mismatches.append(f"key component only in raw keys: {sorted(s)[:8]} (size {len(s)})")
    for s in sorted(b - a, key=sorted)[:10]:
        mismatches.append(f"component only in recomputation: {sorted(s)[:8]} (size {len(s)})")
    report(mismatches, "raw.crm_contacts")


@pytest.mark.slow
def test_crm_scorecard_targets_rag_and_ranks(marts, crm_reference):
    """Target (override, else default), RAG and rank among partners per month × kpi × segment,
    decided on the reference's exact values with the rules of docs/kpi-definitions.md."""
    from tests.reference_kpis import load_definitions, load_overrides, rag, target_for

    definitions, overrides = load_definitions(), load_overrides()
    missing = sorted(set(KPI_UNITS) - set(definitions))
    assert not missing, f"seeds/reference/kpi_definitions.csv lacks CRM KPIs {missing}"
    rows = fetch(marts, "marts.kpi_scorecard", {
        "partner": PARTNER, "month": MONTH, "kpi": ("kpi_code",), "segment": ("segment_code",),
        "target": ("target",), "amber_tolerance": ("amber_tolerance",),
        "rag_status": ("rag_status",), "rank": ("rank_among_partners",)})
    mart = {(r["partner"], as_date(r["month"]), r["kpi"], r["segment"]): r for r in rows
            if r["kpi"] in KPI_UNITS}
    peers: dict[tuple, list] = defaultdict(list)
    for (_, month, kpi, segment), o in crm_reference.scorecard.items():
        if o.value is not None:
            peers[(month, kpi, segment)].append(o.value)
    mismatches = []
    for key, o in sorted(crm_reference.scorecard.items()):
        r = mart.get(key)
        if r is None:
            continue  # reported by test_crm_scorecard_rows_are_the_same
        partner, month, kpi, segment = key
        d = definitions[kpi]
        target, tolerance = target_for(partner, kpi, definitions, overrides)
        status = rag(o.value, target, tolerance, d.direction)
        rank = None
        if o.value is not None and d.direction == "higher_is_better":
            rank = 1 + sum(v > o.value for v in peers[(month, kpi, segment)])
        elif o.value is not None and d.direction == "lower_is_better":
            rank = 1 + sum(v < o.value for v in peers[(month, kpi, segment)])
        where = f"{partner} {month:%Y-%m} {kpi} {segment}"
        for col, ours in (("target", target), ("amber_tolerance", tolerance)):
            if not close(r[col], ours):
                mismatches.append(f"{where} {col}: {r[col]} vs {as_float(ours)}")
        if (r["rag_status"] or "none").lower() != status:
            mismatches.append(f"{where} rag_status: {r['rag_status']} vs {status} "
                              f"(value {as_float(o.value)}, target {as_float(target)})")
        if (None if r["rank"] is None else int(r["rank"])) != rank:
            mismatches.append(f"{where} rank_among_partners: {r['rank']} vs {rank}")
    report(mismatches, "CRM scorecard target/RAG/rank")
