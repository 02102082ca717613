"""Write simulated calls in exactly a partner's declared telephony format.

CSV: delimiter, encoding (a `cp1252` partner gets Windows-1252 bytes behind a UTF-8 byte-order
mark, like the export it imitates), header names from the YAML `columns` mapping, timestamps
with `timestamp_format` in local time or UTC, durations as seconds or `H:MM:SS`.
XLSX: openpyxl write-only workbook, start time as a datetime cell, durations as integer cells,
other fields as text; zip entry times and document properties are fixed so the bytes are
reproducible.

Columns are formatted vectorised (lookup tables indexed with numpy), a file's few dirty rows
(`dirt`) are applied to the formatted values, and files are written whole, atomically
(temporary name, then `os.replace`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import fnmatch
import io
import os
import re
import zipfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from .dirt import DirtyRow, apply_dirt
from .local_time import DAY, EPOCH, local_to_utc
from .simulation import MISSING, CallTable
from .spec import DURATION_FIELDS, OUTCOMES, PartnerSpec, TelephonyFormat

UTF8_BOM = b"\xef\xbb\xbf"
TIME_DIRECTIVES = set("HIMSpfX")
DATE_DIRECTIVES = set("YymdbBaAjeuwUWGVgx")
FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------- file names


def _pattern_template(pattern: str) -> str:
    """Turn a `period_pattern` regex into a str.format template (`{year}`, `{month}`, ...)."""
    template = pattern.removeprefix("^").removesuffix("$")
    template = re.sub(r"\(\?P<(\w+)>(?:[^()\\]|\\.)*\)", r"{\1}", template)
    if re.search(r"(?<!\\)[\[\]()*+?|^$]", template):
        raise ValueError(f"cannot build a file name from period_pattern {pattern!r}")
    return re.sub(r"\\(.)", r"\1", template)


def period_file_name(
    telephony: TelephonyFormat, code: str, year: int, month: int, day: int | None = None
) -> str:
    """File name for a period, built from (and checked against) `period_pattern` and `files`."""
    if telephony.period_pattern is None:
        ext = "xlsx" if telephony.file_type == "xlsx" else "csv"
        stamp = f"{year:04d}{month:02d}" + (f"{day:02d}" if day else "")
        name = f"{code}_telephony_{stamp}.{ext}"
    else:
        values = {"year": f"{year:04d}", "month": f"{month:02d}", "day": f"{day or 1:02d}"}
        name = _pattern_template(telephony.period_pattern).format(**values)
        match = re.search(telephony.period_pattern, name)
        if not match or int(match.group("year")) != year or int(match.group("month")) != month:
            raise ValueError(f"file name {name!r} does not round-trip period_pattern")
        if day is not None and int(match.groupdict().get("day") or 0) != day:
            raise ValueError(f"period_pattern {telephony.period_pattern!r} has no day group")
    if not fnmatch.fnmatch(name, telephony.files_glob):
        raise ValueError(f"file name {name!r} does not match files glob {telephony.files_glob!r}")
    return name


# ---------------------------------------------------------------- value formatting


TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)
TIME_UNITS = {"H": (3600, 24), "M": (60, 60), "S": (1, 60)}  # directive: (seconds, modulo)


@lru_cache(maxsize=16)
def _time_of_day_table(time_format: str) -> np.ndarray:
    """The text of every second of the day: vectorised for %H, %M, %S and literals (every
    sample layout), strftime of each second for any other directive."""
    seconds = np.arange(DAY)
    out = np.full(DAY, "", dtype=object)
    for token in re.split(r"(%.)", time_format):
        if token.startswith("%") and token[1:] in TIME_UNITS:
            unit, modulo = TIME_UNITS[token[1:]]
            out = out + TWO_DIGITS[(seconds // unit) % modulo]
        elif token.startswith("%") and token != "%%":
            base = dt.datetime(2000, 1, 1)
            return np.array(
                [(base + dt.timedelta(seconds=s)).strftime(time_format) for s in range(DAY)],
                dtype=object,
            )
        elif token:
            out = out + ("%" if token == "%%" else token)
    return out


def _split_format(fmt: str) -> tuple[str, str] | None:
    """(date part, time part) when all date directives precede all time directives."""
    directives = [(m.start(), m.group(1)) for m in re.finditer(r"%(.)", fmt) if m.group(1) != "%"]
    first_time = next((pos for pos, d in directives if d in TIME_DIRECTIVES), len(fmt))
    if any(d in DATE_DIRECTIVES for pos, d in directives if pos >= first_time):
        return None
    if any(d not in DATE_DIRECTIVES | TIME_DIRECTIVES for _, d in directives):
        return None
    return fmt[:first_time], fmt[first_time:]


def format_timestamps(seconds: np.ndarray, fmt: str) -> np.ndarray:
    """strftime of naive epoch seconds, vectorised via per-day and per-second tables."""
    if len(seconds) == 0:
        return np.array([], dtype=object)
    parts = _split_format(fmt)
    if parts is None:
        return np.array(
            [(EPOCH + dt.timedelta(seconds=int(s))).strftime(fmt) for s in seconds.tolist()],
            dtype=object,
        )
    date_fmt, time_fmt = parts
    days = seconds // DAY
    first = int(days.min())
    epoch_date = EPOCH.date()
    date_table = np.array(
        [
            (epoch_date + dt.timedelta(days=d)).strftime(date_fmt) if date_fmt else ""
            for d in range(first, int(days.max()) + 1)
        ],
        dtype=object,
    )
    return date_table[days - first] + _time_of_day_table(time_fmt)[seconds - days * DAY]


@lru_cache(maxsize=8)
def _duration_table(style: str, size: int) -> np.ndarray:
    if style == "hms":
        values = [f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(size)]
    else:
        values = [str(s) for s in range(size)]
    return np.array([*values, ""], dtype=object)  # last entry: MISSING


def format_durations(values: np.ndarray, style: str) -> np.ndarray:
    if len(values) == 0:
        return np.array([], dtype=object)
    size = max(4096, 1 << int(values.max() + 1).bit_length())
    table = _duration_table(style, size)
    return table[np.where(values == MISSING, size, values)]


@lru_cache(maxsize=64)
def _sequence_table(size: int) -> np.ndarray:
    return np.array([f"{i:05d}" for i in range(size)], dtype=object)


def call_ids(code: str, local_seconds: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """`<CODE>-<yyyymmdd>-<nnnnn>`: local arrival date and 1-based order within the day."""
    if len(local_seconds) == 0:
        return np.array([], dtype=object)
    prefix = code[:3].upper()
    days = local_seconds // DAY
    first = int(days.min())
    epoch_date = EPOCH.date()
    date_table = np.array(
        [
            f"{prefix}-{(epoch_date + dt.timedelta(days=d)):%Y%m%d}-"
            for d in range(first, int(days.max()) + 1)
        ],
        dtype=object,
    )
    size = 1 << int(sequence.max() + 2).bit_length()
    return date_table[days - first] + _sequence_table(max(size, 1024))[sequence + 1]


def daily_sequence(local_seconds: np.ndarray) -> np.ndarray:
    """0-based position of each call within its local day (calls sorted by time)."""
    days = local_seconds // DAY
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(days)]))
    return np.arange(len(days)) - run_start


def _file_timestamps(calls: CallTable, telephony: TelephonyFormat, zone: ZoneInfo) -> np.ndarray:
    if telephony.timestamp_zone == "utc":
        return local_to_utc(calls.local_seconds, zone)
    return calls.local_seconds


def format_column(
    spec: PartnerSpec, field: str, calls: CallTable, sequence: np.ndarray
) -> np.ndarray:
    """One canonical field of `calls` as text, exactly as the partner's files spell it."""
    telephony = spec.telephony
    assert telephony is not None
    if field == "call_id":
        return call_ids(spec.code, calls.local_seconds, sequence)
    if field == "started_at":
        stamps = _file_timestamps(calls, telephony, ZoneInfo(spec.timezone))
        return format_timestamps(stamps, telephony.timestamp_format)
    if field == "queue":
        return np.array(calls.queue_names, dtype=object)[calls.queue]
    if field == "outcome":
        codes = np.array([telephony.code_for(o) or "" for o in OUTCOMES], dtype=object)
        return codes[calls.outcome]
    if field in DURATION_FIELDS:
        return format_durations(getattr(calls, field), telephony.duration_formats[field])
    raise ValueError(f"{spec.code}: cannot generate column {field!r}")


