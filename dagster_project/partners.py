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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

SOURCE_FIELDS = {
    "telephony": {
        "required": ("call_id", "started_at", "outcome"),
        "optional": ("queue", "wait", "talk", "hold", "wrap"),
        "durations": ("wait", "talk", "hold", "wrap"),
        "outcomes": ("answered", "abandoned", "ivr_only", "direct_dial", "test", "phantom"),
        "file_types": ("csv", "xlsx"),
    },
    # docs/crm.md. The personal fields are read, pseudonymised and never stored.
    "crm": {
        "required": ("enquiry_id", "created_at", "channel"),
        "optional": ("resolved_at", "service", "enquiry_type", "first_contact_resolved",
                     "back_office", "avoidable_reason", "satisfaction", "feedback_type",
                     "feedback_stage", "responded_at", "customer_name", "phone", "email",
                     "postcode", "uprn"),
        "personal": ("customer_name", "phone", "email", "postcode", "uprn"),
        "durations": (),
        "file_types": ("csv", "xlsx", "jsonl"),
    },
}
FILE_TYPES = ("csv", "xlsx", "jsonl")
# Coded CRM fields (docs/crm.md `codes`): field -> the canonical values allowed (None: any
# lower-case code). `flag` is the map of the yes/no fields.
CRM_CODED_FIELDS: dict[str, tuple[str, ...] | None] = {
    "channel": None,
    "avoidable_reason": None,
    "feedback_type": ("complaint", "comment", "compliment"),
    "feedback_stage": ("1", "2"),
    "flag": ("true", "false"),
}
DEFAULT_FLAG_CODES = {"Y": "true", "Yes": "true", "y": "true", "yes": "true", "true": "true",
                      "1": "true", "N": "false", "No": "false", "n": "false", "no": "false",
                      "false": "false", "0": "false"}
COMPLAINT_STAGES = {"stage_1": 1, "stage_2": 2}
DEFAULT_COMPLAINT_POLICY = {1: 10, 2: 20}
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1")
DURATION_FORMATS = ("seconds", "hms")
TIMESTAMP_ZONES = ("local", "utc")


class PartnerConfigError(ValueError):
    """A partner YAML file is invalid; the message names the file and the key."""


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
    complaint_policy: dict[int, int] = field(
        default_factory=lambda: dict(DEFAULT_COMPLAINT_POLICY))


def _fail(path: Path, message: str) -> PartnerConfigError:
    return PartnerConfigError(f"{path}: {message}")


