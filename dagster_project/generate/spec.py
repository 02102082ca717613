"""What the generator needs from a partner YAML: telephony file format and `generator` block.

Read directly from `seeds/partners/<code>.yml` (pyyaml) so the generator does not depend on the
ingest-side validation code; only the keys the generator uses are checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CANONICAL_FIELDS = ("call_id", "started_at", "queue", "outcome", "wait", "talk", "hold", "wrap")
DURATION_FIELDS = ("wait", "talk", "hold", "wrap")
OUTCOMES = ("answered", "abandoned", "ivr_only", "direct_dial", "test", "phantom")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STAFFING_PROFILES = ("good", "average", "poor", "improving")


class PartnerSpecError(ValueError):
    """A partner YAML cannot drive the generator."""


@dataclass(frozen=True)
class TelephonyFormat:
    """How the partner's telephony files look on disk."""

    files_glob: str
    period_pattern: str | None
    file_type: str  # csv | xlsx
    delimiter: str
    encoding: str
    sheet: str | None
    columns: tuple[tuple[str, str], ...]  # (canonical field, source header), in file order
    timestamp_format: str
    timestamp_zone: str  # local | utc
    duration_formats: dict[str, str]  # field -> seconds | hms
    outcome_codes: dict[str, str]  # canonical outcome -> partner code (first code listed)
    all_outcome_codes: frozenset[str]  # every partner code listed
    queues: dict[str, str]  # partner queue name -> service line code

    def code_for(self, outcome: str) -> str | None:
        return self.outcome_codes.get(outcome)


@dataclass(frozen=True)
class GeneratorSettings:
    base_calls_per_weekday: float
    staffing_profile: str
    ivr_only_share: float
    direct_dial_share: float
    queue_weights: dict[str, float]  # normalised to sum 1
    file_grain: str  # month | day
    # the direct-dial calls go to a separate extract (sources.direct_dial), not the telephony
    # files (generate/direct_dial.py)
    direct_dial_extract: bool = False


@dataclass(frozen=True)
class PartnerSpec:
    code: str
    name: str
    is_fictional: bool
    timezone: str
    opening_hours: dict[int, tuple[int, int]]  # weekday (0=Mon) -> (open, close) seconds
    telephony: TelephonyFormat | None
    generator: GeneratorSettings | None
    path: Path


