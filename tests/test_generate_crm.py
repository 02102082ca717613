"""CRM sample data: real files read back following the partner YAML (docs/crm.md), no mocks.

Rows are read the way a reader of the contract would: csv with the declared delimiter and
encoding (a cp1252 file behind a UTF-8 BOM), JSON lines with dotted key paths, codes through
`codes`, timestamps with `timestamp_format` in local time or UTC. Realism checks use the clean
rows; dirt is found from the YAML alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import hashlib
import io
import json
import re
import shutil
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from dagster_project.generate import GenerateReport, generate_sample
from dagster_project.generate.closures import load_bank_holidays
from dagster_project.generate.crm import ENQUIRY_TYPES, NONE, ContactTable
from dagster_project.generate.crm_dirt import KPI_KINDS, QUARANTINE_KINDS
from dagster_project.generate.crm_spec import AVOIDABLE, CHANNELS, FEEDBACK, load_crm_partner
from dagster_project.generate.crm_writers import format_contacts
from dagster_project.generate.customers import build_population
from dagster_project.generate.simulation import ANSWERED, simulate_partner
from dagster_project.generate.spec import load_partner_spec
from tests.fast_strptime import strptime

REPO = Path(__file__).resolve().parents[1]
PARTNERS_DIR = REPO / "seeds" / "partners"
HOLIDAYS_CSV = REPO / "seeds" / "reference" / "uk_bank_holidays.csv"
DBT_VARS = yaml.safe_load((REPO / "dbt" / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
END_MONTH, MONTHS, SCALE, SEED = dt.date(2024, 4, 1), 4, 0.15, 7
CONFIGS = {
    p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
    for p in sorted(PARTNERS_DIR.glob("*.yml"))
}
GENERATED = sorted(code for code, config in CONFIGS.items() if config.get("generator"))
CANONICAL_CHANNELS = {"phone", "face_to_face", "web", "email", "letter", "social"}
PHONE_RE = re.compile(r"^0\d{9,10}$")
POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateReport]:
    root = tmp_path_factory.mktemp("crm_landing")
    report = generate_sample(
        root, PARTNERS_DIR, months=MONTHS, seed=SEED, scale=SCALE, end_month=END_MONTH, workers=1
    )
    return root, report


@pytest.fixture(scope="module")
def contacts(generated: tuple[Path, GenerateReport]) -> dict[str, list[dict]]:
    """Every partner's rows as delivered."""
    return {code: read_contacts(generated[0], code)[0] for code in GENERATED}


