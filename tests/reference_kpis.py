"""An independent recomputation of the telephony KPIs, in plain Python, from the landing files.

Nothing here uses DuckDB, dbt or the project's own readers: the partner YAML files are parsed
with pyyaml, CSV files with the `csv` module, workbooks with openpyxl, timestamps with
`datetime.strptime` (tests/fast_strptime.py: the same results, faster) and `zoneinfo`. The
definitions follow docs/kpi-definitions.md and `seeds/reference/kpi_definitions.csv`; ratios
(and decimal durations) are kept as exact `Fraction`s, so that targets, RAG status and ranks are
decided on the true values (converted to float only for comparison). The sanity window of a
start time (timestamp_out_of_range outside it) starts at var `earliest_timestamp` of
dbt/dbt_project.yml, never read from model SQL, and ends a day after the load, taken here as a
day after now (the recomputation runs after the load; no sample row is dated in the future).

Every data row ends up in exactly one place, as the "Data quality" section of the definitions
says: rejected (cannot be split into the header's columns), quarantined under the first failing
check (missing_key, control_character, bad_timestamp, timestamp_out_of_range,
unknown_outcome_code, bad_duration, negative_duration, implausible_duration,
duplicate_call_id), excluded (valid test/phantom records, and re-sent rows: the same call id
and values as an earlier row of another delivery), or a call.

Run `python -m tests.reference_kpis <landing dir>` to print the monthly figures.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from tests.fast_strptime import strptime

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTNERS_DIR = REPO_ROOT / "seeds" / "partners"
REFERENCE_DIR = REPO_ROOT / "seeds" / "reference"
DBT_PROJECT = REPO_ROOT / "dbt" / "dbt_project.yml"

SOURCE = "telephony"
FIELDS = ("call_id", "started_at", "queue", "outcome", "wait", "talk", "hold", "wrap")
DURATIONS = ("wait", "talk", "hold", "wrap")
INCLUDED = ("answered", "abandoned", "ivr_only", "direct_dial")
EXCLUDED = ("test", "phantom")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UTF8_BOM = b"\xef\xbb\xbf"
XLSX_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
SCORECARD_KPIS = ("tsf_pct", "asa_seconds", "abandon_rate_pct", "sl_days_pct", "aht_seconds",
                  "calls_offered", "offered_mom_change_pct", "out_of_hours_pct",
                  "answered_unknown_wait", "csc_call_share_pct")
COUNT_KPIS = {"calls_offered": "offered", "answered_unknown_wait": "answered_unknown_wait"}

# Quarantine reasons, in the order the checks apply (the first failing one is the reason).
QUARANTINE_REASONS = ("missing_key", "control_character", "bad_timestamp",
                      "timestamp_out_of_range", "unknown_outcome_code", "bad_duration",
                      "negative_duration", "implausible_duration", "duplicate_call_id")
# C0 control characters and DEL (docs/architecture.md, "Delivery rules").
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_DURATION_SECONDS = 86_400  # the default of max_durations (24 h)
# `hms`: H:MM:SS with an optional decimal fraction of seconds, optionally negative;
# `seconds`: a number, optionally negative and decimal.
HMS_RE = re.compile(r"^(-?)(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")
SECONDS_RE = re.compile(r"^-?\d+(\.\d+)?$")
# One operand of a `||` concatenation: a quoted header ("" escapes ") or a literal ('' escapes ').
EXPR_TOKEN_RE = re.compile(r"""\s*(?:"((?:[^"]|"")*)"|'((?:[^']|'')*)')\s*""")


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Partner:
    code: str
    timezone: str
    # ISO weekday 1..7 -> [open, close); close None: "24:00", open to midnight
    opening_hours: dict[int, tuple[dt.time, dt.time | None]]
    source: dict  # the YAML `sources.telephony` block as written
    direct_dial: dict | None = None  # the YAML `sources.direct_dial` block (the extract)

    @property
    def measures_direct_dial(self) -> bool:
        """Whether its telephony can say a call went to a direct line (an outcome code maps to
        `direct_dial`): csc_call_share_pct is then measured in every month."""
        return "direct_dial" in {str(v) for v in (self.source.get("outcome_codes") or {}).values()}


