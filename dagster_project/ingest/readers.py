"""Make a landing file readable by DuckDB's CSV reader.

DuckDB reads UTF-8 and Latin-1 CSV itself. Windows-1252 (with or without a BOM) is transcoded
to UTF-8 in chunks, and Excel workbooks are read with calamine and written out as CSV through
DuckDB, because DuckDB here has neither the encodings nor the excel extension. JSON lines files
are parsed line by line: good objects are flattened (dotted keys) into a CSV that carries each
line's number in the original file; bad lines are returned for quarantine, never dropped.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project import duck
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


def _transcode_cp1252(src: Path, dst: Path) -> None:
    with src.open("rb") as fin, dst.open("wb") as fout:
        head = fin.read(len(UTF8_BOM))
        if head != UTF8_BOM:
            fin.seek(0)
        decoder = codecs.getincrementaldecoder("cp1252")(errors="strict")
        while block := fin.read(CHUNK):
            try:
                fout.write(decoder.decode(block).encode("utf-8"))
            except UnicodeDecodeError as exc:
                raise FileRejected(f"not valid Windows-1252 text: {exc}") from exc
        fout.write(decoder.decode(b"", final=True).encode("utf-8"))


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
    import pyarrow as pa
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
    header = [str(h) for h in rows[0]]
    columns = list(zip(*rows[1:], strict=True)) if len(rows) > 1 else [[] for _ in header]
    table = pa.table({f"c{i}": pa.array([_cell_text(v) for v in col], pa.string())
                      for i, col in enumerate(columns)})
    con = duck.connect()
    try:
        con.register("sheet", table)
        aliases = ", ".join(f'c{i} as "{h.replace(chr(34), chr(34) * 2)}"'
                            for i, h in enumerate(header))
        con.execute(f"copy (select {aliases} from sheet) to '{dst}' (header, delimiter ',')")
    finally:
        con.close()


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
    with its line number and the reason; row numbers are the lines of the original file."""
    py_encoding = "utf-8-sig" if cfg.encoding == "utf-8" else cfg.encoding
    rows: list[tuple[int, dict[str, str]]] = []
    rejected: list[tuple[int, str]] = []
    seen: dict[str, None] = {h: None for h in cfg.source_headers}
    in_data: set[str] = set()
    with src.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and py_encoding == "utf-8-sig" and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            try:
                text = raw.decode("utf-8" if py_encoding == "utf-8-sig" else py_encoding)
            except UnicodeDecodeError as exc:
                rejected.append((number, f"not valid {cfg.encoding} text ({exc.reason} at "
                                         f"byte {exc.start})"))
                continue
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
    return Readable(dst, "utf-8", ",", ROW_COLUMN, rejected)


def readable_file(path: Path, cfg: SourceConfig, workdir: Path) -> Readable:
    """Make a landing file of any configured type readable by DuckDB's CSV reader."""
    if path.stat().st_size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    if cfg.file_type == "jsonl":
        return _jsonl_to_csv(path, workdir / (path.stem + ".jsonl.csv"), cfg)
    return Readable(*readable_csv(path, cfg, workdir))


def readable_csv(path: Path, cfg: SourceConfig, workdir: Path) -> tuple[Path, str, str]:
    """Return (csv path, DuckDB encoding, delimiter) for a landing file."""
    if path.stat().st_size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    if cfg.file_type == "xlsx":
        out = workdir / (path.stem + ".csv")
        _xlsx_to_csv(path, out, cfg.sheet)
        return out, "utf-8", ","
    if cfg.encoding == "cp1252":
        out = workdir / (path.stem + ".utf8.csv")
        _transcode_cp1252(path, out)
        return out, "utf-8", cfg.delimiter
    encoding = "latin-1" if cfg.encoding == "latin-1" else "utf-8"
    return path, encoding, cfg.delimiter


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
