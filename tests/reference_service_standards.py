"""An independent recomputation of the service-standard KPIs (voicemail, reception, web), in
plain Python.

Reads every partner's voicemail, reception and web landing files as its YAML describes them
and applies the written contract only: docs/architecture.md ("Service-standard sources": the
quarantine checks in order, repeats) and docs/kpi-definitions.md ("Service standards"). No
DuckDB, dbt or project module: the CSV/xlsx reader and calendar come from
tests/reference_kpis.py, the JSON lines reading and the CRM contacts (for the self-service
share) from tests/reference_crm.py. Ratios are exact `Fraction`s.

Interpretations where the contract is silent (kept deliberately, reported when marts differ):
values are trimmed, an empty value is null; a repeat is ordered by file name then row; the
months of a partner are those with any valid row of any of its sources, telephony
included (only the months' KPIs are compared, so telephony needs no recomputation here).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from tests import reference_crm
from tests.fast_strptime import strptime
from tests.reference_kpis import _decode, load_bank_holidays, load_sanity_window, read_table

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTNERS_DIR = REPO_ROOT / "seeds" / "partners"
REFERENCE_DIR = REPO_ROOT / "seeds" / "reference"
SOURCES = ("voicemail", "reception", "web")
FIELDS = {
    "voicemail": ("voicemail_id", "left_at", "responded_at", "service"),
    "reception": ("ticket_id", "issued_at", "called_at", "finished_at", "service"),
    "web": ("visit_date", "page", "service", "visits", "ratings_good", "ratings_neutral",
            "ratings_poor"),
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COUNT = re.compile(r"[0-9]{1,12}")


@dataclass
class Partner:
    code: str
    zone: ZoneInfo
    open_days: set[int]  # ISO weekdays 1-7
    sources: dict[str, dict]


def load_partners(partners_dir: Path = PARTNERS_DIR) -> dict[str, Partner]:
    partners = {}
    for path in sorted(partners_dir.glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        sources = {s: body for s, body in (raw.get("sources") or {}).items() if s in SOURCES}
        if not sources:
            continue
        hours = raw.get("opening_hours") or {}
        open_days = {WEEKDAYS.index(d) + 1 for d, span in hours.items()
                     if span not in (None, "closed")}
        partners[raw["code"]] = Partner(raw["code"], ZoneInfo(raw.get("timezone",
                                                                      "Europe/London")),
                                        open_days, sources)
    return partners


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_rows(path: Path, src: dict, source: str) -> list[dict | None]:
    """Field -> trimmed text per data row; None for a line that cannot be read."""
    fmt = src.get("format") or {}
    columns = {f: str(h) for f, h in (src.get("columns") or {}).items()}
    if fmt.get("type", "csv") == "jsonl":
        import json

        out: list[dict | None] = []
        for line in _decode(path.read_bytes(), "utf-8").splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                out.append(None)
                continue
            out.append({f: _text(reference_crm._json_text(reference_crm._dotted(obj, h)))
                        for f, h in columns.items()})
        return out
    header, rows = read_table(path, fmt)
    index = {f: header.index(h) for f, h in columns.items()}
    return [None if fmt.get("type", "csv") == "csv" and len(row) != len(header)
            else {f: _text(row[i]) if i < len(row) else None for f, i in index.items()}
            for row in rows]


def _parse(text: str | None, src: dict, field_name: str, zone: ZoneInfo):
    """(given, local datetime or None)."""
    if text is None:
        return False, None
    fmt = (src.get("column_timestamp_formats") or {}).get(field_name, src["timestamp_format"])
    try:
        value = strptime(text, fmt)
    except ValueError:
        return True, None
    if src.get("timestamp_zone", "local") == "utc" and field_name != "visit_date":
        value = value.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
    return True, value


def _control(values: dict) -> bool:
    return any(any(ord(c) < 32 or ord(c) == 127 for c in v) for v in values.values() if v)


@dataclass
class Row:
    source: str
    key: str | None  # the row's id
    file: str
    row: int
    delivery: str
    values: dict
    times: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    failure: str | None = None
    status: str = "valid"
    reason: str | None = None  # quarantine or exclusion reason

    def fingerprint(self) -> tuple:
        return (tuple(sorted(self.times.items())), tuple(sorted(self.counts.items())),
                self.values.get("service"))


def _check(source: str, r: Row, src: dict, zone: ZoneInfo, window) -> None:
    v = r.values
    required = {"voicemail": ("voicemail_id", "left_at"), "reception": ("ticket_id", "issued_at"),
                "web": ("visit_date", "page", "visits")}[source]
    if any(v.get(f) is None for f in required):
        r.failure = "missing_key"
        return
    if _control(v):
        r.failure = "control_character"
        return
    stamps = {"voicemail": ("left_at", "responded_at"),
              "reception": ("issued_at", "called_at", "finished_at"),
              "web": ("visit_date",)}[source]
    for name in stamps:
        given, value = _parse(v.get(name), src, name, zone)
        if given and value is None:
            r.failure = "bad_timestamp"
            return
        r.times[name] = value
    earliest, latest = window
    if any(t is not None and not (earliest <= t <= latest) for t in r.times.values()):
        r.failure = "timestamp_out_of_range"
        return
    t = r.times
    if source == "voicemail" and t["responded_at"] and t["responded_at"] < t["left_at"]:
        r.failure = "responded_before_left"
    if source == "reception":
        called, issued, finished = t["called_at"], t["issued_at"], t["finished_at"]
        if (called and called < issued) or (finished and finished < (called or issued)):
            r.failure = "timestamps_out_of_order"
    if source == "web":
        for name in ("visits", "ratings_good", "ratings_neutral", "ratings_poor"):
            text = v.get(name)
            if text is not None and not COUNT.fullmatch(text):
                r.failure = "bad_count"
                return
            r.counts[name] = int(text) if text is not None else None


DUPLICATE = {"voicemail": "duplicate_voicemail_id", "reception": "duplicate_ticket_id",
             "web": "duplicate_page_day"}


def _delivery(name: str, pattern: str | None) -> str:
    m = re.search(pattern, name) if pattern else None
    return f"{m.group('year')}-{m.group('month')}" if m else name


def read_source(landing_dir: Path, partner: Partner, source: str, window) -> list[Row]:
    src = partner.sources[source]
    folder = landing_dir / partner.code / source
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and fnmatch.fnmatch(p.name, src.get("files", "*"))
                   and not p.name.startswith(".")) if folder.is_dir() else []
    services = {str(k): str(v) for k, v in (src.get("services") or {}).items()}
    rows: list[Row] = []
    for name in names:
        for i, values in enumerate(read_rows(folder / name, src, source), start=1):
            if values is None:
                continue  # a malformed line: rejected, no KPI row
            key = (values.get("voicemail_id") or values.get("ticket_id") if source != "web"
                   else (f"{values['visit_date']}|{values['page']}"
                         if values.get("visit_date") and values.get("page") else None))
            r = Row(source, key, f"{partner.code}/{source}/{name}", i,
                    _delivery(name, src.get("period_pattern")), values)
            _check(source, r, src, partner.zone, window)
            rows.append(r)
    first: dict[str, Row] = {}
    for r in sorted(rows, key=lambda r: (r.file, r.row)):
        if r.failure:
            r.status, r.reason = "quarantined", r.failure
            continue
        earlier = first.setdefault(r.key, r)
        if earlier is not r:
            if earlier.delivery != r.delivery and earlier.fingerprint() == r.fingerprint():
                r.status, r.reason = "excluded", "already_delivered"
            else:
                r.status, r.reason = "quarantined", DUPLICATE[source]
            continue
        if services.get(r.values.get("service") or "") == "excluded":
            r.status, r.reason = "excluded", "excluded_service"
    return rows


def working_day_numbers(partner: Partner, holidays: set[dt.date], first: dt.date,
                        last: dt.date) -> dict[dt.date, int]:
    numbers, n, day = {}, 0, first
    while day <= last:
        if day.isoweekday() in partner.open_days and day not in holidays:
            n += 1
        numbers[day] = n
        day += dt.timedelta(days=1)
    return numbers


@dataclass
class Month:
    voicemails: int = 0
    in_policy: int = 0
    response_seconds: list[int] = field(default_factory=list)
    tickets: int = 0
    called: int = 0
    wait_seconds: int = 0
    within_target: int = 0
    walkouts: int = 0
    page_days: int = 0
    visits: int = 0
    ratings: int = 0
    poor: int = 0
    contacts: int = 0


def _pct(num: int, den: int) -> Fraction | None:
    return Fraction(100 * num, den) if den else None


def kpis(m: Month, has: set[str]) -> dict[str, Fraction | float | int | None]:
    return {
        "voicemail_in_policy_pct": _pct(m.in_policy, m.voicemails),
        "voicemail_median_response_hours": (
            Fraction(statistics.median(m.response_seconds)) / 3600
            if m.response_seconds else None),
        "reception_wait_avg_minutes": (Fraction(m.wait_seconds, 60 * m.called)
                                       if m.called else None),
        "reception_seen_within_target_pct": _pct(m.within_target, m.tickets),
        "reception_walkout_pct": _pct(m.walkouts, m.tickets),
        "web_visits": m.visits if m.page_days else None,
        "web_poor_rating_pct": _pct(m.poor, m.ratings),
        "self_service_share_pct": (_pct(m.visits, m.visits + m.contacts)
                                   if m.page_days and m.contacts else None),
    }


@dataclass
class Reference:
    rows: dict[str, list[Row]]  # partner -> rows of every service-standard source
    months: dict[tuple[str, dt.date], Month]


def _month(t: dt.datetime | dt.date) -> dt.date:
    return dt.date(t.year, t.month, 1)


def compute(landing_dir: Path, partners_dir: Path = PARTNERS_DIR,
            reference_dir: Path = REFERENCE_DIR,
            crm: reference_crm.Reference | None = None) -> Reference:
    """`crm`: the CRM reference of the same landing folder and partners, when the caller has
    computed it already (its contacts are the ones read here otherwise)."""
    partners = load_partners(partners_dir)
    holidays = load_bank_holidays(reference_dir)
    window = load_sanity_window()
    crm_partners = reference_crm.load_partners(partners_dir)
    months: dict[tuple[str, dt.date], Month] = defaultdict(Month)
    all_rows: dict[str, list[Row]] = {}
    for code, partner in partners.items():
        rows = [r for s in SOURCES if s in partner.sources
                for r in read_source(landing_dir, partner, s, window)]
        all_rows[code] = rows
        valid = [r for r in rows if r.status == "valid"]
        if not valid:
            continue
        days = [t.date() if isinstance(t, dt.datetime) else t
                for r in valid for t in r.times.values() if t is not None]
        numbers = working_day_numbers(partner, holidays, min(days), max(days))
        target = partner.sources.get("reception", {}).get("target_wait_minutes", 15)
        for r in valid:
            t = r.times
            if r.source == "voicemail":
                m = months[(code, _month(t["left_at"]))]
                m.voicemails += 1
                if t["responded_at"]:
                    seconds = int((t["responded_at"] - t["left_at"]).total_seconds())
                    m.response_seconds.append(seconds)
                    due = numbers[t["left_at"].date()] + 1
                    m.in_policy += numbers[t["responded_at"].date()] <= due
            elif r.source == "reception":
                m = months[(code, _month(t["issued_at"]))]
                m.tickets += 1
                if t["called_at"] is None:
                    m.walkouts += 1
                else:
                    wait = int((t["called_at"] - t["issued_at"]).total_seconds())
                    m.called += 1
                    m.wait_seconds += wait
                    m.within_target += wait <= target * 60
            else:
                m = months[(code, _month(t["visit_date"]))]
                m.page_days += 1
                m.visits += r.counts["visits"]
                rated = [r.counts[k] for k in ("ratings_good", "ratings_neutral",
                                               "ratings_poor") if r.counts[k] is not None]
                m.ratings += sum(rated)
                m.poor += r.counts["ratings_poor"] or 0
        if code in crm_partners:
            contacts = (crm.partners[code].contacts if crm is not None else
                        reference_crm.read_partner(landing_dir, crm_partners[code],
                                                   window).contacts)
            for c in contacts:
                key = (code, c.month)
                if key in months or any(k[0] == code for k in months):
                    months[key].contacts += 1
    return Reference(all_rows, dict(months))
