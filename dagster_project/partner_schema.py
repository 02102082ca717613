"""The schema of a partner YAML file (`seeds/partners/<code>.yml`), as pydantic models.

One schema for every partner file: unknown keys are errors (with the nearest known key as a
suggestion), types and allowed values are checked, and the reference of the keys in
`docs/partner-yaml.md` is generated from the descriptions here (`python -m
dagster_project.partner_docs`; a test keeps it current). `partners.py` turns a validated file
into the configuration the loader and dbt read; `partner_reference.py` checks its code targets
against the reference seeds. No Dagster imports.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal, get_args

import duckdb
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,30}$"
LOWER_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OUTCOMES = ("answered", "abandoned", "ivr_only", "direct_dial", "test", "phantom")
# The code target of a coded CRM value that is not a customer contact (raised by staff or a
# system): the row is excluded with a reason, never quarantined, never in a KPI.
EXCLUDED = "excluded"
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1")
FALLBACK_ENCODINGS = ("cp1252", "latin-1", "none")


class PartnerConfigError(ValueError):
    """A partner YAML file is invalid; the message names the file and the key."""


class Strict(BaseModel):
    """A mapping of the partner file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_value(value: Any) -> Any:
    """YAML reads Yes/No/true/on as booleans: a code must be quoted to stay text."""
    if isinstance(value, bool):
        raise ValueError(f"'{value}' reads as a YAML boolean; quote it (e.g. \"Yes\")")
    if isinstance(value, int | float):
        return str(value)
    return value


