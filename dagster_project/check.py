"""`hub check PARTNER [FILE...]`: the answer to "does this partner's configuration work?" in
seconds, without touching the warehouse (docs/architecture.md, "Checking a partner").

1. The partner's YAML is validated against the schema and the reference seeds
   (partner_schema.py, partner_reference.py).
2. Its landing files (or the files named) are loaded by the same loader `hub build` uses into a
   throwaway DuckDB file under `data/tmp/check/`, with a throwaway pseudonymisation key.
3. dbt builds the same staging, validation, fact and KPI models a build runs, selected for the
   partner's sources, on that file (the models themselves: never a second implementation).
4. The report: per source, rows read, loaded, rejected, valid, excluded and quarantined by
   reason with three examples each (values as delivered; never a personal field), the first
   rows as mapped to canonical fields, the months covered and each month's headline KPIs.

Nothing is published and the working warehouse is never opened. Plain Python: no Dagster.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project import dbt_in_process, duck
from dagster_project.build_scope import plan_build
from dagster_project.dbt_runner import seed_partial_parse
from dagster_project.ingest.loader import load_source
from dagster_project.ingest.raw_tables import ensure_raw_schema, write_partner_config
from dagster_project.partner_reference import check_reference_targets
from dagster_project.partner_schema import PartnerConfigError
from dagster_project.partners import SOURCE_FIELDS, PartnerConfig, load_partner
from dagster_project.settings import Settings
from dagster_project.source_models import SOURCE_MODELS

EXAMPLES = 3
FIRST_ROWS = 3
# the headline figures of a service-standard source's months (kpi_service_standards_monthly)
SERVICE_STANDARD_MONTH_COLUMNS = {
    "voicemail": ("voicemails", "voicemail_in_policy_pct", "voicemail_median_response_hours"),
    "reception": ("reception_tickets", "reception_wait_avg_minutes",
                  "reception_seen_within_target_pct", "reception_walkout_pct"),
    "web": ("web_visits", "web_poor_rating_pct", "self_service_share_pct"),
}
# the direct-dial extract's months: its calls, every direct dial counted and the share
# (kpi_telephony_monthly; docs/kpi-definitions.md, "A separate direct-dial extract")
DIRECT_DIAL_MONTH_COLUMNS = ("direct_dial_extract_calls", "csc_call_share_numerator",
                             "csc_call_share_denominator", "csc_call_share_pct")


class CheckError(RuntimeError):
    """The check could not run (no such partner, files that belong to no source, dbt failed);
    the message says which."""


@dataclass
class SourceCheck:
    source: str
    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    valid: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[tuple]] = field(default_factory=dict)
    example_columns: tuple[str, ...] = ()
    mapped_columns: tuple[str, ...] = ()
    first_rows: list[tuple] = field(default_factory=list)
    months: list[tuple] = field(default_factory=list)  # (month, headline figures...)
    month_columns: tuple[str, ...] = ()
    file_messages: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    partner: PartnerConfig
    sources: list[SourceCheck]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected_files(self) -> int:
        return sum(len(s.file_messages) for s in self.sources)


def _partner(settings: Settings, code: str) -> PartnerConfig:
    paths = [settings.partners_dir / f"{code}.yml", settings.partners_dir / f"{code}.yaml"]
    path = next((p for p in paths if p.exists()), None)
    if path is None:
        known = sorted(p.stem for p in settings.partners_dir.glob("*.y*ml"))
        raise CheckError(f"no partner '{code}': {paths[0]} does not exist "
                         f"(partners: {', '.join(known)})")
    partner = load_partner(path)
    check_reference_targets(partner, settings.reference_dir)
    return partner


def _source_of(partner: PartnerConfig, path: Path) -> str:
    """The source a named file belongs to: the one whose `files` glob matches its name."""
    matches = [name for name, cfg in partner.sources.items()
               if fnmatch.fnmatch(path.name, cfg.files)]
    if len(matches) == 1:
        return matches[0]
    if not matches and len(partner.sources) == 1:
        return next(iter(partner.sources))
    raise CheckError(f"{path.name}: matches the `files` pattern of "
                     f"{' and '.join(matches) or 'no source'} of {partner.path}; name a file of "
                     f"one source (sources.<source>.files)")


def _landing(settings: Settings, partner: PartnerConfig, files: list[Path],
             work: Path) -> Path:
    """The landing folder the check loads: the partner's own, or one holding the files named."""
    if not files:
        return settings.landing_dir
    landing = work / "landing"
    for path in files:
        if not path.is_file():
            raise CheckError(f"{path}: not a file")
        target = landing / partner.code / _source_of(partner, path) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return landing