@pytest.fixture(scope="module")
def valid(contacts: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Rows that pass the quarantine, with parsed fields and a hub-wide `customer`."""
    rows = {code: clean(code, contacts[code]) for code in GENERATED}
    assign_customers(rows)
    return rows


# ---------------------------------------------------------------- reading files back


def crm(code: str) -> dict:
    return CONFIGS[code]["sources"]["crm"]


def lookup(record: dict, path: str):
    node = record
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def read_contacts(landing: Path, code: str) -> tuple[list[dict], int]:
    """Rows as canonical-field dicts (text or None), plus the count of unreadable lines."""
    source = crm(code)
    fmt, columns = source["format"], source["columns"]
    files = sorted(p for p in (landing / code / "crm").iterdir() if p.is_file())
    assert files, f"{code}: no CRM files"
    rows, malformed = [], 0
    for path in files:
        assert fnmatch.fnmatch(path.name, source["files"])
        assert re.search(source["period_pattern"], path.name)
        data = path.read_bytes()
        encoding = fmt.get("encoding", "utf-8")
        if encoding == "cp1252":
            assert data.startswith(b"\xef\xbb\xbf")
            data = data[3:]
        text = data.decode(encoding)
        if fmt["type"] == "jsonl":
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    malformed += 1
                    continue
                values = {f: lookup(record, key) for f, key in columns.items()}
                rows.append(
                    {f: None if v is None else str(v) for f, v in values.items()} | {"_file": path}
                )
        else:
            assert fmt["type"] == "csv"
            table = list(csv.reader(io.StringIO(text, newline=""), delimiter=fmt["delimiter"]))
            assert table[0] == list(columns.values()), f"{path.name}: header"
            for line in table[1:]:
                assert len(line) == len(columns)
                values = dict(zip(columns, line, strict=True))
                rows.append({f: v or None for f, v in values.items()} | {"_file": path})
    return rows, malformed


def parse_time(code: str, text: str | None) -> dt.datetime | None:
    """Local naive time of a timestamp, None when empty or unparseable."""
    if not text:
        return None
    source = crm(code)
    try:
        value = strptime(text, source["timestamp_format"])
    except ValueError:
        return None
    if source.get("timestamp_zone") == "utc":
        zone = ZoneInfo(CONFIGS[code].get("timezone", "Europe/London"))
        value = value.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
    return value


def canonical(code: str, field: str, value: str | None) -> str | None:
    if value is None:
        return None
    mapping = crm(code)["codes"][field]
    return mapping.get(value)


def norm_phone(value: str | None) -> str | None:
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    digits = "0" + digits[2:] if digits.startswith("44") else digits
    return digits if PHONE_RE.match(digits) else None


def norm_name(value: str | None) -> str | None:
    if not value:
        return None
    text = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    tokens = [t for t in re.sub(r"[^a-z]", " ", text).split() if t not in TITLES]
    return " ".join(sorted(tokens)) or None


def identity_keys(row: dict) -> list[str]:
    """The contract's identity keys (docs/crm.md), normalised, valid ones only."""
    keys = []
    if row.get("email") and "@" in row["email"]:
        keys.append("e:" + row["email"].strip().lower())
    phone = norm_phone(row.get("phone"))
    if phone:
        keys.append("p:" + phone)
    postcode = re.sub(r"\s", "", (row.get("postcode") or "").upper())
    name = norm_name(row.get("customer_name"))
    if name and POSTCODE_RE.match(postcode):
        keys.append(f"n:{name}|{postcode}")
    if row.get("uprn"):
        keys.append("u:" + re.sub(r"\D", "", row["uprn"]))
    return keys


def assign_customers(rows_by_partner: dict[str, list[dict]]) -> None:
    """`customer` on every row: connected components over identity keys, hub-wide."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for rows in rows_by_partner.values():
        for row in rows:
            keys = identity_keys(row)
            for key in keys[1:]:
                parent[find(key)] = find(keys[0])
            row["_keys"] = keys
    for rows in rows_by_partner.values():
        for row in rows:
            row["customer"] = find(row["_keys"][0]) if row["_keys"] else None


def clean(code: str, rows: list[dict]) -> list[dict]:
    """Rows that should pass the quarantine (first by enquiry id), with parsed fields."""
    seen: set[str] = set()
    out = []
    for row in rows:
        created = parse_time(code, row["created_at"])
        channel = canonical(code, "channel", row["channel"])
        if not row["enquiry_id"] or created is None or created.year < 2000 or channel is None:
            continue
        if row["enquiry_id"] in seen or row.get("satisfaction") not in (
            None,
            "1",
            "2",
            "3",
            "4",
            "5",
        ):
            continue
        resolved = parse_time(code, row["resolved_at"])
        if resolved is not None and resolved < created:
            continue
        seen.add(row["enquiry_id"])
        out.append({**row, "created": created, "resolved": resolved, "canon_channel": channel})
    return out


# ---------------------------------------------------------------- tests


def test_every_fictional_partner_declares_crm_per_contract() -> None:
    formats = set(DBT_VARS["timestamp_formats"])
    kinds = Counter()
    for code in GENERATED:
        source = crm(code)
        assert source["timestamp_format"] in formats
        assert set(source["codes"]["channel"].values()) == CANONICAL_CHANNELS
        assert "complaint_policy" in CONFIGS[code]
        fmt = source["format"]
        kinds[(fmt["type"], fmt.get("delimiter"), fmt.get("encoding"))] += 1
    assert "crm" not in CONFIGS["phonenow"]["sources"]
    assert any(t == "jsonl" for t, _, _ in kinds)
    assert any(d == ";" for _, d, _ in kinds) and any(d == "|" for _, d, _ in kinds)
    assert any(e == "cp1252" for _, _, e in kinds)
    stamps = {crm(code)["timestamp_format"] for code in GENERATED}
    assert {"%Y-%m-%dT%H:%M:%SZ", "%d/%m/%Y %H:%M:%S"} <= stamps
    channel_codes = {tuple(sorted(crm(code)["codes"]["channel"])) for code in GENERATED}
    assert len(channel_codes) == len(GENERATED), "each partner has its own channel codes"


def test_files_parse_with_configured_columns(generated, contacts) -> None:
    landing, report = generated
    summary = report.summary()
    by_partner = {(p.partner_code, p.source): p for p in report.partners}
    for code in GENERATED:
        rows, malformed = read_contacts(landing, code)
        assert len(list((landing / code / "crm").iterdir())) == MONTHS
        output = by_partner[(code, "crm")]
        assert output.files == MONTHS and output.rows == len(rows) + malformed
        good = clean(code, rows)
        assert len(good) > 0.99 * len(rows)
        for row in good:
            for field in ("resolved_at", "responded_at"):
                assert row[field] is None or parse_time(code, row[field]) is not None
            for field in ("first_contact_resolved", "back_office"):
                assert canonical(code, "flag", row[field]) in ("true", "false")
            assert row["service"] in crm(code)["services"]
            assert canonical(code, "avoidable_reason", row["avoidable_reason"]) is not None
            if row["feedback_type"]:
                assert canonical(code, "feedback_type", row["feedback_type"])
        assert f"{code:<10}  crm" in summary
    assert "dirty CRM rows" in summary and "CRM dirt kept in the data" in summary


def _answered(code: str) -> tuple[Counter, Counter]:
    spec = load_partner_spec(PARTNERS_DIR / f"{code}.yml")
    first = dt.date(2024, 1, 1)
    days = np.arange(
        (first - dt.date(1970, 1, 1)).days, (dt.date(2024, 5, 1) - dt.date(1970, 1, 1)).days
    )
    calls = simulate_partner(spec, days, load_bank_holidays(HOLIDAYS_CSV), seed=SEED, scale=SCALE)
    start = calls.local_seconds[calls.outcome == ANSWERED]
    moments = start.astype("datetime64[s]")
    months = Counter(moments.astype("datetime64[M]").astype(str).tolist())
    hours = Counter(((start % 86_400) // 3600).tolist())
    return months, hours


@pytest.mark.parametrize("code", GENERATED)
def test_phone_enquiries_follow_answered_calls(code, valid) -> None:
    months, hours = _answered(code)
    phone = [r for r in valid[code] if r["canon_channel"] == "phone"]
    per_month = Counter(r["created"].strftime("%Y-%m") for r in phone)
    for month, answered in months.items():
        assert 0.8 <= per_month[month] / answered <= 1.0, (month, per_month[month], answered)
    phone_hours = Counter(r["created"].hour for r in phone)
    total_calls, total_phone = sum(hours.values()), sum(phone_hours.values())
    distance = (
        sum(abs(hours[h] / total_calls - phone_hours[h] / total_phone) for h in range(24)) / 2
    )
    assert distance < 0.05


def test_channels_shift_and_behave(valid) -> None:
    pooled: dict[str, Counter] = defaultdict(Counter)  # month -> channel -> contacts, all partners
    for code in GENERATED:
        rows = valid[code]
        for row in rows:
            pooled[row["created"].strftime("%Y-%m")][row["canon_channel"]] += 1
        assert {r["canon_channel"] for r in rows} == CANONICAL_CHANNELS
        f2f = [r for r in rows if r["canon_channel"] == "face_to_face"]
        opening = CONFIGS[code]["opening_hours"]
        weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        for row in f2f:  # logged in opening hours (a duplicate case up to 25 minutes after)
            window = opening[weekday[row["created"].weekday()]]
            late = (row["created"] - dt.timedelta(minutes=25)).strftime("%H:%M")
            assert window[0] <= row["created"].strftime("%H:%M") and late < window[1]

        fcr = [canonical(code, "flag", r["first_contact_resolved"]) == "true" for r in rows]
        assert 0.65 <= sum(fcr) / len(rows) <= 0.88
        back = [canonical(code, "flag", r["back_office"]) == "true" for r in rows]
        unresolved_back = sum(b for b, f in zip(back, fcr, strict=True) if not f)
        assert unresolved_back > 0.7 * (len(rows) - sum(fcr))
        avoidable = Counter(
            canonical(code, "avoidable_reason", r["avoidable_reason"]) for r in rows
        )
        assert 0.12 <= 1 - avoidable["none"] / len(rows) <= 0.28
        resolved = [r for r in rows if r["resolved"] is not None]
        scored = [r for r in resolved if r["satisfaction"]]
        assert 0.15 <= len(scored) / len(resolved) <= 0.35
        feedback = Counter(canonical(code, "feedback_type", r["feedback_type"]) for r in rows)
        assert 0.003 <= feedback["complaint"] / len(rows) <= 0.015
        assert feedback["comment"] and feedback["compliment"]
        for row in rows:
            if row["feedback_type"] and row["responded_at"]:
                assert parse_time(code, row["responded_at"]) > row["created"]
        assert any(r["resolved"] is None for r in rows), "recent contacts still open"
    months = sorted(pooled)
    share = {m: {c: pooled[m][c] / sum(pooled[m].values()) for c in CANONICAL_CHANNELS}
             for m in months}  # fmt: skip
    assert share[months[-1]]["web"] > share[months[0]]["web"]
    assert share[months[-1]]["face_to_face"] < share[months[0]]["face_to_face"]


def test_unresolved_contacts_repeat_more_often(valid) -> None:
    repeats = {True: [0, 0], False: [0, 0]}  # fcr -> [repeated, contacts]
    for code in GENERATED:
        rows = valid[code]
        last = max(r["created"] for r in rows)
        by_key: dict[tuple, list[dt.datetime]] = defaultdict(list)
        for row in rows:
            key = row["customer"]
            if key:
                by_key[(key, row["service"])].append(row["created"])
        for times in by_key.values():
            times.sort()
        for row in rows:
            key = row["customer"]
            if not key or row["created"] + dt.timedelta(days=7) > last:
                continue
            times = by_key[(key, row["service"])]
            later = [t for t in times if row["created"] + dt.timedelta(hours=1) < t
                     <= row["created"] + dt.timedelta(days=7)]  # fmt: skip
            fcr = canonical(code, "flag", row["first_contact_resolved"]) == "true"
            repeats[fcr][0] += bool(later)
            repeats[fcr][1] += 1
    resolved = repeats[True][0] / repeats[True][1]
    unresolved = repeats[False][0] / repeats[False][1]
    print(f"repeat within 7 days: resolved {resolved:.3f}, unresolved {unresolved:.3f}")
    assert unresolved > 2.5 * resolved, (resolved, unresolved)
    assert 0.2 <= unresolved <= 0.5 and resolved <= 0.15


def test_customers_recur_across_channels_and_partners(valid) -> None:
    partners_of: dict[str, set[str]] = defaultdict(set)
    channels_of: dict[str, set[str]] = defaultdict(set)
    anonymous = 0
    total = 0
    for code in GENERATED:
        for row in valid[code]:
            total += 1
            if not any(row[f] for f in ("customer_name", "phone", "email", "postcode", "uprn")):
                anonymous += 1
            key = row["customer"]
            if key:
                partners_of[key].add(code)
                channels_of[key].add(row["canon_channel"])
    assert 0.07 <= anonymous / total <= 0.14
    assert sum(len(p) >= 2 for p in partners_of.values()) > 100
    assert sum(len(c) >= 2 for c in channels_of.values()) > 100
    assert any({"northmoor", "eastbrook"} <= p for p in partners_of.values())
    assert any(len(p - {"northmoor"}) >= 2 for p in partners_of.values()), "district to district"


def test_dirt_kinds_present(generated, contacts, valid) -> None:
    landing, report = generated
    quarantine = report.crm_dirt_by_kind()
    assert set(quarantine) == set(QUARANTINE_KINDS) and all(quarantine.values())
    kept = report.crm_kpi_dirt_by_kind()
    assert set(kept) == set(KPI_KINDS) and all(kept.values())
    found: Counter = Counter()
    for code in GENERATED:
        rows = contacts[code]
        total = len(rows)
        ids = Counter(r["enquiry_id"] for r in rows if r["enquiry_id"])
        found["duplicate_enquiry_id"] += sum(n - 1 for n in ids.values())
        found["missing_key"] += sum(not r["enquiry_id"] for r in rows)
        found["bad_timestamp"] += sum(
            (t := parse_time(code, r["created_at"])) is None or t.year < 2000 for r in rows
        )
        found["unknown_code"] += sum(canonical(code, "channel", r["channel"]) is None for r in rows)
        found["bad_satisfaction"] += sum(r["satisfaction"] == "7" for r in rows)
        names = [r["customer_name"] for r in rows if r["customer_name"]]
        found["upper"] += sum(n.isupper() for n in names)
        found["comma"] += sum("," in n for n in names)
        found["title"] += sum(n.split()[0].lower() in TITLES for n in names)
        found["spaces"] += sum(n != " ".join(n.split()) for n in names)
        found["bad_phone"] += sum(r["phone"] in ("0770 123", "n/a", "+44 12") for r in rows)
        found["bad_postcode"] += sum(r["postcode"] in ("AB1", "UNKNOWN") for r in rows)
        postcodes = [
            r["postcode"] for r in rows if r["postcode"] and r["postcode"] not in ("AB1", "UNKNOWN")
        ]
        assert all(POSTCODE_RE.match(p.replace(" ", "").upper()) for p in postcodes)
        good = valid[code]
        by_case: dict[tuple, list[dt.datetime]] = defaultdict(list)
        for row in good:
            key = row["customer"]
            if key:
                by_case[(key, row["service"], row["canon_channel"])].append(row["created"])
        found["duplicate_case"] += sum(
            1
            for times in by_case.values()
            for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
            if b - a <= dt.timedelta(minutes=60)
        )
        assert total - len(good) < total / 200, f"{code}: quarantine dirt about 1 in 2,000"
    for kind in ("duplicate_enquiry_id", "missing_key", "bad_timestamp", "unknown_code",
                 "bad_satisfaction", "upper", "comma", "title", "spaces", "bad_phone",
                 "bad_postcode", "duplicate_case"):  # fmt: skip
        assert found[kind] > 0, kind
    jsonl = [c for c in GENERATED if crm(c)["format"]["type"] == "jsonl"]
    assert jsonl
    assert sum(read_contacts(landing, c)[1] for c in jsonl) == quarantine["malformed_line"]


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_deterministic_and_clean_without_dirt(tmp_path: Path) -> None:
    partners = tmp_path / "partners"
    partners.mkdir()
    for code in ("eastbrook", "northmoor", "westvale"):
        shutil.copy(PARTNERS_DIR / f"{code}.yml", partners)
    args = {"months": 2, "seed": 3, "scale": 0.08, "end_month": dt.date(2024, 2, 1)}
    hashes = []
    for name, workers in (("one", 1), ("two", 2)):
        generate_sample(tmp_path / name, partners, workers=workers, **args)
        hashes.append(_tree_hash(tmp_path / name))
    assert hashes[0] == hashes[1]
    report = generate_sample(tmp_path / "clean", partners, workers=1, with_dirt=False, **args)
    assert not any(report.crm_dirt_by_kind().values())
    rows, malformed = read_contacts(tmp_path / "clean", "westvale")
    assert malformed == 0 and rows
    _, dirty_malformed = read_contacts(tmp_path / "one", "westvale")
    assert dirty_malformed >= 1


def _contact_table(rows: int, residents: int, seed: int) -> ContactTable:
    """Contacts with every kind of value the writer formats, name variants included."""
    rng = np.random.default_rng(seed)
    never = np.full(rows, NONE, dtype=np.int64)
    created = np.sort(rng.integers(0, 60 * 86_400, rows)).astype(np.int64)
    small = {name: rng.integers(0, high, rows).astype(np.int8) for name, high in (
        ("channel", len(CHANNELS)), ("avoidable", len(AVOIDABLE)), ("satisfaction", 6),
        ("enquiry_type", len(ENQUIRY_TYPES)), ("name_variant", 6), ("bad_phone", 2),
        ("bad_postcode", 2), ("stage", 3))}  # fmt: skip
    flags = {name: rng.random(rows) < 0.5 for name in (
        "fcr", "back_office", "gives_phone", "gives_email", "gives_postcode", "gives_uprn",
        "is_repeat")}  # fmt: skip
    return ContactTable(
        created=created, service=rng.integers(0, 2, rows).astype(np.int16),
        person=np.where(rng.random(rows) < 0.9, rng.integers(0, residents, rows), NONE),
        resolved=np.where(rng.random(rows) < 0.8, created + 3_600, NONE),
        feedback=np.where(rng.random(rows) < 0.1, rng.integers(0, len(FEEDBACK), rows), NONE)
        .astype(np.int8),
        responded=never, duplicate_of=never, **small, **flags,
    )  # fmt: skip


def test_a_month_formatted_alone_equals_the_whole_table_formatted_at_once() -> None:
    """The generator formats and writes one month at a time (`crm_writers.file_jobs`), so that
    it holds one month's text: a month's slice, told where it starts, must give the same text
    as the whole table, enquiry ids and the name variants that alternate along it included."""
    population = build_population([("eastbrook", "EB", 3_000)], seed=5)
    table = _contact_table(400, len(population), seed=5)
    zone = ZoneInfo("Europe/London")
    emails = 0
    for code in GENERATED:
        partner = load_crm_partner(PARTNERS_DIR / f"{code}.yml")
        if partner is None:
            continue
        whole = format_contacts(partner, table, ["Bins", "Housing"], population, zone)
        emails += sum(isinstance(v, str) and "@" in v for v in whole.get("email", []))
        for lo, hi in ((0, 150), (150, 151), (151, 400)):
            month = format_contacts(partner, table.take(slice(lo, hi)), ["Bins", "Housing"],
                                    population, zone, first_row=lo)
            for field, values in whole.items():
                assert month[field].tolist() == values[lo:hi].tolist(), (code, field, lo)
    assert emails  # the population's stored bytes come back as text