def _text_map(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {_text_value(k): _text_value(v) for k, v in raw.items()}
    return raw


def _lower_code(value: str) -> str:
    if not LOWER_CODE.match(value):
        raise ValueError(f"'{value}' must be a lower-case code (letters, digits, _)")
    return value


CodeMap = dict[str, Annotated[str, AfterValidator(_lower_code)]]


# --- columns ----------------------------------------------------------------------------------

class ColumnExpr(Strict):
    expr: str = Field(description="A DuckDB SQL expression over the file's headers, each "
                                  "double-quoted, e.g. `\"Date\" || ' ' || \"Time\"`.")


def _column_kind(value: Any) -> str:
    return "expr" if isinstance(value, dict) else "header"


Column = Annotated[
    Annotated[str, Tag("header")] | Annotated[ColumnExpr, Tag("expr")],
    Discriminator(_column_kind),
]
COLUMN_DOC = "source header, or `{expr: ...}`"


class _Columns(Strict):
    @model_validator(mode="before")
    @classmethod
    def _headers_as_text(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                    for k, v in raw.items()}
        return raw

    def specs(self) -> dict[str, str | ColumnExpr]:
        return {name: value for name, value in self if value is not None}


class TelephonyColumns(_Columns):
    call_id: Column = Field(description=f"Required. The call's id: {COLUMN_DOC}.")
    started_at: Column = Field(description="Required. When the call arrived.")
    outcome: Column = Field(description="Required. The call's outcome code (`outcome_codes`).")
    queue: Column | None = Field(None, description="The queue (`queues`).")
    wait: Column | None = Field(None, description="Queue wait until answer or abandon.")
    talk: Column | None = Field(None, description="Talk time.")
    hold: Column | None = Field(None, description="Hold time.")
    wrap: Column | None = Field(None, description="Wrap-up time after the call.")


class CrmColumns(_Columns):
    enquiry_id: Column = Field(description=f"Required. The enquiry's id: {COLUMN_DOC}.")
    created_at: Column = Field(description="Required. When the enquiry was logged.")
    channel: Column = Field(description="Required. The channel code (`codes.channel`).")
    resolved_at: Column | None = Field(None, description="When it was resolved.")
    service: Column | None = Field(None, description="The service name (`services`).")
    enquiry_type: Column | None = Field(None, description="Free text: e-mails, UK phone "
                                                          "numbers and postcodes in it are "
                                                          "replaced by markers at load.")
    first_contact_resolved: Column | None = Field(None, description="Yes/no (`codes.flag`).")
    back_office: Column | None = Field(None, description="Yes/no (`codes.flag`).")
    avoidable_reason: Column | None = Field(None, description="`codes.avoidable_reason`.")
    satisfaction: Column | None = Field(None, description="Score 1-5.")
    feedback_type: Column | None = Field(None, description="`codes.feedback_type`.")
    feedback_stage: Column | None = Field(None, description="`codes.feedback_stage`.")
    responded_at: Column | None = Field(None, description="When feedback was responded to.")
    customer_name: Column | None = Field(None, description="Personal: pseudonymised on "
                                                           "load, never stored.")
    phone: Column | None = Field(None, description="Personal: pseudonymised on load.")
    email: Column | None = Field(None, description="Personal: pseudonymised on load.")
    postcode: Column | None = Field(None, description="Personal: pseudonymised on load.")
    uprn: Column | None = Field(None, description="Personal: pseudonymised on load.")


class VoicemailColumns(_Columns):
    voicemail_id: Column = Field(description=f"Required. The message's id: {COLUMN_DOC}.")
    left_at: Column = Field(description="Required. When the message was left.")
    responded_at: Column | None = Field(None, description="When the caller was called back "
                                                          "or otherwise answered; empty while "
                                                          "not responded.")
    service: Column | None = Field(None, description="The service or mailbox name "
                                                     "(`services`).")


class ReceptionColumns(_Columns):
    ticket_id: Column = Field(description=f"Required. The queue ticket's id: {COLUMN_DOC}.")
    issued_at: Column = Field(description="Required. When the ticket was issued (the customer "
                                          "joined the queue).")
    called_at: Column | None = Field(None, description="When the customer was called to a "
                                                       "desk; empty when never called (a "
                                                       "walk-out).")
    finished_at: Column | None = Field(None, description="When the customer was served, or "
                                                         "left without being called.")
    service: Column | None = Field(None, description="The service name (`services`).")


class WebColumns(_Columns):
    visit_date: Column = Field(description="Required. The day, read with `timestamp_format` "
                                           "(a date format such as `%Y-%m-%d` is enough).")
    page: Column = Field(description="Required. The page or online service; one row per day "
                                     "and page.")
    visits: Column = Field(description="Required. Visits that day (a whole number >= 0).")
    service: Column | None = Field(None, description="The service the page belongs to "
                                                     "(`services`).")
    ratings_good: Column | None = Field(None, description="Page ratings \"good\" that day.")
    ratings_neutral: Column | None = Field(None, description="Page ratings \"neutral\".")
    ratings_poor: Column | None = Field(None, description="Page ratings \"poor\".")


# --- file format, timestamps, durations -------------------------------------------------------

class FileFormat(Strict):
    type: Literal["csv", "xlsx", "jsonl"] = Field(
        "csv", description="`csv` or `xlsx` (`jsonl` too for every source but `telephony`).")
    delimiter: str = Field(",", min_length=1, description="CSV field separator; `\"\\t\"` "
                                                          "for tab-separated files.")
    encoding: Literal[ENCODINGS] = Field(  # type: ignore[valid-type]
        "utf-8", description="`utf-8`, `utf-8-sig`, `cp1252` or `latin-1`: the whole file "
                             "is decoded with it (docs/architecture.md, \"Encodings\").")
    fallback_encoding: Literal[FALLBACK_ENCODINGS] | None = Field(  # type: ignore[valid-type]
        None, description="The encoding tried when the whole file is not valid `encoding` "
                          "text: `cp1252`, `latin-1` or `none` (reject the file, naming the "
                          "byte offset). Default `cp1252` for `utf-8`/`utf-8-sig` sources, "
                          "`none` otherwise. The encoding used is recorded per file "
                          "(`raw.load_files.encoding`) and shown by `hub build`.")
    multiline_fields: bool = Field(
        False, description="Whether a quoted field may hold line breaks (e.g. a CRM's notes). "
                           "When `false`, a quote still open at the end of its line is a stray "
                           "quote: that line is rejected and the lines after it are read on "
                           "their own, so it never swallows the rest of the file.")
    header: bool = Field(True, description="Whether the first line names the columns.")
    sheet: str | None = Field(None, description="xlsx only: the sheet to read.")

    @field_validator("encoding", "fallback_encoding", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def check_strptime_format(value: str) -> str:
    """A format DuckDB's strptime accepts (%y, %I %p, %b, %j, ...)."""
    if "%" not in value:
        raise ValueError(f"'{value}' has no strptime directive (e.g. %Y-%m-%d %H:%M:%S)")
    try:
        duckdb.execute("select try_strptime('', ?)", [value])
    except duckdb.Error as exc:
        raise ValueError(f"'{value}' is not a DuckDB strptime format: "
                         f"{str(exc).splitlines()[0]}") from None
    return value


StrptimeFormat = Annotated[str, Field(description="A DuckDB `strptime` format.")]


class _Source(Strict):
    files: str = Field("*", description="Glob of file names under "
                                        "`landing/<code>/<source>/`.")
    period_pattern: str | None = Field(
        None, description="Regex on the file name with groups `year`, `month` (and optionally "
                          "`day`): the file's delivery key; a new file with the same key "
                          "replaces the old one's rows. Without it the key is the file's path "
                          "relative to `landing/<code>/<source>/` (files in subfolders are not "
                          "read). Two files with one key are both rejected until one remains.")
    done_marker: bool = Field(
        False, description="If true, a file is loaded only once the partner has written "
                           "`<file name>.done` beside it (a marker not older than the file), "
                           "instead of once it has been unchanged for the settle interval "
                           "(`HUB_SETTLE_SECONDS`, default 60 s).")
    format: FileFormat = Field(default_factory=FileFormat, description="How to read the file.")
    timestamp_format: StrptimeFormat = Field(
        description="Required. Any DuckDB `strptime` format, e.g. `%d/%m/%Y %H:%M:%S`, "
                    "`%m/%d/%y %I:%M %p`, `%d-%b-%Y %H:%M`.")
    column_timestamp_formats: dict[str, StrptimeFormat] = Field(
        default_factory=dict, description="Per timestamp field, a format other than "
                                          "`timestamp_format`.")
    timestamp_zone: Literal["local", "utc"] = Field(
        "local", description="`local` (the partner's `timezone`) or `utc`.")

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, value: str) -> str:
        return check_strptime_format(value)

    @field_validator("column_timestamp_formats")
    @classmethod
    def _column_formats(cls, value: dict[str, str]) -> dict[str, str]:
        fields = cls.timestamp_fields()
        for name, fmt in value.items():
            if name not in fields:
                raise ValueError(f"'{name}' is not a timestamp field {fields}")
            check_strptime_format(fmt)
        return value

    @field_validator("period_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
        if not {"year", "month"} <= set(compiled.groupindex):
            raise ValueError("needs named groups 'year' and 'month'")
        return value

    @classmethod
    def timestamp_fields(cls) -> tuple[str, ...]:
        return ()


class DurationFormats(Strict):
    wait: Literal["seconds", "hms"] | None = Field(None, description="Format of `wait`.")
    talk: Literal["seconds", "hms"] | None = Field(None, description="Format of `talk`.")
    hold: Literal["seconds", "hms"] | None = Field(None, description="Format of `hold`.")
    wrap: Literal["seconds", "hms"] | None = Field(None, description="Format of `wrap`.")


# The default upper bound of every duration field, in seconds (24 h): a longer wait, talk,
# hold or wrap time is a clock or export error, quarantined as `implausible_duration`.
MAX_DURATION_SECONDS = 86_400
MAX_DURATION_DOC = (" in seconds (default 86400, 24 h): a longer value is quarantined as "
                    "`implausible_duration`.")
PositiveSeconds = Annotated[int, Field(gt=0, strict=True)]


class DurationLimits(Strict):
    """The largest plausible value of each duration field (docs/architecture.md, "Delivery
    rules")."""

    wait: PositiveSeconds = Field(MAX_DURATION_SECONDS,
                                  description="Largest plausible `wait`" + MAX_DURATION_DOC)
    talk: PositiveSeconds = Field(MAX_DURATION_SECONDS,
                                  description="Largest plausible `talk`" + MAX_DURATION_DOC)
    hold: PositiveSeconds = Field(MAX_DURATION_SECONDS,
                                  description="Largest plausible `hold`" + MAX_DURATION_DOC)
    wrap: PositiveSeconds = Field(MAX_DURATION_SECONDS,
                                  description="Largest plausible `wrap`" + MAX_DURATION_DOC)


class TelephonySource(_Source):
    """One row per call."""

    columns: TelephonyColumns = Field(description="Canonical field -> source header or "
                                                  "`{expr: ...}`.")
    duration_format: Literal["seconds", "hms"] = Field(
        "seconds", description="`seconds` or `hms` (`H:MM:SS`) for every duration field.")
    duration_formats: DurationFormats = Field(default_factory=DurationFormats,
                                              description="Per duration field, overriding "
                                                          "`duration_format`.")
    max_durations: DurationLimits = Field(
        default_factory=DurationLimits,
        description="Per duration field, the largest plausible value in seconds (default 24 h "
                    "each); longer durations are quarantined as `implausible_duration`.")
    outcome_codes: dict[str, Literal[OUTCOMES]] = Field(  # type: ignore[valid-type]
        min_length=1, description="Required. Partner outcome code -> `answered`, `abandoned`, "
                                  "`ivr_only`, `direct_dial`, `test` or `phantom` (the last "
                                  "two are excluded from every KPI).")
    queues: CodeMap = Field(default_factory=dict,
                            description="Partner queue name -> service line "
                                        "(`seeds/reference/service_lines.csv`).")

    @field_validator("outcome_codes", "queues", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return _text_map(value)

    @field_validator("format")
    @classmethod
    def _not_jsonl(cls, value: FileFormat) -> FileFormat:
        if value.type == "jsonl":
            raise ValueError("type 'jsonl' is for crm only (telephony: csv or xlsx)")
        return value

    @classmethod
    def timestamp_fields(cls) -> tuple[str, ...]:
        return ("started_at",)


class CrmCodes(Strict):
    """Partner code -> canonical value, per coded CRM field. `excluded` marks a value that is
    not a customer contact (staff- or system-raised): the row is excluded, not quarantined."""

    channel: CodeMap = Field(min_length=1, description="Required. -> a channel "
                                                       "(`seeds/reference/channels.csv`) or "
                                                       "`excluded`.")
    avoidable_reason: CodeMap | None = Field(
        None, description="-> an avoidable category "
                          "(`seeds/reference/avoidable_categories.csv`), `none` or `excluded`.")
    feedback_type: dict[str, Literal["complaint", "comment", "compliment", "excluded"]] | None \
        = Field(None, description="-> `complaint`, `comment`, `compliment` or `excluded`.")
    feedback_stage: dict[str, Literal["1", "2", "excluded"]] | None = Field(
        None, description="-> `\"1\"`, `\"2\"` or `excluded`.")
    flag: dict[str, Literal["true", "false"]] | None = Field(
        None, description="Yes/no values -> `true` or `false` (default: Y/Yes/y/yes/true/1 "
                          "and N/No/n/no/false/0).")

    @field_validator("channel", "avoidable_reason", "feedback_type", "feedback_stage",
                     mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return _text_map(value)

    @field_validator("flag", mode="before")
    @classmethod
    def _flags(cls, value: Any) -> Any:
        if isinstance(value, dict):  # an unquoted true/false is fine as a flag's target
            return {_text_value(k): (str(v).lower() if isinstance(v, bool) else _text_value(v))
                    for k, v in value.items()}
        return value

    @field_validator("channel", "avoidable_reason", "feedback_type", "feedback_stage", "flag")
    @classmethod
    def _codes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for code in value or {}:
            if code.strip() == "":
                raise ValueError("an empty code is never a code (empty values are null)")
        if value is not None and not value:
            raise ValueError("is empty")
        return value


class CrmSource(_Source):
    """One row per enquiry, any channel (docs/crm.md)."""

    columns: CrmColumns = Field(description="Canonical field -> source header or "
                                            "`{expr: ...}`.")
    codes: CrmCodes = Field(description="Required (at least `codes.channel`).")
    services: CodeMap = Field(default_factory=dict,
                              description="Partner service name -> service line "
                                          "(`seeds/reference/service_lines.csv`) or "
                                          "`excluded`.")

    @field_validator("services", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return _text_map(value)

    @classmethod
    def timestamp_fields(cls) -> tuple[str, ...]:
        return ("created_at", "resolved_at", "responded_at")


class _ServiceStandardSource(_Source):
    """A service-standard source (docs/architecture.md, "Service-standard sources"): csv,
    xlsx or jsonl, services mapped to service lines."""

    services: CodeMap = Field(default_factory=dict,
                              description="Partner service name -> service line "
                                          "(`seeds/reference/service_lines.csv`) or "
                                          "`excluded` (the row is excluded, not a KPI row).")

    @field_validator("services", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return _text_map(value)


class VoicemailSource(_ServiceStandardSource):
    """One row per voicemail message."""

    columns: VoicemailColumns = Field(description="Canonical field -> source header or "
                                                  "`{expr: ...}`.")

    @classmethod
    def timestamp_fields(cls) -> tuple[str, ...]:
        return ("left_at", "responded_at")


class ReceptionSource(_ServiceStandardSource):
    """One row per reception queue ticket."""

    columns: ReceptionColumns = Field(description="Canonical field -> source header or "
                                                  "`{expr: ...}`.")
    target_wait_minutes: Annotated[int, Field(gt=0, strict=True)] = Field(
        15, description="The partner's reception standard: customers called to a desk within "
                        "this many minutes of their ticket count as seen within target "
                        "(`reception_seen_within_target_pct`). Default 15.")

    @classmethod
    def timestamp_fields(cls) -> tuple[str, ...]:
        return ("issued_at", "called_at", "finished_at")


class WebSource(_ServiceStandardSource):
    """One row per day and page (or online service)."""

    columns: WebColumns = Field(description="Canonical field -> source header or "
                                            "`{expr: ...}`.")

    @classmethod
    def timestamp_fields(cls) -> tuple[str, ...]:
        return ("visit_date",)


class Sources(Strict):
    telephony: TelephonySource | None = Field(None, description="The call log.")
    crm: CrmSource | None = Field(None, description="The CRM extract.")
    voicemail: VoicemailSource | None = Field(
        None, description="Voicemail messages and when each was responded to.")
    reception: ReceptionSource | None = Field(
        None, description="Reception desk queue tickets (face-to-face customers).")
    web: WebSource | None = Field(None, description="Website visits and page ratings per day.")

    @model_validator(mode="after")
    def _some(self) -> Sources:
        if all(body is None for _, body in self):
            raise ValueError("declares no sources (telephony, crm, voicemail, reception, web)")
        return self


# --- the partner ------------------------------------------------------------------------------

def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _opening_span(value: Any) -> Any:
    if value is None or value == "closed":
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(t, str) and TIME_RE.match(t) for t in value)):
        raise ValueError('give ["HH:MM", "HH:MM"] (local time, "24:00" for midnight) or '
                         '"closed"')
    if _minutes(value[0]) >= _minutes(value[1]):
        raise ValueError(f"opens at {value[0]}, not before it closes at {value[1]}")
    return tuple(value)


Span = tuple[str, str] | None


DAY_DOC = ('`["HH:MM", "HH:MM"]` local opening and closing time (`"24:00"` for midnight), '
           'or `closed`; a day left out is closed.')


class OpeningHours(Strict):
    mon: Span = Field(None, description=DAY_DOC)
    tue: Span = Field(None, description=DAY_DOC)
    wed: Span = Field(None, description=DAY_DOC)
    thu: Span = Field(None, description=DAY_DOC)
    fri: Span = Field(None, description=DAY_DOC)
    sat: Span = Field(None, description=DAY_DOC)
    sun: Span = Field(None, description=DAY_DOC)

    @field_validator(*WEEKDAYS, mode="before")
    @classmethod
    def _spans(cls, value: Any) -> Any:
        return _opening_span(value)


class ComplaintPolicy(Strict):
    stage_1: Annotated[int, Field(gt=0, strict=True)] = Field(
        10, description="Working days to respond to a stage 1 complaint.")
    stage_2: Annotated[int, Field(gt=0, strict=True)] = Field(
        20, description="Working days to respond to a stage 2 complaint.")


# A family group's code (PartnerFile.family): lowercase, like the partner codes.
FAMILY_PATTERN = r"^[a-z][a-z0-9_]*$"


class PartnerFile(Strict):
    """A partner's YAML file."""

    code: str = Field(pattern=CODE_PATTERN, description="Required. The partner's code: the "
                                                        "file's stem and its landing folder.")
    name: str | None = Field(None, description="Display name (default: the code).")
    kind: Literal["county", "district", "unitary", "other"] = Field(
        "other", description="`county`, `district`, `unitary` or `other`.")
    family: str | None = Field(
        None, pattern=FAMILY_PATTERN,
        description="The partner's family group of similar councils for benchmarking "
                    "(`marts.kpi_benchmarks`: median and quartiles within the family), e.g. "
                    "`district`, `county`, `unitary`, or a group of the hub's own such as "
                    "`rural_district`: lowercase letters, digits and `_`. Default: `kind`.")
    is_fictional: bool = Field(False, description="Invented sample partner.")
    timezone: str = Field("Europe/London", description="IANA time zone of local timestamps "
                                                       "and opening hours.")
    opening_hours: OpeningHours = Field(default_factory=OpeningHours,
                                        description="Per weekday `mon`..`sun`.")
    expects_deliveries: bool = Field(
        True, description="`false` for a closed historic data set: freshness checks and "
                          "`hub status` do not chase it.")
    sources: Sources = Field(description="Required. `telephony`, `crm`, `voicemail`, "
                                         "`reception` and/or `web`.")
    complaint_policy: ComplaintPolicy = Field(default_factory=ComplaintPolicy,
                                              description="Complaint response policy.")
    generator: dict[str, Any] = Field(default_factory=dict,
                                      description="Sample generator parameters only "
                                                  "(fictional partners).")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London)") \
                from None
        return value


# --- messages ---------------------------------------------------------------------------------

def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (through Optional, unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def keys_at(path: tuple[str, ...]) -> tuple[str, ...]:
    """The keys the schema allows in the mapping at `path` (() if it is not a mapping of
    known keys)."""
    model: type[BaseModel] | None = PartnerFile
    for part in path:
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return ()
        model = _model_in(field.annotation)
    return tuple(model.model_fields) if model is not None else ()


def _key_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """pydantic's error location as YAML keys: a column's union tag (header/expr) dropped."""
    parts = [str(p) for p in loc]
    if len(parts) > 4 and parts[0] == "sources" and parts[2] == "columns" \
            and parts[4] in ("header", "expr"):
        del parts[4]
    return tuple(parts)


def error_lines(exc: ValidationError) -> list[str]:
    """One line per problem: the YAML key, then what is wrong (never the file's content
    beyond the key's own name)."""
    lines = []
    for error in exc.errors():
        path = _key_path(error["loc"])
        key = ".".join(path) or "(top level)"
        if error["type"] == "extra_forbidden":
            known = keys_at(path[:-1])
            near = difflib.get_close_matches(path[-1], known, n=1, cutoff=0.6)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            lines.append(f"{key}: unknown key{hint} (known here: {', '.join(known)})")
        elif error["type"] == "missing":
            lines.append(f"{key}: required key missing")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{key}: {message}")
    return lines
