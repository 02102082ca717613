"""An independent recomputation of the CRM (all-channel contact) KPIs, in plain Python.

Reads every partner's CRM landing files as its YAML (`sources.crm`) describes them and applies
the written contract only: docs/crm.md (quarantine order, privacy normalisation and validity,
customer identity, duplicate cases, repeats) and the section "All-channel contact (CRM) KPIs"
of docs/kpi-definitions.md. Nothing here uses DuckDB, dbt or the project's modules (the shared
CSV/xlsx reader and calendar come from tests/reference_kpis.py, itself plain Python). Ratios and
money are exact `Fraction`s; they become floats only for the comparison with the marts.

Interpretations where the contract is silent (kept deliberately, reported when marts differ):

- values are trimmed; an empty value is null. An empty `channel` (a required field) is
  `unknown_code`; other empty coded fields are null and never a code;
- a coded field configured without a code map accepts its canonical values only;
- an empty or unmapped service falls in the service line `unmapped` (as telephony queues do);
- customer identity is built over the valid contacts (rows of fct_contacts) of every partner;
- a repeat complainant's earlier complaint is received on a date in [d - 365 days, d);
- numerators of percentages are the plain counts (the unit supplies the ×100 / ×1000), count
  and money-total KPIs have the value as numerator and no denominator, and
  `channel_shift_pts` has neither.

Run `python -m tests.reference_crm <landing dir> [partners dir]` to print the monthly figures.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from tests.fast_strptime import strptime
from tests.reference_kpis import _decode, _delivery_key, load_sanity_window, read_table

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTNERS_DIR = REPO_ROOT / "seeds" / "partners"
REFERENCE_DIR = REPO_ROOT / "seeds" / "reference"

SOURCE = "crm"
FIELDS = ("enquiry_id", "created_at", "channel", "resolved_at", "service", "enquiry_type",
          "first_contact_resolved", "back_office", "avoidable_reason", "satisfaction",
          "feedback_type", "feedback_stage", "responded_at",
          "customer_name", "phone", "email", "postcode", "uprn")
PERSONAL = ("customer_name", "phone", "email", "postcode", "uprn")
QUARANTINE_REASONS = ("missing_key", "control_character", "bad_timestamp",
                      "timestamp_out_of_range", "unknown_code", "bad_satisfaction",
                      "resolved_before_created", "duplicate_enquiry_id")
# Fields whose control characters (C0, DEL) quarantine the row; the free text enquiry_type has
# them replaced by spaces, and personal fields never reach a table.
CODED_FIELDS = ("enquiry_id", "created_at", "resolved_at", "responded_at", "channel", "service",
                "first_contact_resolved", "back_office", "avoidable_reason", "satisfaction",
                "feedback_type", "feedback_stage")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
CHANNELS = ("face_to_face", "phone", "email", "letter", "social", "web")
AVOIDABLE = ("progress_chasing", "service_failure", "poor_communication", "poor_signposting")
CANONICAL = {
    "channel": set(CHANNELS),
    "avoidable_reason": {*AVOIDABLE, "none"},
    "feedback_type": {"complaint", "comment", "compliment"},
    "feedback_stage": {"1", "2"},
}
DEFAULT_FLAGS = {**dict.fromkeys(("Y", "Yes", "y", "yes", "true", "1"), "true"),
                 **dict.fromkeys(("N", "No", "n", "no", "false", "0"), "false")}
FLAG_FIELDS = ("first_contact_resolved", "back_office")
DEFAULT_POLICY = {1: 10, 2: 20}
TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir"}
PHONE_RE = re.compile(r"^0\d{9,10}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
UPRN_RE = re.compile(r"^\d{1,12}$")
SATISFACTION_RE = re.compile(r"^\d+$")
DUPLICATE_WINDOW = dt.timedelta(minutes=60)
REPEAT_WINDOW = dt.timedelta(days=7)
REPEAT_COMPLAINANT_DAYS = 365

# kpi_code -> unit; segments are decided in `scorecard_rows`
KPI_UNITS = {
    "contacts": "count", "fpoc_pct": "pct", "repeat_contact_7d_pct": "pct",
    "fpoc_repeat_7d_pct": "pct", "avoidable_contact_pct": "pct", "channel_mix_pct": "pct",
    "cost_per_contact_gbp": "gbp", "cost_to_serve_gbp": "gbp", "channel_shift_pts": "pts",
    "csat_pct": "pct", "csat_response_rate_pct": "pct", "complaints_per_1000": "per_1000",
    "complaints_in_policy_pct": "pct", "repeat_complainants": "count",
    "duplicate_case_pct": "pct", "data_accuracy_pct": "pct",
}
SCALE = {"pct": 100, "per_1000": 1000, "gbp": 1}
SUMMED_KPIS = {"contacts", "repeat_complainants", "cost_to_serve_gbp"}  # hub value = sum


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Partner:
    code: str
    timezone: str
    source: dict  # the YAML `sources.crm` block as written
    policy: dict[int, int]  # complaint stage -> working days


def load_partners(partners_dir: Path = PARTNERS_DIR) -> dict[str, Partner]:
    partners = {}
    for path in sorted(partners_dir.glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        source = (raw.get("sources") or {}).get(SOURCE)
        if source is None:
            continue
        policy = dict(DEFAULT_POLICY)
        for key, days in (raw.get("complaint_policy") or {}).items():
            policy[int(str(key).removeprefix("stage_"))] = int(days)
        partners[raw["code"]] = Partner(raw["code"], raw.get("timezone", "Europe/London"),
                                        source, policy)
    return partners


def load_bank_holidays(reference_dir: Path = REFERENCE_DIR) -> set[dt.date]:
    with open(reference_dir / "uk_bank_holidays.csv", encoding="utf-8", newline="") as fh:
        return {dt.date.fromisoformat(r["holiday_date"]) for r in csv.DictReader(fh)}


@dataclass(frozen=True)
class UnitCosts:
    rows: dict[tuple[str | None, str, int | None], Fraction]

    @classmethod
    def load(cls, reference_dir: Path = REFERENCE_DIR) -> UnitCosts:
        rows = {}
        with open(reference_dir / "channel_unit_costs.csv", encoding="utf-8",
                  newline="") as fh:
            for r in csv.DictReader(fh):
                partner = (r.get("partner_code") or "").strip() or None
                year = (r.get("financial_year_start") or "").strip()
                key = (partner, r["channel_code"].strip(), int(year) if year else None)
                assert key not in rows, f"channel_unit_costs.csv: duplicate row {key}"
                rows[key] = Fraction(r["unit_cost_gbp"].strip())
        return cls(rows)

    def cost(self, partner: str, channel: str, year: int) -> Fraction | None:
        """Most specific row: partner + year, partner, year, default."""
        for key in ((partner, channel, year), (partner, channel, None), (None, channel, year),
                    (None, channel, None)):
            if key in self.rows:
                return self.rows[key]
        return None


def financial_year_start(day: dt.date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def working_days_after(start: dt.date, end: dt.date, holidays: set[dt.date]) -> int:
    """Working days in (start, end]."""
    n, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        n += day.weekday() < 5 and day not in holidays
    return n


def nth_working_day_after(start: dt.date, n: int, holidays: set[dt.date]) -> dt.date:
    day = start
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            n -= 1
    return day


# ---------------------------------------------------------------- privacy


def normalise_name(text: str | None) -> str | None:
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    spaced = "".join(c if c.isalpha() else " " for c in plain)
    tokens = sorted(t for t in spaced.split() if t not in TITLES)
    return " ".join(tokens) or None


def phone_digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0044"):
        return "0" + digits[4:]
    if digits.startswith("44"):
        return "0" + digits[2:]
    return digits


@dataclass(frozen=True)
class Personal:
    name: str | None  # normalised, None when empty
    phone_given: bool
    phone: str | None  # normalised and valid, else None
    phone_valid: bool | None
    email_given: bool
    email: str | None
    email_valid: bool | None
    postcode_given: bool
    postcode: str | None
    postcode_valid: bool | None
    uprn: str | None  # normalised and valid

    def identity(self) -> list[tuple[str, str]]:
        """The identity values (kind, normalised value) that join contacts into a customer."""
        keys = []
        if self.email:
            keys.append(("email", self.email))
        if self.phone:
            keys.append(("phone", self.phone))
        if self.name and self.postcode:
            keys.append(("name_postcode", f"{self.name}|{self.postcode}"))
        if self.uprn:
            keys.append(("uprn", self.uprn))
        return keys


def normalise_personal(values: dict) -> Personal:
    phone = values.get("phone")
    email = values.get("email")
    postcode = values.get("postcode")
    uprn = values.get("uprn")
    phone_norm = phone_digits(phone) if phone is not None else None
    phone_ok = bool(PHONE_RE.match(phone_norm)) if phone_norm is not None else None
    email_norm = email.strip().lower() if email is not None else None
    email_ok = bool(EMAIL_RE.match(email_norm)) if email_norm is not None else None
    postcode_norm = re.sub(r"\s", "", postcode.upper()) if postcode is not None else None
    postcode_ok = bool(POSTCODE_RE.match(postcode_norm)) if postcode_norm is not None else None
    uprn_norm = re.sub(r"\D", "", uprn) if uprn is not None else None
    return Personal(
        name=normalise_name(values.get("customer_name")),
        phone_given=phone is not None, phone=phone_norm if phone_ok else None,
        phone_valid=phone_ok,
        email_given=email is not None, email=email_norm if email_ok else None,
        email_valid=email_ok,
        postcode_given=postcode is not None, postcode=postcode_norm if postcode_ok else None,
        postcode_valid=postcode_ok,
        uprn=uprn_norm if uprn_norm and UPRN_RE.match(uprn_norm) else None,
    )


def personal_forms(field_name: str, text: str) -> set[str]:
    """The value as delivered plus every normalised form the loader might compute."""
    forms = {text, text.strip()}
    if field_name == "customer_name":
        name = normalise_name(text)
        if name:
            forms.add(name)
    elif field_name == "phone":
        forms |= {re.sub(r"\D", "", text), phone_digits(text)}
    elif field_name == "email":
        forms.add(text.strip().lower())
    elif field_name == "postcode":
        forms |= {re.sub(r"\s", "", text.upper()), text.strip().upper()}
    elif field_name == "uprn":
        forms.add(re.sub(r"\D", "", text))
    return {f for f in forms if f}


# ---------------------------------------------------------------- reading landing files


def _json_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _dotted(obj, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def read_rows(path: Path, src: dict) -> list[dict | None]:
    """One entry per data row: field -> text as delivered (empty -> None), or None when the
    line cannot be parsed (malformed)."""
    fmt = src.get("format") or {}
    columns = {f: str(h) for f, h in (src.get("columns") or {}).items()}
    if fmt.get("type", "csv") == "jsonl":
        text = _decode(path.read_bytes(), str(fmt.get("encoding", "utf-8")).lower())
        out: list[dict | None] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                out.append(None)
                continue
            if not isinstance(obj, dict):
                out.append(None)
                continue
            values = {}
            for f in FIELDS:
                v = _json_text(_dotted(obj, columns[f])) if f in columns else None
                values[f] = None if v == "" else v
            out.append(values)
        return out
    header, rows = read_table(path, fmt)
    missing = [h for h in columns.values() if h not in header]
    if missing:
        raise ValueError(f"{path}: headers {missing} not in {header}")
    index = {f: header.index(h) for f, h in columns.items()}
    out = []
    for row in rows:
        if fmt.get("type", "csv") == "csv" and len(row) != len(header):
            out.append(None)
            continue
        out.append({f: (row[index[f]] if f in index and index[f] < len(row) else None)
                    for f in FIELDS})
    return out


def landing_files(landing_dir: Path, partner: Partner) -> list[tuple[str, Path]]:
    """(name under the partner's crm folder, path) of every landing file, in text order."""
    folder = landing_dir / partner.code / SOURCE
    if not folder.is_dir():
        return []
    paths = sorted((p for p in folder.glob(str(partner.source.get("files", "*")))
                    if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.relative_to(folder).as_posix())
    keys = Counter(_delivery_key(p.name, partner.source.get("period_pattern")) for p in paths)
    repeated = [k for k, n in keys.items() if n > 1]
    if repeated:  # a later file would replace an earlier one: not modelled here, say so
        raise NotImplementedError(f"{partner.code}: re-delivered CRM periods {repeated}")
    return [(p.relative_to(folder).as_posix(), p) for p in paths]


def collect_personal_values(landing_dir: Path, partners_dir: Path = PARTNERS_DIR
                            ) -> dict[str, set[str]]:
    """field -> every personal value in the CRM landing files (as delivered and normalised),
    from every parseable row whatever became of it, plus e-mail addresses found anywhere in
    the raw text (malformed lines included)."""
    found: dict[str, set[str]] = {f: set() for f in PERSONAL}
    for partner in load_partners(partners_dir).values():
        for _, path in landing_files(landing_dir, partner):
            for values in read_rows(path, partner.source):
                if values is None:
                    continue
                for f in PERSONAL:
                    if values.get(f) is not None:
                        found[f] |= personal_forms(f, values[f])
            raw = _decode(path.read_bytes(), str((partner.source.get("format") or {})
                                                 .get("encoding", "utf-8")).lower())
            for email in re.findall(r"[^\s@,;\"'{}:]+@[^\s@,;\"'{}:]+\.[A-Za-z]{2,}", raw):
                found["email"] |= personal_forms("email", email)
    return found


# ---------------------------------------------------------------- classification


@dataclass
class Contact:
    partner: str
    enquiry_id: str
    created: dt.datetime  # naive local
    resolved: dt.datetime | None
    responded: dt.datetime | None
    channel: str
    service_line: str
    first_contact_resolved: bool | None
    back_office: bool | None
    avoidable: str | None  # category; None when not avoidable ('none' or empty)
    satisfaction: int | None
    feedback_type: str | None
    feedback_stage: int | None
    personal: Personal
    source_file: str
    row_number: int
    customer: int | None = None  # component id (same partition as customer_id)
    is_duplicate_case: bool = False
    has_repeat_within_7_days: bool | None = None
    unit_cost: Fraction | None = None  # channel cost for the partner and financial year
    avoidable_given: bool = False  # an avoidable reason was delivered, `none` included

    @property
    def contact_id(self) -> str:
        return f"{self.partner}:{self.enquiry_id}"

    @property
    def month(self) -> dt.date:
        return self.created.date().replace(day=1)


@dataclass
class PartnerData:
    code: str
    files: dict[str, int] = field(default_factory=dict)  # file -> data rows read
    rejected: list[tuple[str, int]] = field(default_factory=list)
    quarantined: list[tuple[str, int, str]] = field(default_factory=list)
    excluded: list[tuple[str, int, str]] = field(default_factory=list)  # (file, row, reason)
    contacts: list[Contact] = field(default_factory=list)

    def quarantine_by_reason(self) -> Counter:
        return Counter(reason for _, _, reason in self.quarantined)

    @property
    def raw_rows(self) -> int:
        return sum(self.files.values())


def _code_maps(src: dict) -> dict[str, dict[str, str] | None]:
    codes = src.get("codes") or {}
    maps: dict[str, dict[str, str] | None] = {}
    for f in ("channel", "avoidable_reason", "feedback_type", "feedback_stage"):
        maps[f] = ({str(k): str(v) for k, v in codes[f].items()} if codes.get(f) is not None
                   else None)
    flags = codes.get("flag")
    flag_map = {str(k): str(v) for k, v in flags.items()} if flags is not None else DEFAULT_FLAGS
    for f in FLAG_FIELDS:
        maps[f] = flag_map
    return maps


def _lookup(maps: dict, f: str, code: str) -> str | None:
    m = maps[f]
    if m is None:
        return code if code in CANONICAL[f] else None
    return m.get(code)


EXCLUSIONS = (("channel", "excluded_channel"), ("service", "excluded_service"),
              ("avoidable_reason", "excluded_avoidable_reason"),
              ("feedback_type", "excluded_feedback_type"),
              ("feedback_stage", "excluded_feedback_stage"))


def exclusion_of(v: dict, maps: dict, services: dict[str, str]) -> str | None:
    """The first coded field whose value the partner maps to `excluded` (not a customer
    contact), or None."""
    for f, reason in EXCLUSIONS:
        if v[f] is None:
            continue
        target = services.get(v[f]) if f == "service" else _lookup(maps, f, v[f])
        if target == "excluded":
            return reason
    return None


def classify(values: dict, src: dict, maps: dict, zone: ZoneInfo,
             window: tuple[dt.datetime, dt.datetime],
             services: dict[str, str] | None = None) -> tuple[str | None, dict]:
    """(first failing check 1-5, parsed values) of one row; trimmed, empty -> None.
    v["exclusion"] names why a row that passes is excluded (None: a customer contact); the
    codes of an excluded row are not checked."""
    v = {f: (values[f].strip() or None) if values[f] is not None else None for f in FIELDS}
    if v["enquiry_id"] is None or v["created_at"] is None:
        return "missing_key", v
    if any(values[f] is not None and CONTROL_RE.search(values[f].strip(" "))
           for f in CODED_FIELDS):
        return "control_character", v
    formats = src.get("column_timestamp_formats") or {}
    utc = src.get("timestamp_zone", "local") == "utc"
    parsed = {}
    for f in ("created_at", "resolved_at", "responded_at"):
        if v[f] is None:
            parsed[f] = None
            continue
        try:
            ts = strptime(v[f], str(formats.get(f, src["timestamp_format"])))
        except ValueError:
            return "bad_timestamp", v
        if utc:
            ts = ts.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
        parsed[f] = ts
    if any(ts is not None and not window[0] <= ts <= window[1] for ts in parsed.values()):
        return "timestamp_out_of_range", v
    v.update(parsed)
    v["exclusion"] = exclusion_of(v, maps, services or {})
    if v["channel"] is None and v["exclusion"] is None:
        return "unknown_code", v
    for f in ("channel", "avoidable_reason", "feedback_type", "feedback_stage", *FLAG_FIELDS):
        if v[f] is None:
            continue
        canonical = _lookup(maps, f, v[f])
        if canonical is None and v["exclusion"] is None:
            return "unknown_code", v
        v[f] = canonical
    if v["satisfaction"] is not None:
        if not SATISFACTION_RE.match(v["satisfaction"]) or not 1 <= int(v["satisfaction"]) <= 5:
            return "bad_satisfaction", v
        v["satisfaction"] = int(v["satisfaction"])
    if v["resolved_at"] is not None and v["resolved_at"] < v["created_at"]:
        return "resolved_before_created", v
    return None, v


def read_partner(landing_dir: Path, partner: Partner,
                 window: tuple[dt.datetime, dt.datetime]) -> PartnerData:
    src = partner.source
    data = PartnerData(partner.code)
    maps = _code_maps(src)
    services = {str(k): str(v) for k, v in (src.get("services") or {}).items()}
    zone = ZoneInfo(partner.timezone)
    # enquiry id -> (delivery key, values) of the first row that passed the other checks
    claimed: dict[str, tuple[str, tuple]] = {}
    for name, path in landing_files(landing_dir, partner):  # earlier = by file, then row
        rows = read_rows(path, src)
        data.files[name] = len(rows)
        for number, values in enumerate(rows, start=1):
            if values is None:
                data.rejected.append((name, number))
                continue
            texts = tuple(None if values[f] is None else values[f].strip(" ") or None
                          for f in FIELDS if f not in PERSONAL and not f.endswith("_at"))
            reason, v = classify(values, src, maps, zone, window, services)
            key = _delivery_key(path.name, src.get("period_pattern"))
            resent = False
            if reason is None and v["enquiry_id"] in claimed:
                seen = (texts, v["created_at"], v["resolved_at"], v["responded_at"],
                        normalise_personal(v))
                first_key, first_seen = claimed[v["enquiry_id"]]
                resent = first_key != key and first_seen == seen
                if not resent:
                    reason = "duplicate_enquiry_id"
            if reason is not None:
                data.quarantined.append((name, number, reason))
                continue
            if resent:
                data.excluded.append((name, number, "already_delivered"))
                continue
            claimed[v["enquiry_id"]] = (key, (texts, v["created_at"], v["resolved_at"],
                                              v["responded_at"], normalise_personal(v)))
            if v["exclusion"] is not None:
                data.excluded.append((name, number, v["exclusion"]))
                continue
            flag = {f: None if v[f] is None else v[f] == "true" for f in FLAG_FIELDS}
            feedback = v["feedback_type"]
            stage = None
            if feedback == "complaint":
                stage = int(v["feedback_stage"]) if v["feedback_stage"] is not None else 1
            data.contacts.append(Contact(
                partner=partner.code, enquiry_id=v["enquiry_id"], created=v["created_at"],
                resolved=v["resolved_at"], responded=v["responded_at"], channel=v["channel"],
                service_line=services.get(v["service"] or "", "unmapped"),
                first_contact_resolved=flag["first_contact_resolved"],
                back_office=flag["back_office"],
                avoidable=None if v["avoidable_reason"] in (None, "none") else
                v["avoidable_reason"], avoidable_given=v["avoidable_reason"] is not None,
                satisfaction=v["satisfaction"], feedback_type=feedback, feedback_stage=stage,
                personal=normalise_personal(v), source_file=name, row_number=number))
    return data


# ---------------------------------------------------------------- identity and flags


def assign_customers(contacts: list[Contact]) -> None:
    """Connected components over the identity values (union-find), across partners."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for c in contacts:
        keys = c.personal.identity()
        for k in keys:
            find(k)
        for a, b in itertools.pairwise(keys):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
    ids: dict[tuple[str, str], int] = {}
    for c in contacts:
        keys = c.personal.identity()
        c.customer = ids.setdefault(find(keys[0]), len(ids)) if keys else None


def flag_duplicates_and_repeats(contacts: list[Contact]) -> None:
    by_case: dict[tuple, list[Contact]] = defaultdict(list)
    for c in contacts:
        if c.customer is not None:
            by_case[(c.partner, c.customer, c.service_line, c.channel)].append(c)
    for group in by_case.values():
        group.sort(key=lambda c: (c.created, c.enquiry_id))
        for prev, cur in itertools.pairwise(group):
            cur.is_duplicate_case = prev.created >= cur.created - DUPLICATE_WINDOW
    latest: dict[str, dt.datetime] = {}
    for c in contacts:
        latest[c.partner] = max(latest.get(c.partner, c.created), c.created)
    later: dict[tuple, list[dt.datetime]] = defaultdict(list)
    for c in contacts:
        if c.customer is not None and not c.is_duplicate_case:
            later[(c.partner, c.customer, c.service_line)].append(c.created)
    for times in later.values():
        times.sort()
    for c in contacts:
        if (c.customer is None or c.is_duplicate_case
                or c.created + REPEAT_WINDOW > latest[c.partner]):
            c.has_repeat_within_7_days = None
            continue
        times = later[(c.partner, c.customer, c.service_line)]
        i = bisect.bisect_right(times, c.created)
        c.has_repeat_within_7_days = i < len(times) and times[i] <= c.created + REPEAT_WINDOW


# ---------------------------------------------------------------- monthly figures


COUNT_COLUMNS = ("contacts", "fpoc_flagged", "fpoc_resolved", "repeat_assessable",
                 "repeated_7d", "fpoc_repeat_assessable", "fpoc_repeated_7d",
                 "avoidable_contacts", *(f"avoidable_{a}" for a in AVOIDABLE),
                 "resolved_contacts", "satisfaction_responses", "satisfied_responses",
                 "complaints", "comments", "compliments", "duplicate_cases", "phones_given",
                 "phones_valid", "postcodes_given", "postcodes_valid", "avoidable_flagged",
                 "feedback_given", "identified_contacts")


@dataclass
class Tally:
    """The kpi_contact_monthly columns for one partner × month (× channel × service)."""

    counts: Counter = field(default_factory=Counter)
    cost_gbp: Fraction = field(default_factory=Fraction)

    def add(self, c: Contact, cost: Fraction) -> None:
        n = self.counts
        n["contacts"] += 1
        if c.first_contact_resolved is not None:
            n["fpoc_flagged"] += 1
            n["fpoc_resolved"] += c.first_contact_resolved
        if c.has_repeat_within_7_days is not None:
            n["repeat_assessable"] += 1
            n["repeated_7d"] += c.has_repeat_within_7_days
            if c.first_contact_resolved:
                n["fpoc_repeat_assessable"] += 1
                n["fpoc_repeated_7d"] += c.has_repeat_within_7_days
        if c.avoidable is not None:
            n["avoidable_contacts"] += 1
            n[f"avoidable_{c.avoidable}"] += 1
        n["resolved_contacts"] += c.resolved is not None
        if c.satisfaction is not None:
            n["satisfaction_responses"] += 1
            n["satisfied_responses"] += c.satisfaction >= 4
        if c.feedback_type is not None:
            n[f"{c.feedback_type}s"] += 1
        # what "measured" rests on (docs/kpi-definitions.md, "Not measured is not zero")
        n["avoidable_flagged"] += c.avoidable_given
        n["feedback_given"] += c.feedback_type is not None
        n["identified_contacts"] += c.customer is not None
        n["duplicate_cases"] += c.is_duplicate_case
        p = c.personal
        n["phones_given"] += p.phone_given
        n["phones_valid"] += bool(p.phone_valid)
        n["postcodes_given"] += p.postcode_given
        n["postcodes_valid"] += bool(p.postcode_valid)
        self.cost_gbp += cost

    def __iadd__(self, other: Tally) -> Tally:
        self.counts.update(other.counts)
        self.cost_gbp += other.cost_gbp
        return self

    def column(self, name: str) -> int:
        return self.counts[name]


@dataclass
class Complaint:
    contact: Contact
    received: dt.date
    responded: dt.date | None
    stage: int
    policy_days: int
    due: dt.date
    response_working_days: int | None
    is_policy_assessable: bool
    is_answered_in_policy: bool
    is_repeat_complainant: bool


def complaints_of(contacts: list[Contact], partners: dict[str, Partner],
                  holidays: set[dt.date]) -> list[Complaint]:
    as_of: dict[str, dt.date] = {}
    for c in contacts:
        as_of[c.partner] = max(as_of.get(c.partner, c.created.date()), c.created.date())
    received_by: dict[tuple, list[dt.date]] = defaultdict(list)
    for c in contacts:
        if c.feedback_type == "complaint" and c.customer is not None:
            received_by[(c.partner, c.customer)].append(c.created.date())
    for days in received_by.values():
        days.sort()
    out = []
    for c in contacts:
        if c.feedback_type != "complaint":
            continue
        received = c.created.date()
        responded = c.responded.date() if c.responded is not None else None
        stage = c.feedback_stage or 1
        policy = partners[c.partner].policy[stage]
        due = nth_working_day_after(received, policy, holidays)
        repeat = False
        if c.customer is not None:
            days = received_by[(c.partner, c.customer)]
            lo = bisect.bisect_left(days, received - dt.timedelta(days=REPEAT_COMPLAINANT_DAYS))
            repeat = lo < bisect.bisect_left(days, received)
        out.append(Complaint(
            c, received, responded, stage, policy, due,
            working_days_after(received, responded, holidays) if responded else None,
            responded is not None or due < as_of[c.partner],
            responded is not None and responded <= due, repeat))
    return out


@dataclass
class MonthFigures:
    partner: str
    month: dt.date
    total: Tally = field(default_factory=Tally)
    by_channel: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_channel_service: dict[tuple[str, str], Tally] = field(
        default_factory=lambda: defaultdict(Tally))
    complaints_assessable: int = 0
    complaints_in_policy: int = 0
    repeat_complainants: set = field(default_factory=set)


@dataclass(frozen=True)
class ScoreRow:
    value: Fraction | None
    numerator: Fraction | None
    denominator: Fraction | None


@dataclass
class Reference:
    partners: dict[str, PartnerData]
    contacts: list[Contact]
    complaints: list[Complaint]
    monthly: dict[tuple[str, dt.date], MonthFigures]
    scorecard: dict[tuple[str, dt.date, str, str], ScoreRow]
    hub: dict[tuple[dt.date, str, str], Fraction | None]


def ratio(kpi: str, numerator, denominator) -> ScoreRow:
    num, den = Fraction(numerator), Fraction(denominator)
    value = SCALE[KPI_UNITS[kpi]] * num / den if den else None
    return ScoreRow(value, num, den)


def total(value) -> ScoreRow:
    return ScoreRow(Fraction(value), Fraction(value), None)


def unmeasured_unless(inputs: int, row: ScoreRow) -> ScoreRow:
    """Not measured is not zero: without a single contact carrying the KPI's input the value
    is None (never ranked, never pooled); the counts stay."""
    return row if inputs else ScoreRow(None, row.numerator, row.denominator)


def scorecard_rows(m: MonthFigures, last_year: MonthFigures | None
                   ) -> dict[tuple[str, str], ScoreRow]:
    rows = _scorecard_rows(m, last_year)
    n = m.total.column
    for (kpi, segment), row in rows.items():
        inputs = {"avoidable_contact_pct": n("avoidable_flagged"),
                  "csat_response_rate_pct": n("satisfaction_responses"),
                  "complaints_per_1000": n("feedback_given"),
                  "repeat_complainants": n("feedback_given"),
                  "duplicate_case_pct": n("identified_contacts")}.get(kpi)
        if inputs is not None:
            rows[(kpi, segment)] = unmeasured_unless(inputs, row)
    return rows


def _scorecard_rows(m: MonthFigures, last_year: MonthFigures | None
                    ) -> dict[tuple[str, str], ScoreRow]:
    t = m.total
    n = t.column
    rows = {
        ("contacts", "all"): total(n("contacts")),
        ("fpoc_pct", "all"): ratio("fpoc_pct", n("fpoc_resolved"), n("fpoc_flagged")),
        ("repeat_contact_7d_pct", "all"): ratio("repeat_contact_7d_pct", n("repeated_7d"),
                                                n("repeat_assessable")),
        ("fpoc_repeat_7d_pct", "all"): ratio("fpoc_repeat_7d_pct", n("fpoc_repeated_7d"),
                                             n("fpoc_repeat_assessable")),
        ("avoidable_contact_pct", "all"): ratio("avoidable_contact_pct",
                                                n("avoidable_contacts"), n("contacts")),
        ("cost_per_contact_gbp", "all"): ratio("cost_per_contact_gbp", t.cost_gbp,
                                               n("contacts")),
        ("cost_to_serve_gbp", "all"): total(t.cost_gbp),
        ("csat_pct", "all"): ratio("csat_pct", n("satisfied_responses"),
                                   n("satisfaction_responses")),
        ("csat_response_rate_pct", "all"): ratio("csat_response_rate_pct",
                                                 n("satisfaction_responses"),
                                                 n("resolved_contacts")),
        ("complaints_per_1000", "all"): ratio("complaints_per_1000", n("complaints"),
                                              n("contacts")),
        ("complaints_in_policy_pct", "all"): ratio("complaints_in_policy_pct",
                                                   m.complaints_in_policy,
                                                   m.complaints_assessable),
        ("repeat_complainants", "all"): total(len(m.repeat_complainants)),
        ("duplicate_case_pct", "all"): ratio("duplicate_case_pct", n("duplicate_cases"),
                                             n("contacts")),
        ("data_accuracy_pct", "all"): ratio("data_accuracy_pct",
                                            n("phones_valid") + n("postcodes_valid"),
                                            n("phones_given") + n("postcodes_given")),
    }
    for a in AVOIDABLE:
        rows[("avoidable_contact_pct", a)] = ratio("avoidable_contact_pct", n(f"avoidable_{a}"),
                                                   n("contacts"))
    for ch, tc in sorted(m.by_channel.items()):
        mix = ratio("channel_mix_pct", tc.column("contacts"), n("contacts"))
        rows[("channel_mix_pct", ch)] = mix
        rows[("cost_per_contact_gbp", ch)] = ratio("cost_per_contact_gbp", tc.cost_gbp,
                                                   tc.column("contacts"))
        rows[("cost_to_serve_gbp", ch)] = total(tc.cost_gbp)
        shift = None
        if last_year is not None and last_year.total.column("contacts"):
            before = last_year.by_channel.get(ch, Tally()).column("contacts")
            shift = mix.value - Fraction(100 * before, last_year.total.column("contacts"))
        rows[("channel_shift_pts", ch)] = ScoreRow(shift, None, None)
    return rows


def load_min_denominators(reference_dir: Path = REFERENCE_DIR) -> dict[str, Fraction]:
    """kpi_code -> min_denominator of seeds/reference/kpi_definitions.csv (small-number
    suppression; KPIs without one are never suppressed)."""
    path = reference_dir / "kpi_definitions.csv"
    if not path.exists():  # a hand-made reference folder without definitions: no suppression
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["kpi_code"]: Fraction(r["min_denominator"]) for r in csv.DictReader(fh)
                if (r.get("min_denominator") or "").strip()}


def suppressed(kpi: str, row: ScoreRow, minimums: dict[str, Fraction]) -> bool:
    """A value over a denominator below the KPI's min_denominator is served null."""
    return (row.value is not None and row.denominator is not None and kpi in minimums
            and row.denominator < minimums[kpi])


def compute(landing_dir: Path, partners_dir: Path = PARTNERS_DIR,
            reference_dir: Path = REFERENCE_DIR) -> Reference:
    partners = load_partners(partners_dir)
    holidays = load_bank_holidays(reference_dir)
    costs = UnitCosts.load(reference_dir)
    window = load_sanity_window()
    data = {code: read_partner(landing_dir, p, window) for code, p in partners.items()}
    contacts = [c for d in data.values() for c in d.contacts]
    assign_customers(contacts)
    flag_duplicates_and_repeats(contacts)
    complaints = complaints_of(contacts, partners, holidays)

    monthly: dict[tuple[str, dt.date], MonthFigures] = {}
    for c in contacts:
        cost = costs.cost(c.partner, c.channel, financial_year_start(c.created.date()))
        assert cost is not None, f"no unit cost for {c.partner} {c.channel}"
        c.unit_cost = cost
        m = monthly.setdefault((c.partner, c.month), MonthFigures(c.partner, c.month))
        m.total.add(c, cost)
        m.by_channel[c.channel].add(c, cost)
        m.by_channel_service[(c.channel, c.service_line)].add(c, cost)
    for k in complaints:
        m = monthly[(k.contact.partner, k.contact.month)]
        m.complaints_assessable += k.is_policy_assessable
        m.complaints_in_policy += k.is_policy_assessable and k.is_answered_in_policy
        if k.is_repeat_complainant:
            m.repeat_complainants.add(k.contact.customer)

    scorecard: dict[tuple[str, dt.date, str, str], ScoreRow] = {}
    for (code, month), m in sorted(monthly.items()):
        last_year = monthly.get((code, month.replace(year=month.year - 1)))
        for (kpi, segment), row in scorecard_rows(m, last_year).items():
            scorecard[(code, month, kpi, segment)] = row
    pooled: dict[tuple[dt.date, str, str], list[ScoreRow]] = defaultdict(list)
    for (_, month, kpi, segment), row in scorecard.items():
        if row.value is not None:
            pooled[(month, kpi, segment)].append(row)
    hub: dict[tuple[dt.date, str, str], Fraction | None] = {}
    for (_, month, kpi, segment) in scorecard:
        rows = pooled.get((month, kpi, segment), [])
        if kpi == "channel_shift_pts":
            hub[(month, kpi, segment)] = None
        elif kpi in SUMMED_KPIS:
            hub[(month, kpi, segment)] = sum((r.value for r in rows), Fraction(0))
        else:
            den = sum((r.denominator for r in rows), Fraction(0))
            hub[(month, kpi, segment)] = (SCALE[KPI_UNITS[kpi]]
                                          * sum((r.numerator for r in rows), Fraction(0)) / den
                                          if den else None)
    # small-number suppression after pooling: a suppressed partner's counts stay in the hub
    minimums = load_min_denominators(reference_dir)
    for key, row in scorecard.items():
        if suppressed(key[2], row, minimums):
            scorecard[key] = ScoreRow(None, row.numerator, row.denominator)
    return Reference(data, contacts, complaints, monthly, scorecard, hub)


def as_float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def main(argv: list[str]) -> int:
    landing = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / "data" / "landing"
    partners_dir = Path(argv[2]) if len(argv) > 2 else PARTNERS_DIR
    ref = compute(landing, partners_dir)
    for code, d in ref.partners.items():
        print(f"{code}: {len(d.files)} files, {d.raw_rows} rows, {len(d.contacts)} contacts, "
              f"{len(d.quarantined)} quarantined {dict(sorted(d.quarantine_by_reason().items()))}"
              f", {len(d.rejected)} rejected")
    for code, month in sorted(ref.monthly):
        rows = {(kpi, seg): v for (c, mo, kpi, seg), v in ref.scorecard.items()
                if (c, mo) == (code, month)}
        shown = " ".join(f"{kpi}={as_float(r.value):.4g}" for (kpi, seg), r in rows.items()
                         if seg == "all" and r.value is not None)
        print(f"{code:11} {month:%Y-%m} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
