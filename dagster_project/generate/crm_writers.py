"""Write a partner's contacts in exactly its declared CRM format (docs/crm.md).

Fields are formatted vectorised (lookup tables indexed with numpy), with the partner's codes,
service names and timestamp layout (local or UTC); personal fields come from the population,
with the KPI dirt's spelling variants and invalid values. Files are monthly (local month of the
created time), named from `period_pattern`. CSV follows the telephony writer (a `cp1252` file
gets a UTF-8 byte-order mark); JSON lines nest dotted key paths (`customer.name`) into objects,
empty values as null, the satisfaction score as a number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from .crm import ENQUIRY_TYPES, NONE, ContactTable
from .crm_dirt import INVALID_PHONES, INVALID_POSTCODES, apply_quarantine_dirt
from .crm_spec import AVOIDABLE, CHANNELS, FEEDBACK, CrmFormat, CrmPartner
from .customers import Population, text
from .dirt import DirtyRow
from .local_time import local_to_utc
from .writers import (
    _replace_atomically,
    format_timestamps,
    period_file_name,
    write_csv,
)


def _timestamps(seconds: np.ndarray, fmt: CrmFormat, zone: ZoneInfo) -> np.ndarray:
    out = np.full(seconds.size, None, dtype=object)
    given = seconds != NONE
    if given.any():
        values = seconds[given]
        if fmt.timestamp_zone == "utc":
            values = local_to_utc(values, zone)
        out[given] = format_timestamps(values, fmt.timestamp_format)
    return out


def _lookup(values: list[str | None], index: np.ndarray) -> np.ndarray:
    return np.array(values, dtype=object)[index]


def _names(table: ContactTable, population: Population, first_row: int = 0) -> np.ndarray:
    known = table.person != NONE
    person = np.where(known, table.person, 0)
    forename, surname = population.forename[person], population.surname[person]
    names = np.where(known, forename + " " + surname, None)
    for row in np.flatnonzero(table.name_variant).tolist():
        f, s, v = forename[row], surname[row], int(table.name_variant[row])
        at = first_row + row  # the forms alternate along the partner's whole table
        if v == 1:
            names[row] = f"{f} {s}".upper() if at % 2 else f"{f} {s}".lower()
        elif v == 2:
            names[row] = f" {f}  {s} " if at % 2 else f"{f}   {s}"
        elif v == 3:
            names[row] = f"{s.upper()}, {f}"
        elif v == 4:
            names[row] = f"{population.title[person[row]]} {f} {s}"
        else:  # a typo: two letters of the forename swapped, or the last one doubled
            i = 1 + at % max(len(f) - 2, 1)
            typo = f[:i] + f[i + 1] + f[i] + f[i + 2 :] if len(f) > 3 else f + f[-1]
            names[row] = f"{typo if typo != f else f + f[-1]} {s}"
    return names


def _personal(table: ContactTable, population: Population, field: str) -> np.ndarray:
    known = table.person != NONE
    person = np.where(known, table.person, 0)
    if field == "phone":
        out = np.where(known & table.gives_phone, text(population.phone[person]), None)
        bad = table.bad_phone > 0
        out[bad] = _lookup(list(INVALID_PHONES), table.bad_phone[bad] - 1)
        return out
    if field == "email":
        values = text(population.email[person])
        return np.where(known & table.gives_email & (values != ""), values, None)
    if field == "postcode":
        out = np.where(known & table.gives_postcode, text(population.postcode[person]), None)
        bad = table.bad_postcode > 0
        out[bad] = _lookup(list(INVALID_POSTCODES), table.bad_postcode[bad] - 1)
        return out
    values = text(population.uprn[person])
    return np.where(known & table.gives_uprn & (values != ""), values, None)


def format_contacts(
    partner: CrmPartner,
    table: ContactTable,
    service_names: list[str],
    population: Population,
    zone: ZoneInfo,
    first_row: int = 0,
) -> dict[str, np.ndarray]:
    """Every mapped canonical field as text (None = empty), in the file's column order.

    `first_row`: where `table` starts in the partner's whole table, when it is a month of it
    (enquiry ids number the whole table; name variants alternate along it)."""
    fmt, settings = partner.crm, partner.settings
    codes = fmt.codes
    flag = codes["flag"]
    flags = [flag.get("false"), flag.get("true")]
    out: dict[str, np.ndarray] = {}
    for field, _ in fmt.columns:
        if field == "enquiry_id":
            width, prefix = settings.id_digits, settings.id_prefix
            first, last = first_row + 1, first_row + len(table) + 1
            numbers = np.char.zfill(np.arange(first, last).astype(str), width)
            value = prefix + numbers.astype(object)
        elif field == "created_at":
            value = _timestamps(table.created, fmt, zone)
        elif field == "resolved_at":
            value = _timestamps(table.resolved, fmt, zone)
        elif field == "responded_at":
            value = _timestamps(table.responded, fmt, zone)
        elif field == "channel":
            value = _lookup([codes["channel"][c] for c in CHANNELS], table.channel)
        elif field == "service":
            value = _lookup(service_names, table.service)
        elif field == "enquiry_type":
            value = _lookup(list(ENQUIRY_TYPES), table.enquiry_type)
        elif field == "first_contact_resolved":
            value = _lookup(flags, table.fcr.astype(np.int8))
        elif field == "back_office":
            value = _lookup(flags, table.back_office.astype(np.int8))
        elif field == "avoidable_reason":
            reason = codes.get("avoidable_reason", {})
            value = _lookup([reason.get(a) for a in AVOIDABLE], table.avoidable)
        elif field == "satisfaction":
            value = _lookup([None, "1", "2", "3", "4", "5"], table.satisfaction)
        elif field == "feedback_type":
            kinds = codes.get("feedback_type", {})
            value = _lookup([*(kinds.get(k) for k in FEEDBACK), None], table.feedback)
        elif field == "feedback_stage":
            stages = codes.get("feedback_stage", {})
            stage = np.where(table.feedback == 0, table.stage, 0)
            value = _lookup([None, stages.get("1", "1"), stages.get("2", "2")], stage)
        elif field == "customer_name":
            value = _names(table, population, first_row)
        else:
            value = _personal(table, population, field)
        out[field] = value
    return out


@dataclass(frozen=True)
class CrmFileJob:
    """One monthly CRM file, its text already formatted (picklable for writer processes)."""

    path: Path
    fmt: CrmFormat
    columns: dict[str, list]  # canonical field -> values, file column order
    malformed: list[bool]

    @property
    def rows(self) -> int:
        return len(self.malformed)

    def write(self) -> int:
        if self.fmt.file_type == "jsonl":
            write_jsonl(self.path, self.fmt, self.columns, self.malformed)
        else:
            write_csv(self.path, self.fmt, list(self.columns.values()))  # type: ignore[arg-type]
        return self.rows


def _json_pieces(fmt: CrmFormat) -> list[tuple[str, str | None]]:
    """The line as (literal text, field or None) pieces: dotted paths nest objects."""
    tree: dict = {}
    for field, key in fmt.columns:
        node = tree
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = field
    pieces: list[tuple[str, str | None]] = []

    def walk(node: dict) -> None:
        pieces.append(("{", None))
        for i, (key, value) in enumerate(node.items()):
            pieces.append(("," * (i > 0) + json.dumps(key) + ":", None))
            if isinstance(value, dict):
                walk(value)
            else:
                pieces.append(("", value))
        pieces.append(("}", None))

    walk(tree)
    return pieces


NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')


def _json_values(field: str, values: list) -> list[str]:
    """JSON text of a column: strings quoted (escaped by `json` only when a value needs it),
    None as null, the satisfaction score as a number."""
    if field == "satisfaction":
        return [
            "null" if v is None else v if v.isdigit() else json.dumps(v, ensure_ascii=False)
            for v in values
        ]
    if NEEDS_ESCAPE.search("".join(filter(None, values))):
        return ["null" if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    return ["null" if v is None else '"' + v + '"' for v in values]


def write_jsonl(
    path: Path, fmt: CrmFormat, columns: dict[str, list], malformed: list[bool]
) -> None:
    """One JSON object per line (built column-wise); a malformed line is cut in half."""
    parts = [
        repeat(literal) if field is None else _json_values(field, columns[field])
        for literal, field in _json_pieces(fmt)
    ]
    lines = ["".join(row) for row in zip(*parts, strict=False)]  # repeat() is endless
    for i in (i for i, bad in enumerate(malformed) if bad):
        lines[i] = lines[i][: len(lines[i]) // 2]
    text = "".join(line + "\n" for line in lines)
    _replace_atomically(path, text.encode(fmt.encoding))


def file_jobs(
    partner: CrmPartner,
    table: ContactTable,
    service_names: list[str],
    population: Population,
    dirt: tuple[DirtyRow, ...],
    landing_dir: Path,
    month_starts: list[tuple[int, int, int]],  # (year, month, first local second)
    run_end: int,
    zone: ZoneInfo,
) -> Iterator[CrmFileJob]:
    """One job per month (a month without contacts still gets a header-only file), formatted
    when the next one is asked for: the caller holds one month's text at a time (a partner's
    whole table formatted at once held several GB of text at scale 10)."""
    fmt = partner.crm
    folder = landing_dir / partner.code / "crm"
    bounds = [start for _, _, start in month_starts] + [run_end]
    edges = np.searchsorted(table.created, bounds)
    for i, (year, month, _) in enumerate(month_starts):
        lo, hi = int(edges[i]), int(edges[i + 1])
        formatted = format_contacts(
            partner, table.take(slice(lo, hi)), service_names, population, zone, first_row=lo
        )
        columns = {field: values.tolist() for field, values in formatted.items()}
        rows = tuple(
            DirtyRow(d.row - lo, d.kind, d.variant, d.resend_gap) for d in dirt if lo <= d.row < hi
        )
        malformed = apply_quarantine_dirt(
            fmt, columns, table.created[lo:hi], rows, lambda s: _timestamps(s, fmt, zone)
        )
        name = period_file_name(fmt, partner.code, year, month)  # type: ignore[arg-type]
        yield CrmFileJob(folder / name, fmt, columns, malformed)