def load_partners(partners_dir: Path = PARTNERS_DIR) -> dict[str, Partner]:
    partners = {}
    for path in sorted(partners_dir.glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        hours = {}
        for day, span in (raw.get("opening_hours") or {}).items():
            if span and span != "closed":
                closes = None if span[1] == "24:00" else dt.time.fromisoformat(str(span[1]))
                hours[WEEKDAYS.index(day) + 1] = (dt.time.fromisoformat(str(span[0])), closes)
        source = (raw.get("sources") or {}).get(SOURCE)
        if source is None:
            continue
        partners[raw["code"]] = Partner(raw["code"], raw.get("timezone", "Europe/London"),
                                        hours, source, raw["sources"].get("direct_dial"))
    return partners


@dataclass(frozen=True)
class KpiDefinition:
    code: str
    direction: str
    threshold_seconds: int | None
    target: Fraction | None
    amber_tolerance: Fraction | None
    # small-number suppression: a value whose denominator is below this is served null
    min_denominator: Fraction | None = None


def _number(text: str) -> Fraction | None:
    return Fraction(text) if text.strip() else None


def load_definitions(reference_dir: Path = REFERENCE_DIR) -> dict[str, KpiDefinition]:
    with open(reference_dir / "kpi_definitions.csv", encoding="utf-8", newline="") as fh:
        return {
            r["kpi_code"]: KpiDefinition(
                r["kpi_code"], r["direction"],
                int(r["threshold_seconds"]) if r["threshold_seconds"].strip() else None,
                _number(r["target"]), _number(r["amber_tolerance"]),
                _number(r.get("min_denominator") or ""))
            for r in csv.DictReader(fh)
        }


def load_overrides(reference_dir: Path = REFERENCE_DIR) -> dict[tuple[str, str], dict]:
    """(partner, kpi) -> {'target': Fraction|None, 'amber_tolerance': Fraction|None}."""
    with open(reference_dir / "kpi_target_overrides.csv", encoding="utf-8", newline="") as fh:
        return {
            (r["partner_code"], r["kpi_code"]): {
                "target": _number(r.get("target") or ""),
                "amber_tolerance": _number(r.get("amber_tolerance") or ""),
            }
            for r in csv.DictReader(fh)
        }


def load_sanity_window(dbt_project: Path = DBT_PROJECT) -> tuple[dt.datetime, dt.datetime]:
    """(earliest, latest) plausible event time: var `earliest_timestamp` of
    dbt/dbt_project.yml, and the load time (now) plus one day."""
    variables = yaml.safe_load(dbt_project.read_text(encoding="utf-8"))["vars"]
    earliest = dt.datetime.fromisoformat(str(variables["earliest_timestamp"]))
    return earliest, dt.datetime.now() + dt.timedelta(days=1)


def load_bank_holidays(reference_dir: Path = REFERENCE_DIR) -> set[dt.date]:
    with open(reference_dir / "uk_bank_holidays.csv", encoding="utf-8", newline="") as fh:
        return {dt.date.fromisoformat(r["holiday_date"]) for r in csv.DictReader(fh)}


def target_for(partner: str, kpi: str, definitions: dict[str, KpiDefinition],
               overrides: dict[tuple[str, str], dict]) -> tuple[Fraction | None, Fraction | None]:
    """(target, amber_tolerance) for a partner: its override where given, else the definition."""
    d = definitions[kpi]
    target, tolerance = d.target, d.amber_tolerance
    override = overrides.get((partner, kpi))
    if override is not None:
        if override["target"] is not None:
            target = override["target"]
        if override["amber_tolerance"] is not None:
            tolerance = override["amber_tolerance"]
    return target, tolerance


# ---------------------------------------------------------------- reading landing files


def _decode(data: bytes, encoding: str) -> str:
    """Text of a CSV file; a leading UTF-8 byte-order mark is dropped whatever the encoding."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    return data.decode({"utf-8-sig": "utf-8"}.get(encoding, encoding))


def _cell_text(value) -> str | None:
    """An xlsx cell as the text it stands for: date cells as ISO timestamps, numbers plain."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime(XLSX_TIMESTAMP)
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_table(path: Path, fmt: dict) -> tuple[list[str], list[list[str | None]]]:
    """(header, data rows) of one landing file; cells are text, empty cells None."""
    if fmt.get("type", "csv") == "xlsx":
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = workbook[fmt["sheet"]] if fmt.get("sheet") else workbook.active
            rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
        rows = [r for r in rows if any(v not in (None, "") for v in r)]
    else:
        text = _decode(path.read_bytes(), str(fmt.get("encoding", "utf-8")).lower())
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.get("delimiter", ","))
        rows = [r for r in reader if r]
    if not rows:
        return [], []
    header = [h or "" for h in rows[0]]
    data = [[None if v == "" else v for v in r] for r in rows[1:]]
    return header, data