def csv_columns(
    spec: PartnerSpec, calls: CallTable, sequence: np.ndarray, dirt: tuple[DirtyRow, ...] = ()
) -> list[list]:
    """Formatted text columns in the file's column order, dirty rows applied."""
    assert spec.telephony is not None
    columns = [
        format_column(spec, field, calls, sequence).tolist() for field, _ in spec.telephony.columns
    ]
    return apply_dirt(spec.telephony, columns, calls, dirt, xlsx=False)


# ---------------------------------------------------------------- file writers


@contextlib.contextmanager
def _renamed_into_place(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` (hidden: the loader skips it) for the block to write;
    renamed to `path` when the block ends, removed when it fails (Ctrl-C, SIGTERM, a full
    disk), so no half-written file is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _replace_atomically(path: Path, data: bytes) -> None:
    with _renamed_into_place(path) as temporary:
        temporary.write_bytes(data)


def write_csv(path: Path, telephony: TelephonyFormat, columns: list[list]) -> None:
    is_cp1252 = codecs.lookup(telephony.encoding).name == "cp1252"
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=telephony.delimiter, lineterminator="\r\n" if is_cp1252 else "\n"
    )
    writer.writerow([header for _, header in telephony.columns])
    writer.writerows(zip(*columns, strict=True))
    data = buffer.getvalue().encode(telephony.encoding)
    _replace_atomically(path, (UTF8_BOM if is_cp1252 else b"") + data)


class _FixedTimeZipFile(zipfile.ZipFile):
    """ZipFile whose entries all carry one fixed timestamp (reproducible archives)."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=FIXED_ZIP_TIME)
            info.compress_type = self.compression
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        with open(filename, "rb") as handle:
            data = handle.read()
        self.writestr(arcname or os.path.basename(filename), data, compress_type, compresslevel)


def write_xlsx(
    path: Path,
    spec: PartnerSpec,
    calls: CallTable,
    sequence: np.ndarray,
    saved_at: dt.datetime,
    dirt: tuple[DirtyRow, ...] = (),
) -> None:
    """openpyxl write-only workbook: datetime start cells, integer durations, text otherwise
    (a dirty row's unusable start time stays a text cell)."""
    telephony = spec.telephony
    assert telephony is not None
    columns: list[list] = []
    for field, _ in telephony.columns:
        if field == "started_at":
            stamps = _file_timestamps(calls, telephony, ZoneInfo(spec.timezone))
            columns.append(stamps.astype("datetime64[s]").astype(object).tolist())
        elif field in DURATION_FIELDS:
            values = getattr(calls, field).astype(object)
            values[values == MISSING] = None
            columns.append(values.tolist())
        else:
            columns.append(format_column(spec, field, calls, sequence).tolist())
    columns = apply_dirt(telephony, columns, calls, dirt, xlsx=True)

    write_workbook(path, telephony.sheet, [header for _, header in telephony.columns],
                   list(zip(*columns, strict=True)), spec.name, saved_at)


def write_workbook(path: Path, sheet_name: str | None, header: list[str], rows: list,
                   creator: str, saved_at: dt.datetime) -> None:
    """A one-sheet openpyxl write-only workbook, the same bytes for the same rows (fixed
    document times and zip entry times), written under a temporary name and renamed."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)
    workbook.properties.creator = creator
    workbook.properties.created = saved_at
    workbook.properties.modified = saved_at
    sheet = workbook.create_sheet(sheet_name or "Sheet1")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    with _renamed_into_place(path) as temporary:
        archive = _FixedTimeZipFile(temporary, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        ExcelWriter(workbook, archive).save()
