"""Make a landing file readable by DuckDB's CSV reader.

DuckDB reads UTF-8 and Latin-1 CSV itself. One encoding rule applies to the whole file
(docs/architecture.md, "Encodings"): a UTF-8 source is checked to be UTF-8 from its first byte
to its last; a file that is not is decoded whole with the source's fallback encoding
(`format.fallback_encoding`, Windows-1252 by default) or rejected with the byte offset of its
first undecodable byte. Windows-1252 (configured or fallback, with or without a BOM) is
transcoded to UTF-8 in chunks, and Excel workbooks are read with calamine and written out as
CSV with Python's csv module, because DuckDB here has neither the encodings nor the excel
extension. JSON lines files are parsed line by line: good objects are flattened (dotted keys)
into a CSV that carries each line's number in the original file; bad lines are returned for
quarantine, never dropped.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.partners import SOURCE_FIELDS, SourceConfig

UTF8_BOM = codecs.BOM_UTF8
CHUNK = 1 << 20


class FileRejected(Exception):
    """The whole file cannot be loaded; the message names the problem."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def first_decode_error(path: Path, codec: str) -> tuple[int, str] | None:
    """(byte offset, reason) of the first byte of the file `codec` cannot decode; None when the
    whole file decodes."""
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(CHUNK)
            pending = len(decoder.getstate()[0])  # bytes of a sequence split between blocks
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start, exc.reason
            if not block:
                return None
            offset += len(block)


def _transcode(src: Path, dst: Path, codec: str) -> None:
    """Write `src`, `codec` text (a UTF-8 BOM skipped), to `dst` as UTF-8."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        head = fin.read(len(UTF8_BOM))
        offset = len(head)
        if head != UTF8_BOM:
            fin.seek(0)
            offset = 0
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        while block := fin.read(CHUNK):
            try:
                fout.write(decoder.decode(block).encode("utf-8"))
            except UnicodeDecodeError as exc:
                raise FileRejected(f"not valid {codec} text ({exc.reason} at byte "
                                   f"{offset + exc.start})") from exc
            offset += len(block)
        fout.write(decoder.decode(b"", final=True).encode("utf-8"))


@dataclass(frozen=True)
class Decoding:
    """How a text file is read: the file DuckDB reads, its DuckDB encoding, and the encoding
    the landing file was decoded with (the configured one or the fallback)."""

    path: Path
    duckdb_encoding: str
    used: str
    fallback: bool = False


def decode_file(path: Path, cfg: SourceConfig, workdir: Path, suffix: str = ".utf8.csv"
                ) -> Decoding:
    """The whole-file encoding rule: decode as configured; when any byte is not valid
    configured text, decode the whole file with `format.fallback_encoding`; when that fails
    too (or there is none), reject the file naming the byte offset. Never decides line by
    line, so the result does not depend on where a bad byte sits."""
    out = workdir / (path.stem + suffix)
    configured = cfg.encoding
    if configured == "latin-1":  # every byte is Latin-1: DuckDB reads it itself
        return Decoding(path, "latin-1", "latin-1")
    if configured == "cp1252":
        try:
            _transcode(path, out, "cp1252")
            return Decoding(out, "utf-8", "cp1252")
        except FileRejected as exc:
            problem = str(exc)
    else:
        error = first_decode_error(path, "utf-8")
        if error is None:
            return Decoding(path, "utf-8", configured)
        problem = f"not valid {configured} text ({error[1]} at byte {error[0]})"
    fallback = cfg.fallback_encoding
    if not fallback or fallback == configured:
        raise FileRejected(f"{problem}; no format.fallback_encoding to try: check "
                           f"format.encoding")
    try:
        _transcode(path, out, fallback)
    except FileRejected as exc:
        raise FileRejected(f"{problem}, nor {exc} (format.fallback_encoding); check "
                           f"format.encoding") from None
    return Decoding(out, "utf-8", fallback, fallback=True)


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        return str(int(value.total_seconds()))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_to_csv(src: Path, dst: Path, sheet: str | None) -> None:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(src))
        name = sheet or book.sheet_names[0]
        if name not in book.sheet_names:
            raise FileRejected(f"workbook has no sheet '{name}' (format.sheet; it has "
                               f"{len(book.sheet_names)} sheet(s), names not shown)")
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except FileRejected:
        raise
    except Exception as exc:  # calamine raises its own error types for damaged workbooks
        raise FileRejected(f"cannot read the workbook: {exc}") from exc
    if not rows:
        raise FileRejected("the sheet is empty")
    # written as the JSON lines' CSV is (csv.writer): an Arrow table of the cells made pyarrow
    # import pandas (docs/benchmarks-journal.md, "pandas' import in every load")
    with dst.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([str(h) for h in rows[0]])
        writer.writerows([_cell_text(v) for v in row] for row in rows[1:])


# The column of a converted JSON lines file that holds each object's line in the original file.
ROW_COLUMN = "_hub_source_row"


@dataclass
class Readable:
    """A landing file made readable by DuckDB's CSV reader."""

    path: Path
    encoding: str
    delimiter: str
    row_column: str | None = None  # column holding the original row number (JSON lines)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    # the encoding the landing file was decoded with (None: a workbook), and whether it was
    # the source's fallback encoding
    decoded_as: str | None = None
    fallback: bool = False
    # the landing file's lines when the reader counted them itself (JSON lines)
    lines: int | None = None