def _expr_getter(expr: str, header: list[str]):
    """Support exactly `"Header" || ' ' || "Other"`: quoted headers and string literals."""
    parts = []
    for operand in expr.split("||"):
        m = EXPR_TOKEN_RE.fullmatch(operand)
        if m is None:
            raise ValueError(f"unsupported column expression {expr!r}")
        if m.group(1) is not None:
            name = m.group(1).replace('""', '"')
            if name not in header:
                raise ValueError(f"expression {expr!r} names missing header {name!r}")
            parts.append(("col", header.index(name)))
        else:
            parts.append(("lit", m.group(2).replace("''", "'")))

    def get(row):
        out = []
        for kind, value in parts:
            if kind == "lit":
                out.append(value)
            else:
                cell = row[value] if value < len(row) else None
                if cell is None:  # SQL: NULL || anything is NULL
                    return None
                out.append(cell)
        return "".join(out)

    return get


def _column_getters(columns: dict, header: list[str], path: Path) -> dict:
    getters = {}
    for fld, spec in columns.items():
        if isinstance(spec, dict):
            getters[fld] = _expr_getter(str(spec["expr"]), header)
        else:
            name = str(spec)
            if name not in header:
                raise ValueError(f"{path}: header {name!r} (for {fld}) not in {header}")
            index = header.index(name)
            getters[fld] = lambda row, i=index: row[i] if i < len(row) else None
    return getters


def parse_duration(text: str | None, style: str) -> tuple[bool, Fraction | None]:
    """(parses, seconds): empty is unknown (True, None); text that does not parse in the style
    is (False, None). A parsed value may be negative (the caller quarantines it)."""
    if text is None or text.strip() == "":
        return True, None
    text = text.strip()
    if style == "hms":
        m = HMS_RE.match(text)
        if not m:
            return False, None
        sign, h, mi, s = m.group(1), int(m.group(2)), int(m.group(3)), Fraction(m.group(4))
        value = h * 3600 + mi * 60 + s
        return True, -value if sign else value
    if not SECONDS_RE.match(text):
        return False, None
    return True, Fraction(text)


@dataclass(frozen=True)
class Call:
    partner: str
    call_id: str
    local_start: dt.datetime  # naive, partner local time
    queue: str | None
    outcome: str  # canonical
    wait: Fraction | None  # seconds; None: not supplied (unknown)
    talk: Fraction | None
    hold: Fraction | None
    wrap: Fraction | None
    source_file: str
    row_number: int


@dataclass
class PartnerData:
    code: str
    files: dict[str, int] = field(default_factory=dict)  # file -> data rows read
    rejected: int = 0  # rows that do not split into the header's columns
    calls: list[Call] = field(default_factory=list)  # valid and not test/phantom
    excluded: list[Call] = field(default_factory=list)  # valid test/phantom records
    quarantined: list[tuple[str, int, str]] = field(default_factory=list)  # file, row, reason

    def quarantine_by_reason(self) -> Counter:
        return Counter(reason for _, _, reason in self.quarantined)

    @property
    def raw_rows(self) -> int:
        return sum(self.files.values())


def _delivery_key(name: str, pattern: str | None) -> str:
    if not pattern:
        return name
    m = re.search(pattern, name)
    if m is None:
        return name
    return "-".join(m.group(g) or "" for g in ("year", "month", "day")
                    if g in m.re.groupindex)


