"""Every line of a CSV file accounted for (docs/architecture.md, "Line accounting").

DuckDB's reader counts records: a quote opened and never closed makes one "record" of every
line after it, which the reader rejects (or, if a second stray quote closes it, accepts) as one
line, and the lines in it vanish. So the loader counts the file's lines a second way, without
regard to quotes (`count_lines`: one pass of `bytes.count`, fast enough to run on every new
file), and compares: header + rows read + rejected lines + empty lines at the end must equal
the physical lines. When they differ (or a file with quotes has an empty line),
`locate_breaks` (the slow path, only for such files) finds the lines where a quoted field runs
past the end of its line: with `format.multiline_fields` false (the default) each such line is
a stray quote, rejected on its own, and the lines after it are read again; with
`multiline_fields` true a line break inside a closed quoted field is part of its field, and
only a quote still open at the end of the file is a stray one. `blank_lines` writes the copy
the reader reads again: the file with the broken lines emptied (DuckDB skips empty lines but
counts them, so line numbers stay true).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 22


@dataclass(frozen=True)
class LineCount:
    """A file's physical lines, counted without regard to quotes."""

    newline: bytes  # b"\n" (also for \r\n files) or b"\r" (old Mac files)
    lines: int  # physical lines, the last one counted even without a final line break
    trailing_blank: int  # empty lines ("" or a lone "\r") at the end of the file
    has_quote: bool  # a quote character anywhere
    may_have_blank: bool  # two line breaks in a row somewhere (an empty line, or one inside a
    # quoted field); only looked for in a file with quotes, where it matters

    def reconciles(self, read: int) -> bool:
        """Whether `read` lines (header + rows + rejected lines, as the reader saw them) are
        every line of the file. Exact: the file has no empty line but at its end (a file
        without quotes whose empty lines are elsewhere fails the sum; one with quotes is
        looked at for them), and a quoted field spanning lines fails the sum."""
        if self.has_quote and self.may_have_blank:
            return False
        return read + self.trailing_blank == self.lines


def _newline(path: Path) -> bytes:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            if b"\n" in block:
                return b"\n"
            if b"\r" in block:
                return b"\r"
    return b"\n"


def count_lines(path: Path) -> LineCount:
    """Physical lines of a file whatever its quotes hold: one `bytes.count` per block (about
    1 GB/s), a search for a quote (memchr) and, in a file with quotes, for an empty line."""
    newline = _newline(path)
    lines = 0
    has_quote = may_have_blank = False
    tail = b""
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            lines += block.count(newline)
            if not has_quote:
                has_quote = b'"' in block
            if has_quote and not may_have_blank:
                data = tail + block
                may_have_blank = newline + newline in data or b"\n\r\n" in data
            tail = block[-2:]
        size = fh.tell()
        back = min(size, 1 << 16)
        fh.seek(size - back)
        end = fh.read(back)
    if end and not end.endswith(newline):
        lines += 1  # a last line without a line break
    # empty lines at the end: each a line break after a line break (or after "\n\r")
    trailing = 0
    rest = end
    while rest.endswith(newline):
        rest = rest[:-len(newline)]
        if newline == b"\n" and rest.endswith(b"\r"):
            rest = rest[:-1]
        if rest.endswith(newline):
            trailing += 1
        elif not rest and back == size:
            trailing += 1  # the file's first line
    return LineCount(newline, lines, trailing, has_quote, may_have_blank)


# --- the slow path: where quoted fields run past their line ------------------------------------

@dataclass
class Breaks:
    """What `locate_breaks` found, in records (DuckDB's numbering: 1-based, the header is
    record 1, an empty line is a record)."""

    records: int = 0  # records of the file, empty ones included, after emptying `broken`
    broken: list[tuple[int, int, int]] = field(default_factory=list)
    # (record number, byte offset where its line starts, byte offset of its line break)
    quoted_line_breaks: int = 0  # line breaks inside closed quoted fields (multiline_fields)
    blank: list[int] = field(default_factory=list)  # records that are empty lines
    physical: int = 0  # physical lines


def _field_patterns(delimiter: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    d = re.escape(delimiter)
    quoted = rb'"(?:[^"]|"")*"'
    plain = rb'(?:[^"' + d + rb'\r\n][^' + d + rb'\r\n]*)?'
    item = rb"(?:" + quoted + rb"[^" + d + rb"\r\n]*|" + plain + rb")"
    # a line whose quoted fields all close on it
    closed = re.compile(item + rb"(?:" + d + item + rb")*\r?\Z")
    # the rest of a line after the closing quote of a field that began on an earlier line
    rest = re.compile(rb'(?:[^"]|"")*"[^' + d + rb"\r\n]*(?:" + d + item + rb")*\r?\Z")
    return closed, rest


def locate_breaks(path: Path, delimiter: str, newline: bytes, multiline: bool) -> Breaks:
    """Walk the file line by line as DuckDB's reader splits records (a quote opens a field only
    at the start of a field, `""` inside a quoted field is a quote) and find the lines where a
    quoted field is still open at the line break. Reads the whole file into memory: only run
    for a file whose line count did not reconcile."""
    data = path.read_bytes()
    closed, rest = _field_patterns(delimiter.encode("utf-8"))
    out = Breaks()
    starts = [0]
    pos = data.find(newline)
    while pos != -1:
        starts.append(pos + len(newline))
        pos = data.find(newline, pos + len(newline))
    size = len(data)
    if starts[-1] == size:
        starts.pop()  # the file ends with a line break: no line after it
        size -= len(newline)
    out.physical = len(starts)

    def line_end(i: int) -> int:
        return starts[i + 1] - len(newline) if i + 1 < len(starts) else size

    def line(i: int) -> bytes:
        return data[starts[i]:line_end(i)]

    i = 0
    while i < len(starts):
        text = line(i)
        out.records += 1
        record = out.records
        if not text or text == b"\r":
            out.blank.append(record)
            i += 1
            continue
        if b'"' not in text or closed.match(text):
            i += 1
            continue
        # a quoted field is open at this line's end
        j = i + 1
        if multiline:
            # the field closes on the first line with a quote that closes it (the rest of
            # that line well-formed); lines before it are inside the field
            while j < len(starts) and not (b'"' in line(j) and rest.match(line(j))):
                j += 1
            if j < len(starts):  # closed on line j: one record of lines i..j
                out.quoted_line_breaks += j - i
                i = j + 1
                continue
        # a stray quote: the line is rejected on its own, the next line starts a record
        out.broken.append((record, starts[i], line_end(i)))
        i += 1
    return out


def blank_lines(path: Path, dst: Path, broken: list[tuple[int, int, int]]) -> Path:
    """Write `path` to `dst` with the lines of `broken` emptied (a "\\r" before the line break
    is kept, so the file keeps one kind of line break)."""
    data = path.read_bytes()
    with dst.open("wb") as out:
        pos = 0
        for _, start, end in broken:
            out.write(data[pos:start])
            if end > start and data[end - 1:end] == b"\r":
                out.write(b"\r")
            pos = end
        out.write(data[pos:])
    return dst
