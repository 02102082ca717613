"""Partner configuration: one YAML file per partner under `seeds/partners/`.

Adding a partner is a new YAML file plus its landing folder; nothing here names a partner.
See docs/architecture.md for the keys, and docs/crm.md for `sources.crm` and
`complaint_policy`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dagster_project import partner_schema as schema
from dagster_project.partner_reference import check_reference_targets
from dagster_project.partner_schema import WEEKDAYS, PartnerConfigError

__all__ = [
    "SOURCE_FIELDS",
    "WEEKDAYS",
    "PartnerConfig",
    "PartnerConfigError",
    "SourceConfig",
    "load_partner",
    "load_partners",
]

# Per source: its canonical fields and what its raw table (`raw.<source>_<entity>`) holds one
# row of. The service-standard sources (voicemail, reception, web) carry no personal field.
SOURCE_FIELDS = {
    "telephony": {
        "entity": "calls",
        "required": ("call_id", "started_at", "outcome"),
        "optional": ("queue", "wait", "talk", "hold", "wrap"),
        "durations": ("wait", "talk", "hold", "wrap"),
    },
    # docs/crm.md. The personal fields are read, pseudonymised and never stored.
    "crm": {
        "entity": "contacts",
        "required": ("enquiry_id", "created_at", "channel"),
        "optional": ("resolved_at", "service", "enquiry_type", "first_contact_resolved",
                     "back_office", "avoidable_reason", "satisfaction", "feedback_type",
                     "feedback_stage", "responded_at", "customer_name", "phone", "email",
                     "postcode", "uprn"),
        "personal": ("customer_name", "phone", "email", "postcode", "uprn"),
        # free text that is not a code: e-mails, UK phone numbers and postcodes typed into it
        # are replaced by markers before it is stored (docs/crm.md, "Free text")
        "free_text": ("enquiry_type",),
        "durations": (),
    },
    # docs/architecture.md, "Service-standard sources"
    "voicemail": {
        "entity": "messages",
        "required": ("voicemail_id", "left_at"),
        "optional": ("responded_at", "service"),
        "durations": (),
    },
    "reception": {
        "entity": "tickets",
        "required": ("ticket_id", "issued_at"),
        "optional": ("called_at", "finished_at", "service"),
        "durations": (),
    },
    "web": {
        "entity": "days",
        "required": ("visit_date", "page", "visits"),
        "optional": ("service", "ratings_good", "ratings_neutral", "ratings_poor"),
        "durations": (),
    },
}
# The sources whose rows feed marts.kpi_service_standards_monthly.
SERVICE_STANDARD_SOURCES = ("voicemail", "reception", "web")
# Every timestamp field of every source: raw.partner_sources has a `<field>_format` column
# for each (a per-field `column_timestamp_formats` entry, else null).
TIMESTAMP_FIELDS = ("started_at", "created_at", "resolved_at", "responded_at", "left_at",
                    "issued_at", "called_at", "finished_at", "visit_date")
# The yes/no values a CRM flag field maps by default (docs/crm.md `codes.flag`).
DEFAULT_FLAG_CODES = {"Y": "true", "Yes": "true", "y": "true", "yes": "true", "true": "true",
                      "1": "true", "N": "false", "No": "false", "n": "false", "no": "false",
                      "false": "false", "0": "false"}
COMPLAINT_STAGES = {"stage_1": 1, "stage_2": 2}


@dataclass(frozen=True)
class ColumnSpec:
    """How one canonical field is read: a source header, or a SQL expression over headers."""

    field: str
    header: str | None = None
    expr: str | None = None

    def sql(self) -> str:
        if self.expr is not None:
            return f"({self.expr})"
        return '"' + str(self.header).replace('"', '""') + '"'


@dataclass(frozen=True)
class SourceConfig:
    source: str
    files: str
    period_pattern: re.Pattern[str] | None
    file_type: str
    delimiter: str
    encoding: str
    header: bool
    sheet: str | None
    columns: dict[str, ColumnSpec]
    timestamp_format: str
    timestamp_zone: str
    duration_formats: dict[str, str]
    codes: dict[str, str]
    queues: dict[str, str]
    # CRM only: partner code -> canonical value per coded field, and service name -> line.
    field_codes: dict[str, dict[str, str]] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    # timestamp field -> a strptime format other than timestamp_format
    column_timestamp_formats: dict[str, str] = field(default_factory=dict)
    # load a file only once `<file>.done` exists beside it (ingest/settle.py)
    done_marker: bool = False
    # the encoding tried when a file is not valid `encoding` text (None: reject the file)
    fallback_encoding: str | None = None
    # whether a quoted field may span lines (docs/architecture.md, "Line accounting")
    multiline_fields: bool = False
    # telephony only: duration field -> largest plausible value in seconds
    max_durations: dict[str, int] = field(default_factory=dict)
    # reception only: the partner's wait standard in minutes (reception_seen_within_target_pct)
    target_wait_minutes: int | None = None

    @property
    def source_headers(self) -> list[str]:
        """Headers the file must contain (those named directly in the column mapping)."""
        return [c.header for c in self.columns.values() if c.header is not None]


@dataclass(frozen=True)
class PartnerConfig:
    code: str
    name: str
    kind: str
    is_fictional: bool
    timezone: str
    opening_hours: dict[str, tuple[str, str]]
    sources: dict[str, SourceConfig]
    generator: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    expects_deliveries: bool = True
    # complaint stage -> response policy in working days (docs/crm.md `complaint_policy`)
    complaint_policy: dict[int, int] = field(default_factory=lambda: {1: 10, 2: 20})
    # the family group of similar councils it is benchmarked in (YAML `family`, default `kind`)
    family: str = ""

    @property
    def benchmark_family(self) -> str:
        return self.family or self.kind


def _fail(path: Path, message: str) -> PartnerConfigError:
    return PartnerConfigError(f"{path}: {message}")


def _columns(columns: schema._Columns) -> dict[str, ColumnSpec]:
    return {name: (ColumnSpec(name, expr=value.expr) if isinstance(value, schema.ColumnExpr)
                   else ColumnSpec(name, header=value))
            for name, value in columns.specs().items()}


def _source_config(name: str, body: schema._Source) -> SourceConfig:
    fmt = body.format
    durations: dict[str, str] = {}
    codes: dict[str, str] = {}
    queues: dict[str, str] = {}
    max_durations: dict[str, int] = {}
    field_codes: dict[str, dict[str, str]] = {}
    services: dict[str, str] = dict(getattr(body, "services", {}))
    if isinstance(body, schema.TelephonySource):
        durations = {d: getattr(body.duration_formats, d) or body.duration_format
                     for d in SOURCE_FIELDS[name]["durations"]}
        codes, queues = dict(body.outcome_codes), dict(body.queues)
        max_durations = {d: getattr(body.max_durations, d)
                         for d in SOURCE_FIELDS[name]["durations"]}
    elif isinstance(body, schema.CrmSource):
        field_codes = {fld: dict(mapping) for fld, mapping in body.codes if mapping is not None}
        field_codes.setdefault("flag", dict(DEFAULT_FLAG_CODES))
    return SourceConfig(
        source=name,
        files=body.files,
        period_pattern=re.compile(body.period_pattern) if body.period_pattern else None,
        file_type=fmt.type,
        delimiter=fmt.delimiter,
        encoding=fmt.encoding,
        header=fmt.header,
        sheet=fmt.sheet,
        columns=_columns(body.columns),
        timestamp_format=body.timestamp_format,
        timestamp_zone=body.timestamp_zone,
        duration_formats=durations,
        codes=codes,
        queues=queues,
        field_codes=field_codes,
        services=services,
        column_timestamp_formats=dict(body.column_timestamp_formats),
        done_marker=body.done_marker,
        fallback_encoding=_fallback_encoding(fmt),
        multiline_fields=fmt.multiline_fields,
        max_durations=max_durations,
        target_wait_minutes=getattr(body, "target_wait_minutes", None),
    )


def _fallback_encoding(fmt: schema.FileFormat) -> str | None:
    """`format.fallback_encoding`; by default Windows-1252 for UTF-8 sources, else none."""
    if fmt.fallback_encoding == "none":
        return None
    if fmt.fallback_encoding is not None:
        return fmt.fallback_encoding
    return "cp1252" if fmt.encoding in ("utf-8", "utf-8-sig") else None


def load_partner(path: Path) -> PartnerConfig:
    """Read and validate one partner YAML file against the schema (partner_schema.py); every
    problem is listed, each naming the file and the YAML key."""
    try:
        raw = _read_yaml(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _fail(path, f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") \
            from None
    if not isinstance(raw, dict):
        raise _fail(path, "must be a mapping of keys (code, sources, ...)")
    try:
        parsed = schema.PartnerFile.model_validate(raw)
    except ValidationError as exc:
        lines = schema.error_lines(exc)
        raise _fail(path, f"{len(lines)} problem(s):\n  " + "\n  ".join(lines)) from None
    if parsed.code != path.stem:
        raise _fail(path, f"code: '{parsed.code}' must equal the file name '{path.stem}'")
    hours = {day: span for day, span in parsed.opening_hours if span is not None}
    policy = {COMPLAINT_STAGES[stage]: days for stage, days in parsed.complaint_policy}
    sources = {name: _source_config(name, body) for name, body in parsed.sources
               if body is not None}
    return PartnerConfig(
        code=parsed.code,
        name=parsed.name or parsed.code,
        kind=parsed.kind,
        is_fictional=parsed.is_fictional,
        timezone=parsed.timezone,
        opening_hours=hours,
        sources=sources,
        generator=dict(parsed.generator),
        path=path,
        expects_deliveries=parsed.expects_deliveries,
        complaint_policy=policy,
        family=parsed.family or parsed.kind,
    )


def load_partners(partners_dir: Path,
                  reference_dir: Path | None = None) -> dict[str, PartnerConfig]:
    """All partner configurations, keyed by code, in code order; with `reference_dir`
    (`seeds/reference`) every code target is checked against the reference seeds too. Read
    again only when a file changed (its path, size or modification time): a build asks several
    times, and at national scale (hundreds of partner files) each reading took seconds."""
    paths = sorted(partners_dir.glob("*.yml")) + sorted(partners_dir.glob("*.yaml"))
    watched = [*paths, *(sorted(reference_dir.glob("*.csv")) if reference_dir else [])]
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in watched
                      if p.exists())
    return dict(_load_partners(tuple(paths), reference_dir, signature))


@functools.lru_cache(maxsize=8)
def _load_partners(paths: tuple[Path, ...], reference_dir: Path | None,
                   signature: tuple) -> dict[str, PartnerConfig]:
    del signature  # part of the cache key only
    partners = [load_partner(p) for p in paths]
    if reference_dir is not None:
        for partner in partners:
            check_reference_targets(partner, reference_dir)
    return {p.code: p for p in sorted(partners, key=lambda p: p.code)}


# libyaml's parser when PyYAML has it: the pure-Python one took about 20 ms a partner file.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
