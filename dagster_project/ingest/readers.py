"""Make a landing file readable by DuckDB's CSV reader.

DuckDB reads UTF-8 and Latin-1 CSV itself. Windows-1252 (with or without a BOM) is transcoded
to UTF-8 in chunks, and Excel workbooks are read with calamine and written out as CSV through
DuckDB, because DuckDB here has neither the encodings nor the excel extension.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
from pathlib import Path

import duckdb

from dagster_project.partners import SourceConfig

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
            raise FileRejected(f"workbook has no sheet '{name}' (sheets: {book.sheet_names})")
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
    con = duckdb.connect()
    try:
        con.register("sheet", table)
        aliases = ", ".join(f'c{i} as "{h.replace(chr(34), chr(34) * 2)}"'
                            for i, h in enumerate(header))
        con.execute(f"copy (select {aliases} from sheet) to '{dst}' (header, delimiter ',')")
    finally:
        con.close()


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