def _parse_source(path: Path, name: str, raw: dict[str, Any],
                  timestamp_formats: list[str] | None) -> SourceConfig:
    spec = SOURCE_FIELDS.get(name)
    if spec is None:
        raise _fail(path, f"unknown source '{name}' (known: {', '.join(SOURCE_FIELDS)})")
    fmt = raw.get("format") or {}
    if not isinstance(fmt, dict):
        raise _fail(path, f"sources.{name}.format must be a mapping")
    file_type = fmt.get("type", "csv")
    if file_type not in spec["file_types"]:
        raise _fail(path, f"sources.{name}.format.type '{file_type}' not one of "
                          f"{spec['file_types']}")
    encoding = str(fmt.get("encoding", "utf-8")).lower()
    if encoding not in ENCODINGS:
        raise _fail(path, f"sources.{name}.format.encoding '{encoding}' not one of {ENCODINGS}")
    columns: dict[str, ColumnSpec] = {}
    if not isinstance(raw.get("columns") or {}, dict):
        raise _fail(path, f"sources.{name}.columns must be a mapping field -> header")
    for fld, value in (raw.get("columns") or {}).items():
        allowed = spec["required"] + spec["optional"]
        if fld not in allowed:
            raise _fail(path, f"sources.{name}.columns.{fld}: not a canonical field {allowed}")
        if isinstance(value, dict) and "expr" in value:
            columns[fld] = ColumnSpec(fld, expr=str(value["expr"]))
        elif isinstance(value, str | int):
            columns[fld] = ColumnSpec(fld, header=str(value))
        else:
            raise _fail(path, f"sources.{name}.columns.{fld}: give a header or {{expr: ...}}")
    missing = [f for f in spec["required"] if f not in columns]
    if missing:
        raise _fail(path, f"sources.{name}.columns lacks required field(s) {missing}")
    ts_format = raw.get("timestamp_format")
    if not ts_format:
        raise _fail(path, f"sources.{name}.timestamp_format is required")
    if timestamp_formats is not None and ts_format not in timestamp_formats:
        raise _fail(path, f"sources.{name}.timestamp_format '{ts_format}' is not supported; "
                          f"add it to vars.timestamp_formats in dbt/dbt_project.yml "
                          f"(supported: {timestamp_formats})")
    zone = raw.get("timestamp_zone", "local")
    if zone not in TIMESTAMP_ZONES:
        raise _fail(path, f"sources.{name}.timestamp_zone '{zone}' not one of {TIMESTAMP_ZONES}")
    default_duration = raw.get("duration_format", "seconds")
    durations = {d: default_duration for d in spec["durations"]}
    durations.update(raw.get("duration_formats") or {})
    for d, f in durations.items():
        if d not in spec["durations"] or f not in DURATION_FORMATS:
            raise _fail(path, f"sources.{name}: duration format {d}={f} invalid "
                              f"(fields {spec['durations']}, formats {DURATION_FORMATS})")
    if name == "crm":
        codes: dict[str, str] = {}
        field_codes = _crm_codes(path, raw.get("codes"))
        services = _text_map(path, "sources.crm.services", raw.get("services"))
    else:
        codes = {str(k): str(v) for k, v in (raw.get("outcome_codes") or {}).items()}
        bad = sorted({v for v in codes.values() if v not in spec["outcomes"]})
        if bad or not codes:
            raise _fail(path, f"sources.{name}.outcome_codes must map to {spec['outcomes']}; "
                              f"got {bad or 'nothing'}")
        field_codes, services = {}, {}
    pattern = raw.get("period_pattern")
    try:
        compiled = re.compile(pattern) if pattern else None
    except re.error as exc:
        raise _fail(path, f"sources.{name}.period_pattern is not a valid regex: {exc}") from exc
    if compiled is not None and not {"year", "month"} <= set(compiled.groupindex):
        raise _fail(path, f"sources.{name}.period_pattern needs groups 'year' and 'month'")
    return SourceConfig(
        source=name,
        files=str(raw.get("files", "*")),
        period_pattern=compiled,
        file_type=file_type,
        delimiter=str(fmt.get("delimiter", ",")),
        encoding=encoding,
        header=bool(fmt.get("header", True)),
        sheet=fmt.get("sheet"),
        columns=columns,
        timestamp_format=str(ts_format),
        timestamp_zone=zone,
        duration_formats=durations,
        codes=codes,
        queues={str(k): str(v) for k, v in (raw.get("queues") or {}).items()},
        field_codes=field_codes,
        services=services,
    )


def _text(path: Path, key: str, value: Any) -> str:
    """A YAML scalar as the text a partner file carries (YAML reads Yes/No/true as booleans)."""
    if isinstance(value, bool):
        raise _fail(path, f"{key}: '{value}' reads as a YAML boolean; quote it (e.g. \"Yes\")")
    if value is None or isinstance(value, dict | list):
        raise _fail(path, f"{key}: expected a text value, got {value!r}")
    return str(value)


def _text_map(path: Path, key: str, raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, f"{key} must be a mapping")
    return {_text(path, f"{key} key {k!r}", k): _text(path, f"{key}.{k}", v)
            for k, v in raw.items()}


def _crm_codes(path: Path, raw: Any) -> dict[str, dict[str, str]]:
    """`sources.crm.codes`: partner code -> canonical value per coded field."""
    if not isinstance(raw, dict):
        raise _fail(path, "sources.crm.codes is required (at least codes.channel)")
    result: dict[str, dict[str, str]] = {}
    for fld, mapping in raw.items():
        key = f"sources.crm.codes.{fld}"
        if fld not in CRM_CODED_FIELDS:
            raise _fail(path, f"{key}: not a coded field {tuple(CRM_CODED_FIELDS)}")
        if fld == "flag" and isinstance(mapping, dict):
            # canonical flag values are the text 'true'/'false'; an unquoted true is fine here
            mapping = {k: (str(v).lower() if isinstance(v, bool) else v)
                       for k, v in mapping.items()}
        codes = _text_map(path, key, mapping)
        if not codes:
            raise _fail(path, f"{key} is empty")
        allowed = CRM_CODED_FIELDS[fld]
        for code, canonical in codes.items():
            if allowed is not None and canonical not in allowed:
                raise _fail(path, f"{key}.{code}: '{canonical}' not one of {allowed}")
            if allowed is None and not re.match(r"^[a-z][a-z0-9_]*$", canonical):
                raise _fail(path, f"{key}.{code}: '{canonical}' must be a lower-case code "
                                  f"(letters, digits, _)")
            if code.strip() == "":
                raise _fail(path, f"{key}: an empty code is never a code (empty values are "
                                  f"null)")
        result[str(fld)] = codes
    if "channel" not in result:
        raise _fail(path, "sources.crm.codes.channel is required")
    result.setdefault("flag", dict(DEFAULT_FLAG_CODES))
    return result