def _seconds_of_day(text: str, where: str) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not match:
        raise PartnerSpecError(f"{where}: expected HH:MM, got {text!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 24 or minutes > 59:
        raise PartnerSpecError(f"{where}: invalid time {text!r}")
    return hours * 3600 + minutes * 60


def _opening_hours(raw: dict[str, Any] | None, where: str) -> dict[int, tuple[int, int]]:
    hours: dict[int, tuple[int, int]] = {}
    for day, window in (raw or {}).items():
        if day not in WEEKDAYS:
            raise PartnerSpecError(f"{where}: unknown weekday {day!r} in opening_hours")
        if not isinstance(window, list | tuple) or len(window) != 2:
            raise PartnerSpecError(f"{where}: opening_hours.{day} must be [open, close]")
        opens = _seconds_of_day(window[0], f"{where} opening_hours.{day}")
        closes = _seconds_of_day(window[1], f"{where} opening_hours.{day}")
        if closes <= opens:
            raise PartnerSpecError(f"{where}: opening_hours.{day} closes before it opens")
        hours[WEEKDAYS.index(day)] = (opens, closes)
    return hours


def _telephony(raw: dict[str, Any], where: str) -> TelephonyFormat:
    fmt = raw.get("format") or {}
    file_type = fmt.get("type", "csv")
    if file_type not in ("csv", "xlsx"):
        raise PartnerSpecError(f"{where}: format.type must be csv or xlsx")
    columns = tuple((str(field), header) for field, header in (raw.get("columns") or {}).items())
    default_duration = raw.get("duration_format", "seconds")
    duration_formats = {field: default_duration for field in DURATION_FIELDS}
    duration_formats.update(raw.get("duration_formats") or {})
    for field, value in duration_formats.items():
        if value not in ("seconds", "hms"):
            raise PartnerSpecError(f"{where}: duration format for {field} must be seconds|hms")
    outcome_codes: dict[str, str] = {}
    for code, outcome in (raw.get("outcome_codes") or {}).items():
        if outcome not in OUTCOMES:
            raise PartnerSpecError(f"{where}: unknown canonical outcome {outcome!r}")
        outcome_codes.setdefault(outcome, str(code))
    zone = raw.get("timestamp_zone", "local")
    if zone not in ("local", "utc"):
        raise PartnerSpecError(f"{where}: timestamp_zone must be local or utc")
    return TelephonyFormat(
        files_glob=raw.get("files", "*"),
        period_pattern=raw.get("period_pattern"),
        file_type=file_type,
        delimiter=fmt.get("delimiter", ","),
        encoding=fmt.get("encoding", "utf-8"),
        sheet=fmt.get("sheet"),
        columns=columns,
        timestamp_format=raw.get("timestamp_format", "%Y-%m-%d %H:%M:%S"),
        timestamp_zone=zone,
        duration_formats=duration_formats,
        outcome_codes=outcome_codes,
        all_outcome_codes=frozenset(str(code) for code in raw.get("outcome_codes") or {}),
        queues={str(name): str(line) for name, line in (raw.get("queues") or {}).items()},
    )


def _generator(raw: dict[str, Any], telephony: TelephonyFormat | None, where: str,
               direct_dial_extract: bool = False):
    if telephony is None:
        raise PartnerSpecError(f"{where}: a generator block needs sources.telephony")
    for field, header in telephony.columns:
        if not isinstance(header, str):
            raise PartnerSpecError(f"{where}: cannot generate expression column {field!r}")
    missing = {"call_id", "started_at", "outcome"} - {field for field, _ in telephony.columns}
    if missing:
        raise PartnerSpecError(f"{where}: columns must map {sorted(missing)}")
    # with a direct-dial extract and no direct_dial code, the direct dials go to the extract
    needed = ("answered", "abandoned", "ivr_only",
              *(() if direct_dial_extract else ("direct_dial",)))
    for outcome in needed:
        if telephony.code_for(outcome) is None:
            raise PartnerSpecError(f"{where}: outcome_codes has no code for {outcome!r}")
    profile = raw.get("staffing_profile", "average")
    if profile not in STAFFING_PROFILES:
        raise PartnerSpecError(f"{where}: staffing_profile must be one of {STAFFING_PROFILES}")
    weights_raw = raw.get("queue_weights") or {name: 1.0 for name in telephony.queues}
    weights = {str(name): float(value) for name, value in weights_raw.items() if value > 0}
    unknown = set(weights) - set(telephony.queues)
    if unknown:
        raise PartnerSpecError(f"{where}: queue_weights names unknown queues {sorted(unknown)}")
    if not weights:
        raise PartnerSpecError(f"{where}: queue_weights must have a positive weight")
    total = sum(weights.values())
    grain = raw.get("file_grain", "month")
    if grain not in ("month", "day"):
        raise PartnerSpecError(f"{where}: file_grain must be month or day")
    ivr, direct = float(raw.get("ivr_only_share", 0.08)), float(raw.get("direct_dial_share", 0.03))
    if not (ivr >= 0 and direct >= 0 and ivr + direct < 0.8):
        raise PartnerSpecError(f"{where}: ivr_only_share/direct_dial_share out of range")
    if "base_calls_per_weekday" not in raw or float(raw["base_calls_per_weekday"]) <= 0:
        raise PartnerSpecError(f"{where}: generator.base_calls_per_weekday must be positive")
    return GeneratorSettings(
        base_calls_per_weekday=float(raw["base_calls_per_weekday"]),
        staffing_profile=profile,
        ivr_only_share=ivr,
        direct_dial_share=direct,
        queue_weights={name: value / total for name, value in weights.items()},
        file_grain=grain,
        direct_dial_extract=direct_dial_extract and telephony.code_for("direct_dial") is None,
    )


def load_partner_spec(path: Path) -> PartnerSpec:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    where = path.name
    code = str(raw.get("code", path.stem))
    if code != path.stem:
        raise PartnerSpecError(f"{where}: code {code!r} must equal the file stem")
    sources = raw.get("sources") or {}
    telephony = _telephony(sources["telephony"], where) if "telephony" in sources else None
    generator = (_generator(raw["generator"], telephony, where, "direct_dial" in sources)
                 if raw.get("generator") else None)
    return PartnerSpec(
        code=code,
        name=str(raw.get("name", code)),
        is_fictional=bool(raw.get("is_fictional", False)),
        timezone=str(raw.get("timezone", "Europe/London")),
        opening_hours=_opening_hours(raw.get("opening_hours"), where),
        telephony=telephony,
        generator=generator,
        path=path,
    )


def load_partner_specs(partners_dir: Path) -> list[PartnerSpec]:
    """Every `*.yml` / `*.yaml` partner file, sorted by code."""
    paths = sorted([*partners_dir.glob("*.yml"), *partners_dir.glob("*.yaml")])
    return sorted((load_partner_spec(path) for path in paths), key=lambda spec: spec.code)