def run_check(settings: Settings, code: str, files: list[Path] | None = None) -> CheckReport:
    """Validate, load and build one partner's data in a throwaway warehouse; return what it
    found. Raises PartnerConfigError (the YAML) or CheckError."""
    started = time.perf_counter()
    partner = _partner(settings, code)
    work = settings.data_dir / "tmp" / "check"
    for stale in ("landing", "warehouse.duckdb", "warehouse.marts.duckdb",
                  "warehouse.duckdb.wal", "warehouse.marts.duckdb.wal"):
        target = work / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    work.mkdir(parents=True, exist_ok=True)
    landing = _landing(settings, partner, list(files or []), work)
    db = work / "warehouse.duckdb"
    key = secrets.token_hex(32)  # throwaway: nothing of a check is kept or published
    partners = {partner.code: partner}
    # a check reads the files as they are, when asked (no settle time, no `.done` marker)
    reports = {source: load_source(db, landing, partners, source, pseudonymisation_key=key,
                                   quiet_periods=False)
               for source in partner.sources}
    con = duck.connect(db)
    try:
        # every source's raw table, empty when the partner has no such source (the calendar
        # reads both)
        ensure_raw_schema(con, tuple(SOURCE_FIELDS))
        write_partner_config(con, partners)
        plan_build(con, settings.home, full_refresh=True)
    finally:
        con.close()
    if not any(f.status == "loaded" and f.partner_code == partner.code
               for r in reports.values() for f in r.files):
        # nothing to build: the report is the files' problems
        return CheckReport(partner, [_unloaded(source, reports[source], partner.code)
                                     for source in partner.sources],
                           time.perf_counter() - started, _configuration_warnings(partner))
    check_settings = dataclasses.replace(settings, work_db=db)
    select = [s for source in partner.sources for s in SOURCE_MODELS[source].check_select]
    seed_partial_parse(settings, work / "dbt")
    # in this process (dagster_project/dbt_in_process.py), its log silent: the errors it
    # logs are the message
    outcome = dbt_in_process.run_to_end(
        check_settings, ["build", "--full-refresh", "--log-level", "none",
                         "--exclude-resource-type", "unit_test", "test", "--select", *select],
        work / "dbt")
    if not outcome.success:
        raise CheckError(f"dbt could not build {partner.code}'s rows:\n{outcome.problem()}")
    con = duck.connect_work(db, read_only=True, data_dir=settings.data_dir)
    try:
        sources = [_source_check(con, source, reports[source], partner.code)
                   for source in partner.sources]
    finally:
        con.close()
    return CheckReport(partner, sources, time.perf_counter() - started,
                       _configuration_warnings(partner))


def _configuration_warnings(partner: PartnerConfig) -> list[str]:
    """What the configuration allows but probably does not mean."""
    telephony, extract = partner.sources.get("telephony"), partner.sources.get("direct_dial")
    if telephony is None or extract is None:
        return []
    codes = sorted(c for c, outcome in telephony.codes.items() if outcome == "direct_dial")
    if not codes:
        return []
    return [f"{partner.path}: sources.telephony.outcome_codes maps {', '.join(codes)} to "
            "direct_dial and sources.direct_dial is configured: both are counted as direct "
            "dials (csc_call_share_pct), so a call in both counts twice; use one or the other "
            "(docs/kpi-definitions.md, \"A separate direct-dial extract\")"]


def _file_messages(report, code: str) -> list[str]:
    """The partner's rejected files (another partner's folder in the landing folder is not
    this check's business)."""
    return [f"{f.rel_path}: {f.message}" for f in report.files
            if f.status == "rejected" and f.partner_code == code]


def _unloaded(source: str, report, code: str) -> SourceCheck:
    result = SourceCheck(source, files=len(report.files))
    result.file_messages = _file_messages(report, code)
    return result