def check_row(values: dict, ts_format: str, utc: bool, zone: ZoneInfo,
              window: tuple[dt.datetime, dt.datetime], codes: dict[str, str],
              styles: dict[str, str], max_durations: dict[str, int] | None = None,
              ) -> tuple[str | None, dt.datetime | None, dict]:
    """(first failing check among 1-5, local start, durations) of one row's text values.

    Checks 1-5 of the definitions in order; duplicate_call_id (6) needs the earlier rows and is
    decided by the caller. Quarantine comes before exclusion: test/phantom rows are checked too.
    """
    call_id = (values["call_id"] or "").strip()
    started = (values["started_at"] or "").strip()
    code = (values["outcome"] or "").strip()
    if not call_id or not started or not code:
        return "missing_key", None, {}
    if any(v is not None and CONTROL_RE.search(v.strip(" ")) for v in values.values()):
        return "control_character", None, {}
    try:
        local = strptime(started, ts_format)
    except ValueError:
        return "bad_timestamp", None, {}
    if utc:
        local = local.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
    if not window[0] <= local <= window[1]:
        return "timestamp_out_of_range", None, {}
    if code not in codes:
        return "unknown_outcome_code", local, {}
    durations, parsed = {}, True
    for d in DURATIONS:
        ok, durations[d] = parse_duration(values[d], styles[d])
        parsed = parsed and ok
    if not parsed:
        return "bad_duration", local, durations
    if any(v is not None and v < 0 for v in durations.values()):
        return "negative_duration", local, durations
    limits = max_durations or {}
    if any(v is not None and v > limits.get(d, MAX_DURATION_SECONDS)
           for d, v in durations.items()):
        return "implausible_duration", local, durations
    return None, local, durations