def _complaint_policy(path: Path, raw: Any) -> dict[int, int]:
    policy = dict(DEFAULT_COMPLAINT_POLICY)
    if raw is None:
        return policy
    if not isinstance(raw, dict):
        raise _fail(path, "complaint_policy must be a mapping {stage_1: 10, stage_2: 20}")
    for key, days in raw.items():
        if key not in COMPLAINT_STAGES:
            raise _fail(path, f"complaint_policy.{key}: stages are {tuple(COMPLAINT_STAGES)}")
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise _fail(path, f"complaint_policy.{key}: '{days}' must be a positive whole "
                              f"number of working days")
        policy[COMPLAINT_STAGES[key]] = days
    return policy


def load_partner(path: Path, timestamp_formats: list[str] | None = None) -> PartnerConfig:
    """Read and validate one partner YAML file."""
    try:
        raw = _read_yaml(path) or {}
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML: {exc}") from exc
    code = raw.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise _fail(path, f"code '{code}' must match {CODE_RE.pattern}")
    if code != path.stem:
        raise _fail(path, f"code '{code}' must equal the file name '{path.stem}'")
    tz = raw.get("timezone", "Europe/London")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(path, f"timezone '{tz}' is not an IANA zone") from exc
    hours: dict[str, tuple[str, str]] = {}
    for day, span in (raw.get("opening_hours") or {}).items():
        if day not in WEEKDAYS:
            raise _fail(path, f"opening_hours.{day}: days are {WEEKDAYS}")
        if span is None:
            continue
        if (not isinstance(span, list) or len(span) != 2
                or not all(TIME_RE.match(str(t)) for t in span) or span[0] >= span[1]):
            raise _fail(path, f"opening_hours.{day} must be [\"HH:MM\", \"HH:MM\"], open < close")
        hours[day] = (str(span[0]), str(span[1]))
    sources = {name: _parse_source(path, name, body or {}, timestamp_formats)
               for name, body in (raw.get("sources") or {}).items()}
    if not sources:
        raise _fail(path, "declares no sources")
    return PartnerConfig(
        code=code,
        name=str(raw.get("name", code)),
        kind=str(raw.get("kind", "other")),
        is_fictional=bool(raw.get("is_fictional", False)),
        timezone=tz,
        opening_hours=hours,
        sources=sources,
        generator=dict(raw.get("generator") or {}),
        path=path,
        expects_deliveries=bool(raw.get("expects_deliveries", True)),
        complaint_policy=_complaint_policy(path, raw.get("complaint_policy")),
    )


def supported_timestamp_formats(dbt_project_dir: Path) -> list[str] | None:
    """The timestamp formats staging can parse (dbt var `timestamp_formats`)."""
    project = dbt_project_dir / "dbt_project.yml"
    if not project.exists():
        return None
    data = _read_yaml(project) or {}
    formats = (data.get("vars") or {}).get("timestamp_formats")
    return list(formats) if formats else None


def load_partners(partners_dir: Path,
                  dbt_project_dir: Path | None = None) -> dict[str, PartnerConfig]:
    """All partner configurations, keyed by code, in code order. Read again only when a file
    changed (its path, size or modification time): a build asks several times, and at
    national scale (hundreds of partner files) each reading took seconds."""
    paths = sorted(partners_dir.glob("*.yml")) + sorted(partners_dir.glob("*.yaml"))
    watched = [*paths, *([dbt_project_dir / "dbt_project.yml"] if dbt_project_dir else [])]
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in watched
                      if p.exists())
    return dict(_load_partners(tuple(paths), dbt_project_dir, signature))


@functools.lru_cache(maxsize=8)
def _load_partners(paths: tuple[Path, ...], dbt_project_dir: Path | None,
                   signature: tuple) -> dict[str, PartnerConfig]:
    del signature  # part of the cache key only
    formats = supported_timestamp_formats(dbt_project_dir) if dbt_project_dir else None
    partners = [load_partner(p, formats) for p in paths]
    return {p.code: p for p in sorted(partners, key=lambda p: p.code)}


# libyaml's parser when PyYAML has it: the pure-Python one took about 20 ms a partner file.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