def _source_check(con, source: str, report, code: str) -> SourceCheck:
    result = SourceCheck(source)
    result.file_messages = _file_messages(report, code)
    row = con.execute("select count(*), coalesce(sum(rows_read), 0), "
                      "coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) "
                      "from raw.load_files where source = ?", [source]).fetchone()
    result.files, result.rows_read, result.rows_loaded, result.rows_rejected = row
    models = SOURCE_MODELS[source]
    facts, columns = models.fact, models.mapped_columns
    result.valid = con.execute(f"select count(*) from {facts}").fetchone()[0]
    result.excluded = dict(con.execute(
        f"select exclusion_reason, count(*) from {models.excluded} group by 1 "
        "order by 2 desc, 1").fetchall())
    view, shown = models.quarantine, models.example_columns
    result.quarantined = dict(con.execute(
        f"select quarantine_reason, count(*) from {view} group by 1 "
        "order by 2 desc, 1").fetchall())
    result.example_columns = ("source_file", "source_row_number", *shown)
    for reason_code in result.quarantined:
        result.examples[reason_code] = con.execute(
            f"select {', '.join(result.example_columns)} from {view} "
            f"where quarantine_reason = ? order by source_file, source_row_number "
            f"limit {EXAMPLES}", [reason_code]).fetchall()
    result.mapped_columns = columns
    result.first_rows = con.execute(
        f"select {', '.join(columns)} from {facts} order by source_file, source_row_number "
        f"limit {FIRST_ROWS}").fetchall()
    if source == "telephony":
        result.month_columns = ("offered", "answered", "answered_within_threshold",
                                "tsf_pct", "asa_seconds", "abandon_rate_pct")
        result.months = con.execute(
            f"select month, {', '.join(result.month_columns)} from marts.kpi_telephony_monthly "
            "order by month").fetchall()
    elif source == "direct_dial":
        result.month_columns = DIRECT_DIAL_MONTH_COLUMNS
        result.months = con.execute(
            f"select month, {', '.join(result.month_columns)} from marts.kpi_telephony_monthly "
            "where direct_dial_extract_calls is not null order by month").fetchall()
    elif source in SERVICE_STANDARD_MONTH_COLUMNS:
        result.month_columns = SERVICE_STANDARD_MONTH_COLUMNS[source]
        result.months = con.execute(
            f"select month, {', '.join(result.month_columns)} "
            f"from marts.kpi_service_standards_monthly where {result.month_columns[0]} > 0 "
            "order by month").fetchall()
    else:
        # the partner-level figures as the scorecard defines them (one formula per KPI)
        result.month_columns = ("contacts", "fpoc_pct", "avoidable_contact_pct",
                                "cost_per_contact_gbp")
        pivot = ", ".join(
            f"cast(max(value) filter (where kpi_code = '{kpi}') as "
            f"{'bigint' if kpi == 'contacts' else 'double'})" for kpi in result.month_columns)
        result.months = con.execute(
            f"select month, {pivot} from marts.kpi_scorecard where segment_code = 'all' "
            "group by month order by month").fetchall()
    return result


# --- the printed report -------------------------------------------------------------------

def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _cell(value) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _shown(value) -> str:
    """A delivered value in an example: quoted, shortened, never more than a cell."""
    if value is None:
        return "(empty)"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def format_report(report: CheckReport) -> str:
    p = report.partner
    lines = [f"hub check {p.code}: configuration OK ({p.path})"]
    lines.extend(f"WARNING {w}" for w in report.warnings)
    for s in report.sources:
        lines.append("")
        lines.append(f"{s.source}: {s.files:,} file(s), {s.rows_read:,} rows read: "
                     f"{s.rows_loaded:,} loaded, {s.rows_rejected:,} rejected (malformed)")
        quarantined = sum(s.quarantined.values())
        excluded = sum(s.excluded.values())
        lines.append(f"  valid {s.valid:,} ({_pct(s.valid, s.rows_read)}), "
                     f"excluded {excluded:,} ({_pct(excluded, s.rows_read)}), "
                     f"quarantined {quarantined:,} ({_pct(quarantined, s.rows_read)})")
        lines.extend(f"  REJECTED {m}" for m in s.file_messages)
        for reason, n in s.excluded.items():
            lines.append(f"  excluded {reason}: {n:,}")
        for reason, n in s.quarantined.items():
            lines.append(f"  quarantined {reason}: {n:,} ({_pct(n, s.rows_read)}), e.g.")
            for row in s.examples.get(reason, []):
                where = f"{row[0]} row {row[1]}"
                values = ", ".join(f"{c}={_shown(v)}" for c, v
                                   in zip(s.example_columns[2:], row[2:], strict=True)
                                   if v is not None)
                lines.append(f"    {where}: {values}")
        if s.first_rows:
            lines.append("  first rows as mapped:")
            lines.append("    " + " | ".join(s.mapped_columns))
            lines.extend("    " + " | ".join(_cell(v) for v in row) for row in s.first_rows)
        if s.months:
            first, last = s.months[0][0], s.months[-1][0]
            lines.append(f"  months: {first:%Y-%m} .. {last:%Y-%m} ({len(s.months)})")
            widths = [max(len(c), 12) for c in s.month_columns]
            lines.append("    month    " + " ".join(f"{c:>{w}}" for c, w
                                                   in zip(s.month_columns, widths, strict=True)))
            lines.extend(f"    {row[0]:%Y-%m}  " + " ".join(
                f"{_cell(v):>{w}}" for v, w in zip(row[1:], widths, strict=True))
                for row in s.months)
        else:
            lines.append("  months: none (no valid rows)")
    lines.append("")
    lines.append(f"checked in {report.seconds:.1f}s; nothing was published "
                 f"(the throwaway warehouse is under data/tmp/check)")
    return "\n".join(lines)


__all__ = ["CheckError", "CheckReport", "PartnerConfigError", "format_report", "run_check"]