def read_partner(landing_dir: Path, partner: Partner) -> PartnerData:
    src = partner.source
    folder = landing_dir / partner.code / SOURCE
    data = PartnerData(partner.code)
    if not folder.is_dir():
        return data
    paths = sorted((p for p in folder.glob(str(src.get("files", "*")))
                    if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.relative_to(folder).as_posix())
    keys = Counter(_delivery_key(p.name, src.get("period_pattern")) for p in paths)
    repeated = [k for k, n in keys.items() if n > 1]
    if repeated:  # the fixture never re-delivers; do not silently diverge if it starts to
        raise NotImplementedError(f"{partner.code}: re-delivered periods {repeated}")

    fmt = src.get("format") or {}
    ts_format = str(src["timestamp_format"])
    utc = src.get("timestamp_zone", "local") == "utc"
    zone = ZoneInfo(partner.timezone)
    default_style = src.get("duration_format", "seconds")
    styles = {d: (src.get("duration_formats") or {}).get(d, default_style) for d in DURATIONS}
    codes = {str(k): str(v) for k, v in (src.get("outcome_codes") or {}).items()}
    window = load_sanity_window()
    max_durations = {str(k): int(v) for k, v in (src.get("max_durations") or {}).items()}
    # call id -> (delivery key, values) of the first row that passed the other checks
    claimed_ids: dict[str, tuple[str, tuple]] = {}

    for path in paths:  # earlier = by source file, then row number
        name = path.relative_to(folder).as_posix()
        header, rows = read_table(path, fmt)
        data.files[name] = len(rows)
        getters = _column_getters(src["columns"], header, path)
        for number, row in enumerate(rows, start=1):
            if fmt.get("type", "csv") == "csv" and len(row) != len(header):
                data.rejected += 1
                continue
            values = {f: getters[f](row) if f in getters else None for f in FIELDS}
            reason, local, durations = check_row(values, ts_format, utc, zone, window, codes,
                                                 styles, max_durations)
            call_id = (values["call_id"] or "").strip()
            code = (values["outcome"] or "").strip()
            key = _delivery_key(path.name, src.get("period_pattern"))
            queue = (values["queue"] or "").strip() or None
            seen = (local, queue, code, tuple(durations.get(d) for d in DURATIONS))
            resent = False
            if reason is None and call_id in claimed_ids:
                first_key, first_seen = claimed_ids[call_id]
                resent = first_key != key and first_seen == seen
                if not resent:
                    reason = "duplicate_call_id"
            if reason is not None:
                data.quarantined.append((name, number, reason))
                continue
            claimed_ids.setdefault(call_id, (key, seen))
            call = Call(partner.code, call_id, local, values["queue"], codes[code],
                        durations["wait"], durations["talk"], durations["hold"],
                        durations["wrap"], name, number)
            (data.excluded if resent or call.outcome in EXCLUDED else data.calls).append(call)
    return data


# ---------------------------------------------------------------- KPIs


def pct(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(100 * numerator, denominator) if denominator else None


def mean(total: Fraction | int, count: int) -> Fraction | None:
    return Fraction(total, count) if count else None


@dataclass
class Tally:
    """Counts and sums for one partner over one period (a month or a day); all queues."""

    calls: int = 0  # every included call, any outcome
    out_of_hours: int = 0
    answered: int = 0
    abandoned: int = 0
    ivr_only: int = 0
    direct_dial: int = 0
    answered_within_threshold: int = 0
    short_abandoned: int = 0
    answered_unknown_wait: int = 0
    wait_sum: Fraction = field(default_factory=Fraction)
    wait_count: int = 0
    handle_sum: Fraction = field(default_factory=Fraction)
    handle_count: int = 0

    def add(self, call: Call, tsf_threshold: int, short_threshold: int,
            out_of_hours: bool) -> None:
        self.calls += 1
        self.out_of_hours += out_of_hours
        if call.outcome == "answered":
            self.answered += 1
            if call.wait is None:
                self.answered_unknown_wait += 1
            else:
                self.wait_sum += call.wait
                self.wait_count += 1
                self.answered_within_threshold += call.wait <= tsf_threshold
            if call.talk is not None:
                self.handle_sum += call.talk + (call.hold or 0) + (call.wrap or 0)
                self.handle_count += 1
        elif call.outcome == "abandoned":
            self.abandoned += 1
            self.short_abandoned += call.wait is not None and call.wait < short_threshold
        elif call.outcome == "ivr_only":
            self.ivr_only += 1
        elif call.outcome == "direct_dial":
            self.direct_dial += 1

    def __iadd__(self, other: Tally) -> Tally:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def offered(self) -> int:
        return self.answered + self.abandoned

    @property
    def tsf_denominator(self) -> int:
        return self.offered - self.short_abandoned

    @property
    def tsf_pct(self) -> Fraction | None:
        return pct(self.answered_within_threshold, self.tsf_denominator)

    @property
    def asa_seconds(self) -> Fraction | None:
        return mean(self.wait_sum, self.wait_count)

    @property
    def abandon_rate_pct(self) -> Fraction | None:
        return pct(self.abandoned - self.short_abandoned, self.tsf_denominator)

    @property
    def aht_seconds(self) -> Fraction | None:
        return mean(self.handle_sum, self.handle_count)

    @property
    def out_of_hours_pct(self) -> Fraction | None:
        return pct(self.out_of_hours, self.calls)


@dataclass
class MonthKpis:
    partner: str
    month: dt.date
    tally: Tally
    sl_days_met: int = 0
    sl_days: int = 0
    previous_offered: int | None = None  # None: no previous calendar month for the partner
    measures_direct_dial: bool = True  # the partner's telephony has a direct_dial outcome code
    # the valid calls of the partner's direct-dial extract in the month; None: no extract
    # configured, or not delivered for the month
    extract_calls: int | None = None

    @property
    def sl_days_pct(self) -> Fraction | None:
        return pct(self.sl_days_met, self.sl_days)

    @property
    def offered_mom_change_pct(self) -> Fraction | None:
        if not self.previous_offered:
            return None
        return pct(self.tally.offered - self.previous_offered, self.previous_offered)

    @property
    def csc_measured(self) -> bool:
        """A direct_dial outcome code, or the extract delivered for the month."""
        return self.measures_direct_dial or self.extract_calls is not None

    @property
    def csc_call_share_pct(self) -> Fraction | None:
        """Calls reaching the centre (every call but direct dials) / those + every direct dial
        (outcome codes and the extract's calls); None when not measured."""
        if not self.csc_measured:
            return None
        return pct(self.tally.calls - self.tally.direct_dial,
                   self.tally.calls + (self.extract_calls or 0))

    def numerator_denominator(self, kpi: str) -> tuple[int, int] | None:
        """The KPI as (numerator, denominator) for pooling; None where it is undefined."""
        t = self.tally
        pair = {
            "tsf_pct": (100 * t.answered_within_threshold, t.tsf_denominator),
            "asa_seconds": (t.wait_sum, t.wait_count),
            "abandon_rate_pct": (100 * (t.abandoned - t.short_abandoned), t.tsf_denominator),
            "sl_days_pct": (100 * self.sl_days_met, self.sl_days),
            "aht_seconds": (t.handle_sum, t.handle_count),
            "out_of_hours_pct": (100 * t.out_of_hours, t.calls),
            "offered_mom_change_pct": (
                (100 * (t.offered - self.previous_offered), self.previous_offered)
                if self.previous_offered else (0, 0)),
            "csc_call_share_pct": ((100 * (t.calls - t.direct_dial),
                                    t.calls + (self.extract_calls or 0))
                                   if self.csc_measured else (0, 0)),
        }[kpi]
        return pair if pair[1] else None

    def value(self, kpi: str) -> Fraction | None:
        if kpi in COUNT_KPIS:
            return Fraction(getattr(self.tally, COUNT_KPIS[kpi]))
        pair = self.numerator_denominator(kpi)
        return Fraction(*pair) if pair else None


@dataclass(frozen=True)
class ScoreRow:
    partner: str
    month: dt.date
    kpi: str
    value: Fraction | None
    target: Fraction | None
    amber_tolerance: Fraction | None
    rag_status: str
    rank_among_partners: int | None
    hub_value: Fraction | None
    measurement_status: str = "measured"  # measured | not_measured | suppressed


def rag(value: Fraction | None, target: Fraction | None, tolerance: Fraction | None,
        direction: str) -> str:
    if value is None or target is None or direction not in ("higher_is_better",
                                                            "lower_is_better"):
        return "none"
    tolerance = tolerance or Fraction(0)
    if direction == "higher_is_better":
        if value >= target:
            return "green"
        return "amber" if value >= target - tolerance else "red"
    if value <= target:
        return "green"
    return "amber" if value <= target + tolerance else "red"


@dataclass
class Reference:
    partners: dict[str, PartnerData]
    monthly: dict[tuple[str, dt.date], MonthKpis]
    daily: dict[tuple[str, dt.date], Tally]
    scorecard: dict[tuple[str, dt.date, str], ScoreRow]
    definitions: dict[str, KpiDefinition]
    extracts: dict = field(default_factory=dict)  # code -> reference_direct_dial.Extract


def is_out_of_hours(local: dt.datetime, partner: Partner, holidays: set[dt.date]) -> bool:
    if local.date() in holidays:
        return True
    hours = partner.opening_hours.get(local.isoweekday())
    if hours is None:
        return True
    opens, closes = hours
    return not (opens <= local.time() and (closes is None or local.time() < closes))


def compute(landing_dir: Path, partners_dir: Path = PARTNERS_DIR,
            reference_dir: Path = REFERENCE_DIR) -> Reference:
    partners = load_partners(partners_dir)
    definitions = load_definitions(reference_dir)
    overrides = load_overrides(reference_dir)
    holidays = load_bank_holidays(reference_dir)
    tsf_threshold = definitions["tsf_pct"].threshold_seconds
    short_threshold = definitions["abandon_rate_pct"].threshold_seconds
    assert tsf_threshold is not None and short_threshold is not None

    data = {code: read_partner(landing_dir, p) for code, p in partners.items()}
    daily: dict[tuple[str, dt.date], Tally] = defaultdict(Tally)
    for code, pdata in data.items():
        for call in pdata.calls:
            daily[(code, call.local_start.date())].add(
                call, tsf_threshold, short_threshold,
                is_out_of_hours(call.local_start, partners[code], holidays))

    monthly: dict[tuple[str, dt.date], MonthKpis] = {}
    for (code, day), tally in sorted(daily.items()):
        key = (code, day.replace(day=1))
        month = monthly.setdefault(key, MonthKpis(code, key[1], Tally()))
        month.tally += tally
        month.measures_direct_dial = partners[code].measures_direct_dial
        if tally.tsf_denominator:
            target, _ = target_for(code, "tsf_pct", definitions, overrides)
            month.sl_days += 1
            # daily TSF % >= target, decided exactly: 100 * within >= target * denominator
            month.sl_days_met += (100 * tally.answered_within_threshold
                                  >= target * tally.tsf_denominator)
    # the separate direct-dial extracts (tests/reference_direct_dial.py)
    from tests.reference_direct_dial import read_extract

    extracts = {code: read_extract(landing_dir, code, p.timezone, p.direct_dial)
                for code, p in partners.items() if p.direct_dial is not None}
    for (code, month_start), kpis in monthly.items():
        if code in extracts and month_start in extracts[code].delivered:
            kpis.extract_calls = extracts[code].calls[month_start]
    for (code, month_start), kpis in monthly.items():
        previous = (month_start - dt.timedelta(days=1)).replace(day=1)
        prev = monthly.get((code, previous))
        kpis.previous_offered = prev.tally.offered if prev is not None else None

    scorecard: dict[tuple[str, dt.date, str], ScoreRow] = {}
    months = sorted({m for _, m in monthly})
    for month_start in months:
        rows = [k for (c, m), k in sorted(monthly.items()) if m == month_start]
        for kpi in SCORECARD_KPIS:
            d = definitions[kpi]
            if kpi in COUNT_KPIS:
                hub = Fraction(sum(getattr(k.tally, COUNT_KPIS[kpi]) for k in rows))
            else:
                pairs = [p for k in rows if (p := k.numerator_denominator(kpi)) is not None]
                den = sum(p[1] for p in pairs)
                hub = Fraction(sum(p[0] for p in pairs), den) if den else None
            # small-number suppression: pooled above, but served null and never ranked
            statuses = {k.partner: suppression_status(k, kpi, d) for k in rows}
            values = {k.partner: k.value(kpi) if statuses[k.partner] == "measured" else None
                      for k in rows}
            ranked = [v for v in values.values() if v is not None]
            for k in rows:
                value = values[k.partner]
                target, tolerance = target_for(k.partner, kpi, definitions, overrides)
                rank = None
                if value is not None and d.direction == "higher_is_better":
                    rank = 1 + sum(v > value for v in ranked)
                elif value is not None and d.direction == "lower_is_better":
                    rank = 1 + sum(v < value for v in ranked)
                scorecard[(k.partner, month_start, kpi)] = ScoreRow(
                    k.partner, month_start, kpi, value, target, tolerance,
                    rag(value, target, tolerance, d.direction), rank, hub, statuses[k.partner])
    return Reference(data, monthly, dict(daily), scorecard, definitions, extracts)


def suppression_status(month: MonthKpis, kpi: str, d: KpiDefinition) -> str:
    """`not_measured` (no value), `suppressed` (a value over a denominator below the KPI's
    min_denominator) or `measured`."""
    if month.value(kpi) is None:
        return "not_measured"
    pair = None if kpi in COUNT_KPIS else month.numerator_denominator(kpi)
    if pair is not None and d.min_denominator is not None and pair[1] < d.min_denominator:
        return "suppressed"
    return "measured"


def as_float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def main(argv: list[str]) -> int:
    landing = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / "data" / "landing"
    ref = compute(landing)
    for code, pdata in ref.partners.items():
        print(f"{code}: {len(pdata.files)} files, {pdata.raw_rows} rows, {len(pdata.calls)} "
              f"calls, {len(pdata.excluded)} excluded, {len(pdata.quarantined)} quarantined "
              f"{dict(sorted(pdata.quarantine_by_reason().items()))}, {pdata.rejected} rejected")
    for (code, month), k in sorted(ref.monthly.items()):
        t = k.tally
        print(f"{code:11} {month:%Y-%m} offered {t.offered:6} answered {t.answered:6} "
              f"within {t.answered_within_threshold:6} short {t.short_abandoned:5} "
              f"tsf {as_float(t.tsf_pct) or 0:6.2f} asa {as_float(t.asa_seconds) or 0:6.1f} "
              f"sl {k.sl_days_met}/{k.sl_days} ooh {as_float(t.out_of_hours_pct) or 0:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