def _flatten(obj: dict, prefix: str, out: dict[str, str]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, name + ".", out)
        elif value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False)
        else:
            out[name] = str(value)


def _jsonl_to_csv(src: Path, dst: Path, cfg: SourceConfig) -> Readable:
    """Each line one JSON object; nested objects become dotted keys, scalars text (null →
    empty). A line that is not a JSON object (blank lines included) is returned as rejected
    with its line number and the reason; row numbers are the lines of the original file. The
    whole file is decoded by one encoding (the configured one or the fallback: `decode_file`'s
    rule), never line by line."""
    decoding = decode_file(src, cfg, dst.parent, suffix=".jsonl.utf8")
    src = decoding.path
    py_encoding = "utf-8-sig" if decoding.duckdb_encoding == "utf-8" else "latin-1"
    number = 0
    rows: list[tuple[int, dict[str, str]]] = []
    rejected: list[tuple[int, str]] = []
    seen: dict[str, None] = {h: None for h in cfg.source_headers}
    in_data: set[str] = set()
    with src.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and py_encoding == "utf-8-sig" and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            text = raw.decode("utf-8" if py_encoding == "utf-8-sig" else py_encoding)
            text = text.rstrip("\r\n")
            if not text.strip():
                rejected.append((number, "malformed JSON: blank line"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                rejected.append((number, f"malformed JSON: {exc.msg} (col {exc.colno})"))
                continue
            except RecursionError:
                rejected.append((number, "malformed JSON: nested too deeply"))
                continue
            if not isinstance(obj, dict):
                rejected.append((number, f"malformed JSON: a {type(obj).__name__} where an "
                                         f"object was expected"))
                continue
            flat: dict[str, str] = {}
            _flatten(obj, "", flat)
            for key in flat:
                if key not in seen:
                    seen[key] = None
            in_data.update(flat)
            rows.append((number, flat))
    lines = number  # every line of the file: a row or a rejected line
    required = [spec.header for f, spec in cfg.columns.items()
                if f in SOURCE_FIELDS[cfg.source]["required"] and spec.header is not None]
    if rows and not in_data & set(required):
        # the keys found are not shown: only the names the configuration expects may be quoted
        raise FileRejected(f"no JSON object has any of the configured key(s) {required}; found "
                           f"{len(in_data)} other key(s), names not shown")
    header = [h for h in seen if h != ROW_COLUMN]
    with dst.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*header, ROW_COLUMN])
        for number, flat in rows:
            writer.writerow([*(flat.get(h, "") for h in header), number])
    return Readable(dst, "utf-8", ",", ROW_COLUMN, rejected, decoding.used, decoding.fallback,
                    lines)


def readable_file(path: Path, cfg: SourceConfig, workdir: Path) -> Readable:
    """Make a landing file of any configured type readable by DuckDB's CSV reader."""
    if path.stat().st_size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    if cfg.file_type == "jsonl":
        return _jsonl_to_csv(path, workdir / (path.stem + ".jsonl.csv"), cfg)
    if cfg.file_type == "xlsx":
        out = workdir / (path.stem + ".csv")
        _xlsx_to_csv(path, out, cfg.sheet)
        return Readable(out, "utf-8", ",")
    decoding = decode_file(path, cfg, workdir)
    return Readable(decoding.path, decoding.duckdb_encoding, cfg.delimiter,
                    decoded_as=decoding.used, fallback=decoding.fallback)


def read_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    """The header row, split with the configured delimiter."""
    py_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        with path.open(encoding=py_encoding, newline="") as fh:
            first = next(csv.reader(fh, delimiter=delimiter), None)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not valid {encoding} text ({exc.reason} at byte {exc.start}); "
                           f"check the configured encoding") from exc
    if not first or all(not h.strip() for h in first):
        raise FileRejected("the file has no header row")
    return [h.strip() for h in first]
