"""Load landing files of one source into the `raw` schema through DuckDB's CSV reader.

Rules (see docs/architecture.md):
- every data line of a file lands in the raw table, or in `raw.rejected_rows` with a reason;
- the same file loaded twice changes nothing (`unchanged`);
- a new file for a delivery key replaces the old one's rows in one transaction (`replaced`);
- a file that cannot be loaded at all is `rejected` with a message naming the file and the
  problem, and whatever was loaded before for that delivery stays as it was;
- a file not yet complete (settle time, `.done` marker: `settle.py`) is `waiting`, and a
  re-delivery with fewer than half the rows of the delivery it replaces is `held` unless
  shrinking is accepted (`hub build --accept-shrink`): in both cases nothing changes;
- a message names the file, the YAML key and the problem, and never quotes the file's content
  beyond the header names the configuration expects.

How (docs/architecture.md, "Loading rules"): the files of whole partners are loaded in one
transaction (a batch: as many partners as fit in MAX_BATCH_BYTES of landing data, a bigger
partner alone). Each file is hashed and looked up in `raw.load_files` (two queries for all the
batch's files, not one per file), made readable (`readers.readable_file`) and its header
checked, one by one; a file that fails there is rejected alone. The files that pass and share
a format (encoding, delimiter, header) and what their insert takes from their configuration
are then read together by ONE `read_csv([...], filename = ...)` statement, and numbered,
quarantined, inserted and recorded set-wise, the file of each row and rejected line telling
them apart. A file whose content or delivery key repeats an earlier new file of the batch
waits for a next round, so it sees that file as loaded, as it would one file at a time. If
DuckDB fails anywhere in the batch, the batch is undone and its files loaded one transaction
per file, so one bad file never costs the others.

CRM files carry personal data (docs/crm.md): the personal fields are replaced by keyed hashes
and flags in the insert statement itself (SQL from `dagster_project.privacy.crm_pseudonyms_sql`),
and the text of a quarantined CRM line is not kept.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from dagster_project import duck
from dagster_project.ingest.discovery import LandingFile, LandingProblem, discover_files
from dagster_project.ingest.lines import LineCount, blank_lines, count_lines, locate_breaks
from dagster_project.ingest.raw_tables import (
    derived_columns,
    ensure_raw_schema,
    raw_table,
    source_fields,
)
from dagster_project.ingest.readers import (
    FileRejected,
    Readable,
    read_header,
    readable_file,
    sha256_of,
)
from dagster_project.ingest.settle import settle_seconds, waiting_reason
from dagster_project.partners import SOURCE_FIELDS, PartnerConfig, SourceConfig
from dagster_project.source_models import SOURCE_MODELS
from dagster_project.stop_request import raise_if_interrupt

COMMON_DELIMITERS = (",", ";", "|", "\t")
# Files read by one statement hold at most this many bytes of landing data (at least one file),
# so the temp table of one read stays small whatever a partner has delivered.
MAX_READ_BYTES = 64 * 1024**2
# One transaction loads the files of whole partners, as many as fit in this many bytes of
# landing data (a bigger partner alone): a month of 400 partners is then some twenty batches,
# not 400 of a few statements each (docs/architecture.md, "Loading rules").
MAX_BATCH_BYTES = MAX_READ_BYTES
# `hub build --accept-shrink` sets it: a re-delivery with fewer than half the rows of the
# delivery it replaces is applied instead of held.
ACCEPT_SHRINK_VAR = "HUB_ACCEPT_SHRINK"
REHASH_VAR = "HUB_REHASH_FILES"  # hash every landing file, trusting no stored stamp
_T = TypeVar("_T")


@dataclass
class FileResult:
    rel_path: str
    partner_code: str | None
    status: str  # loaded | replaced | unchanged | rejected | withdrawn | waiting | held | ignored
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""
    period_month: dt.date | None = None


@dataclass
class LoadReport:
    load_id: str
    source: str
    files: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "rejected"]

    @property
    def held(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "held"]

    def summary(self) -> str:
        return (f"{self.source}: {self.count('loaded')} loaded, {self.count('replaced')} replaced, "
                f"{self.count('unchanged')} unchanged, {self.count('rejected')} rejected, "
                f"{self.count('withdrawn')} withdrawn, {self.count('waiting')} waiting, "
                f"{self.count('held')} held files; "
                f"{self.rows_loaded:,} rows loaded, {self.rows_rejected:,} malformed lines "
                f"quarantined")


def _in_scope(f: LandingFile, scope: set[tuple[str, dt.date]] | None) -> bool:
    if scope is None:
        return True
    if f.period_month is None:
        return any(p == f.partner_code for p, _ in scope)
    return (f.partner_code, f.period_month) in scope


def _delimiter_hint(header: list[str], cfg: SourceConfig) -> str:
    joined = cfg.delimiter.join(header)
    for d in COMMON_DELIMITERS:
        if d != cfg.delimiter and len(joined.split(d)) > 1 and len(header) == 1:
            return (f"; the header looks '{d}'-delimited but the configuration says "
                    f"'{cfg.delimiter}' (wrong delimiter?)")
    return ""


def _check_header(header: list[str], cfg: SourceConfig) -> None:
    missing = [h for h in cfg.source_headers if h not in header]
    if missing:
        # Never echo the first line beyond the configured names: a file without its header row
        # (or not a partner file at all) has data there, and the message is printed and stored
        # in raw.load_events.
        found = [h for h in header if h in cfg.source_headers]
        raise FileRejected(f"header lacks configured column(s) {missing}; found {len(header)} "
                           f"column(s), of which configured: {found} (other names are not "
                           f"shown: the first line may be data){_delimiter_hint(header, cfg)}")


_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def _scrubbed(message: str, allowed: Iterable[str]) -> str:
    """A DuckDB message with every quoted text that is not an expected header name replaced by
    `"…"`: DuckDB quotes values, lines and names from the file in its errors."""
    names = set(allowed)

    def keep(match: re.Match) -> str:
        text = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if text in names else '"…"'

    return _QUOTED.sub(keep, message)


def _bind_expressions(header: list[str], cfg: SourceConfig) -> None:
    """Every `{expr: ...}` column must bind against the file's header before anything loads: a
    misspelt header inside an expression is reported as the YAML key that names it. DuckDB's
    message is cut before its list of candidate columns (the header may be personal data)."""
    exprs = [(name, spec) for name, spec in cfg.columns.items() if spec.expr is not None]
    if not exprs:
        return
    columns = ", ".join('cast(null as varchar) as "' + h.replace('"', '""') + '"'
                        for h in header) or "1 as _"
    con = duckdb.connect()
    try:
        for name, spec in exprs:
            try:
                con.execute(f"select {spec.sql()} from (select {columns}) limit 0")
            except duckdb.Error as exc:
                reason = str(exc).splitlines()[0].split("Candidate bindings")[0].strip()
                raise FileRejected(f"sources.{cfg.source}.columns.{name}: its expr does not "
                                   f"bind against the file's header: {reason}") from None
    finally:
        con.close()


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"



def _values(rows: list[list]) -> tuple[str, list]:
    """`(?, ?), (?, ?)` for a multi-row VALUES list, and its parameters."""
    marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    return ", ".join([marks] * len(rows)), [value for row in rows for value in row]


@dataclass(frozen=True)
class _New:
    """A landing file of the batch: its place in it, configuration and content hash."""

    index: int
    f: LandingFile
    cfg: SourceConfig
    file_hash: str


@dataclass(frozen=True)
class _Ready:
    """A new delivery made readable with its header checked, waiting for its group's read."""

    new: _New
    readable: Readable
    header: tuple[str, ...]
    previous_rows: int | None  # rows_read of the delivery it replaces; None when there is none
    file_bytes: int
    lines: LineCount | None = None  # the readable file's lines, counted apart from the reader

    @property
    def name(self) -> str:
        """The file as DuckDB's reader names it (`filename`, rejects_scan's `file_path`)."""
        return str(self.readable.path)

    @property
    def read_key(self) -> tuple:
        """Files with the same key can be read by one `read_csv` statement."""
        r = self.readable
        return r.encoding, r.delimiter, self.header, r.row_column


@dataclass(frozen=True)
class _Lines:
    """A file's lines reconciled with what the reader made of them (docs/architecture.md,
    "Line accounting"): rows read + rejected lines + line breaks inside quoted fields =
    `file_lines`, the data lines of the file (header and empty lines not counted)."""

    file_lines: int
    quoted_line_breaks: int = 0
    interior_blank: tuple[int, ...] = ()  # empty lines before the last row (record numbers)
    broken: int = 0  # lines with an unterminated quote, rejected on their own
    first_broken: int | None = None  # the first of them, as a data row number
    problem: str | None = None  # the file cannot be accounted for: rejected with this


@dataclass(frozen=True)
class _Known:
    """What `raw.load_files` holds for the files of a round."""

    current: dict[tuple[str, str], tuple[str, int]]  # (partner, key) -> (hash, rows_read)
    by_hash: dict[str, list[tuple[str, str, str, str]]]  # hash -> (partner, source, key, file)

    def twin(self, new: _New, source: str) -> str | None:
        """The file already loaded with the same content under another delivery, if any."""
        own = (new.f.partner_code, source, new.f.delivery_key)
        return next((rel for *other, rel in self.by_hash.get(new.file_hash, ())
                     if tuple(other) != own), None)


@dataclass
class _Round:
    """What one round decided: results by batch index, and the rows to record."""

    results: dict[int, FileResult]
    events: list[tuple[int, list]] = field(default_factory=list)  # (batch index, event row)
    load_files: list[list] = field(default_factory=list)


class _Loader:
    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, load_id: str,
                 landing_dir: Path, workdir: Path, key: str | None = None,
                 accept_shrink: bool = False, rehash: bool = False) -> None:
        self.con = con
        self.accept_shrink = accept_shrink
        self.source = source
        self.load_id = load_id
        self.landing_dir = landing_dir
        self.workdir = workdir
        self.table = raw_table(source)
        self.fields = source_fields(source)
        self.derived = tuple(c for c, _ in derived_columns(source))
        self.personal = SOURCE_FIELDS[source].get("personal", ())
        self.free_text = SOURCE_FIELDS[source].get("free_text", ())
        if self.personal and not key:
            raise ValueError(f"loading {source} needs the pseudonymisation key")
        # the pseudonymisation's functions are registered on the connection only by a load
        # that reads a file (`register_udfs_if_reading`): one that finds nothing new never
        # imports pyarrow for them
        self.key = key
        self.udfs_registered = False
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        # raw.load_files as it was before this load wrote to it: read once for every partner
        # (two lookups per partner were seconds at national scale), dropped at the first write
        self.untouched: _Known | None = None
        self.wrote_load_files = False
        # (partner, delivery key) -> (file, bytes, mtime ns, hash) of the stored deliveries,
        # read once; `rehash` ignores them and hashes every file
        self.stamps: dict[tuple[str, str], tuple[str, int, int, str]] | None = None
        self.rehash = rehash
        # `_insert_key` per configuration object (kept with it, so an id is never reused)
        self._insert_keys: dict[int, tuple[SourceConfig, tuple[str, str]]] = {}

    # --- batches, rounds and files alone ---------------------------------------------------

    def load_batch(self, items: list[tuple[LandingFile, SourceConfig]]) -> list[FileResult]:
        """Load several files (of one or more partners) in one transaction, files of one
        format read together. If DuckDB fails on any of them, undo the batch and load them one
        transaction per file, so one bad file never costs the others."""
        batch = [_New(i, f, cfg, self._stamped_hash(f) or sha256_of(f.path))
                 for i, (f, cfg) in enumerate(items)]
        self.con.execute("begin transaction")
        try:
            results: dict[int, FileResult] = {}
            todo = batch
            while todo:
                todo = self._load_round(todo, results)
            self.con.execute("commit")
            return [results[new.index] for new in batch]
        except duckdb.Error as exc:
            self.con.execute("rollback")
            # an interrupt within the pseudonymisation's functions is DuckDB's error here, not
            # a file DuckDB failed on (stop_request.raise_if_interrupt)
            raise_if_interrupt(exc)
        return [self._load_alone(new) for new in batch]

    def register_udfs_if_reading(self, files: Iterable[LandingFile]) -> None:
        """Register the pseudonymisation's functions on the connection, outside any
        transaction (a rollback would drop them from DuckDB's catalog but not from its Python
        registry, which then refuses them again), unless every file is unchanged by its stamp
        (`_stamped_hash`: same path, size and modification time as the delivery it would
        replace; such a file is never read)."""
        if self.personal and any(self._stamped_hash(f) is None for f in files):
            self._register_udfs()

    def _register_udfs(self) -> None:
        if self.personal and not self.udfs_registered:
            from dagster_project.privacy import register_udfs

            # the clear values a read brings into DuckDB must not outlive their use there
            # (register_udfs first checks that its allocator overwrites freed memory)
            register_udfs(self.con, self.key)
            self.udfs_registered = True

    def _stamped_hash(self, f: LandingFile) -> str | None:
        """The stored hash of the delivery `f` replaces when `f` is the same file as when it
        was read: same path, size and modification time (ns). None otherwise, or when
        `rehash` (`hub build --full-refresh`): the file is then hashed ("Unchanged files")."""
        if self.rehash:
            return None
        if self.stamps is None:
            self.stamps = {(p, k): (rel, size, mtime, file_hash)
                           for p, k, rel, size, mtime, file_hash in self.con.execute(
                               "select partner_code, delivery_key, source_file, file_bytes, "
                               "file_mtime_ns, file_hash from raw.load_files where source = ? "
                               "and file_mtime_ns is not null", [self.source]).fetchall()}
        stamp = self.stamps.get((f.partner_code, f.delivery_key))
        if stamp and stamp[:3] == (f.rel_path, f.size, f.mtime_ns) and f.mtime_ns >= 0:
            return stamp[3]
        return None

    def _load_alone(self, new: _New) -> FileResult:
        """One file in its own transaction; DuckDB failing on it rejects it."""
        results: dict[int, FileResult] = {}
        self.con.execute("begin transaction")
        try:
            self._load_round([new], results)
            self.con.execute("commit")
            return results[new.index]
        except duckdb.Error as exc:
            self.con.execute("rollback")
            raise_if_interrupt(exc)  # interrupted, not a file DuckDB failed on
            first = (str(exc).strip().splitlines() or [""])[0]
            reason = "DuckDB could not read it: " + _scrubbed(first, new.cfg.source_headers)
        kept = (new.f.partner_code, new.f.delivery_key) in self._known([new]).current
        done = _Round(results)
        self._reject(new, reason, kept, done)
        self._write_events([row for _, row in done.events])
        return results[new.index]

    def _load_round(self, todo: list[_New], results: dict[int, FileResult]) -> list[_New]:
        """Load the files of `todo` that wait for no other; return those that do: a file with
        the delivery key or the content of an earlier file loaded in this round is loaded in
        the next one, so it finds that file in raw.load_files as it would one at a time."""
        known = self._known(todo)
        done = _Round(results)
        workdir = Path(tempfile.mkdtemp(prefix="round-", dir=self.workdir))
        try:
            ready, deferred = self._prepare(todo, known, workdir, done)
            for group in _read_groups(ready, self._insert_key):
                self._load_group(group, done)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if done.load_files:
            self.wrote_load_files = True
            marks, params = _values(done.load_files)
            self.con.execute(f"insert or replace into raw.load_files values {marks}", params)
        self._write_events([row for _, row in sorted(done.events, key=lambda e: e[0])])
        return deferred

    def _known(self, todo: list[_New]) -> _Known:
        """raw.load_files' deliveries of these partners, and the files with these contents
        (with more when nothing was written yet: the whole table, read once)."""
        if not self.wrote_load_files:
            if self.untouched is None:
                self.untouched = self._read_known()
            return self.untouched
        return self._read_known(sorted({n.f.partner_code for n in todo}),
                                sorted({n.file_hash for n in todo}))

    def _read_known(self, partners: list[str] | None = None,
                    hashes: list[str] | None = None) -> _Known:
        """raw.load_files' deliveries of `partners` and files with `hashes` (None: all)."""
        partner_filter = "" if partners is None else "and partner_code in (select unnest(?))"
        current = {(p, k): (h, rows) for p, k, h, rows in self.con.execute(
            "select partner_code, delivery_key, file_hash, rows_read from raw.load_files "
            f"where source = ? {partner_filter}",
            [self.source] + ([partners] if partners is not None else [])).fetchall()}
        hash_filter = "" if hashes is None else "where file_hash in (select unnest(?))"
        by_hash: dict[str, list[tuple[str, str, str, str]]] = {}
        for file_hash, *where in self.con.execute(
                "select file_hash, partner_code, source, delivery_key, source_file "
                f"from raw.load_files {hash_filter} order by source_file",
                [hashes] if hashes is not None else []).fetchall():
            by_hash.setdefault(file_hash, []).append(tuple(where))
        return _Known(current, by_hash)

    def _prepare(self, todo: list[_New], known: _Known, workdir: Path,
                 done: _Round) -> tuple[list[_Ready], list[_New]]:
        """Sort the round's files: unchanged, rejected alone (duplicate, unreadable, bad
        header), ready to read, or deferred to the next round."""
        ready: list[_Ready] = []
        deferred: list[_New] = []
        keys: set[tuple[str, str]] = set()
        hashes: set[str] = set()
        stems: set[str] = set()  # converted files are named after the landing file's stem
        for new in todo:
            f = new.f
            key = (f.partner_code, f.delivery_key)
            current = known.current.get(key)
            if key in keys:
                deferred.append(new)
            elif current and current[0] == new.file_hash:
                done.results[new.index] = FileResult(
                    f.rel_path, f.partner_code, "unchanged",
                    message=f"{f.rel_path}: already loaded, unchanged",
                    period_month=f.period_month)
            elif new.file_hash in hashes:
                deferred.append(new)
            else:
                own_dir = workdir
                if f.path.stem in stems:  # two conversions never share a name
                    own_dir = workdir / str(new.index)
                    own_dir.mkdir()
                stems.add(f.path.stem)
                try:
                    ready.append(self._ready(new, known, current, own_dir))
                except FileRejected as exc:
                    self._reject(new, str(exc), current is not None, done)
                    continue
                keys.add(key)
                hashes.add(new.file_hash)
        return ready, deferred

    def _ready(self, new: _New, known: _Known, current: tuple[str, int] | None,
               workdir: Path) -> _Ready:
        twin = known.twin(new, self.source)
        if twin:
            raise FileRejected(f"duplicate delivery: identical content to {twin}, "
                               f"which is already loaded")
        readable = readable_file(new.f.path, new.cfg, workdir)
        header = read_header(readable.path, readable.encoding, readable.delimiter)
        _check_header(header, new.cfg)
        _bind_expressions(header, new.cfg)
        lines = None if readable.row_column else count_lines(readable.path)
        return _Ready(new, readable, tuple(header), current[1] if current else None,
                      new.f.path.stat().st_size, lines)

    def withdraw_missing(self, landing_dir: Path, partner_codes: set[str]) -> list[FileResult]:
        """Deliveries whose file is no longer in the landing folder are withdrawn: their rows
        leave the warehouse, as if the file had never been delivered (the landing folder is the
        record of what was delivered, so a build equals a build from scratch of the folder)."""
        gone = [row for row in self.con.execute(
            "select partner_code, delivery_key, source_file, file_hash, rows_loaded, "
            "period_month from raw.load_files where source = ? order by source_file",
            [self.source]).fetchall()
            if row[0] in partner_codes and not _still_delivered(landing_dir, row[2])]
        results = []
        for partner, delivery_key, rel, file_hash, rows, period_month in gone:
            self.con.execute("begin transaction")
            self.con.execute(f"delete from {self.table} where partner_code = ? "
                             f"and _delivery_key = ?", [partner, delivery_key])
            self.con.execute("delete from raw.rejected_rows where partner_code = ? and source = ? "
                             "and _delivery_key = ?", [partner, self.source, delivery_key])
            self.con.execute("delete from raw.load_files where partner_code = ? and source = ? "
                             "and delivery_key = ?", [partner, self.source, delivery_key])
            message = (f"{rel}: withdrawn: the file is no longer in the landing folder; its "
                       f"{rows:,} rows were removed")
            self.con.execute(
                "insert into raw.load_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.load_id, self.now, partner, self.source, rel, file_hash, delivery_key,
                 period_month, "withdrawn", 0, 0, message])
            self.con.execute("commit")
            results.append(FileResult(rel, partner, "withdrawn", message=message,
                                      period_month=period_month))
        return results

    # --- one group of files, read by one statement --------------------------------------------

    def _load_group(self, group: list[_Ready], done: _Round) -> None:
        counts = self._read(group)
        loaded: list[tuple[_Ready, int, int, _Lines]] = []
        for r in group:
            accepted, rejected, lines = counts[r.name]
            if _changed_since_discovery(r.new.f):
                self._set_aside(r.new, "waiting", "waiting: the file changed while it was "
                                "being read (still being copied?); it is loaded once it stays "
                                "unchanged", done)
                continue
            try:
                self._check_counts(r, accepted, rejected, lines)
            except FileRejected as exc:
                self._reject(r.new, str(exc), r.previous_rows is not None, done)
                continue
            if self._shrinks(r, accepted + rejected):
                self._set_aside(
                    r.new, "held",
                    f"held: {accepted + rejected:,} rows would replace a delivery of "
                    f"{r.previous_rows:,} rows (fewer than half); the previous delivery is kept. "
                    f"If the partner means it, run `hub build --accept-shrink` to apply it",
                    done)
                continue
            loaded.append((r, accepted, rejected, lines))
        if loaded:
            self._insert(loaded)
        for r, accepted, rejected, lines in loaded:
            self._record(r, accepted, rejected, lines, done)

    def _read_csv(self, files: str, r: _Ready, suffix: str = "") -> None:
        """`read_csv` of `files` (a SQL list) in `r`'s format into `_acc{suffix}`, malformed
        lines into `_rej_errors{suffix}` / `_rej_scans{suffix}`."""
        # a no-op in every path the loader has: registered before the batch's transaction
        # (register_udfs_if_reading); here for a read that check did not foresee
        self._register_udfs()
        columns = "{" + ", ".join(f"{_sql_text(h)}: 'VARCHAR'" for h in r.header) + "}"
        self.con.execute(f"drop table if exists _acc{suffix}; "
                         f"drop table if exists _rej_errors{suffix}; "
                         f"drop table if exists _rej_scans{suffix}")
        self.con.execute(
            f"create temp table _acc{suffix} as select * from read_csv({files}, "
            f"header = true, auto_detect = false, columns = {columns}, "
            f"delim = {_sql_text(r.readable.delimiter)}, quote = '\"', escape = '\"', "
            f"encoding = {_sql_text(r.readable.encoding)}, filename = '_hub_file', "
            f"store_rejects = true, rejects_table = '_rej_errors{suffix}', "
            f"rejects_scan = '_rej_scans{suffix}')")

    def _collect_rejects(self, suffix: str = "", as_file: str | None = None) -> None:
        """Add the malformed lines of the last `_read_csv` to `_rej`, one row per line (under
        the name `as_file` when given)."""
        # the text of a quarantined line is kept, unless the source carries personal data
        raw_line = "cast(null as varchar)" if self.personal else "any_value(e.csv_line)"
        errors = (f"_rej_errors{suffix} e join _rej_scans{suffix} s "
                  "on s.scan_id = e.scan_id and s.file_id = e.file_id")
        # One statement per file with malformed lines (few): the reasons of a line come in the
        # order DuckDB aggregates them for that file alone, as when files were read one by one.
        for (name,) in self.con.execute(f"select distinct s.file_path from {errors}").fetchall():
            self.con.execute(f"""
                insert into _rej
                select ?, e.line,
                       string_agg(distinct e.error_type || ': ' || e.error_message, '; '),
                       {raw_line}
                from {errors} where s.file_path = ? group by e.line
            """, [as_file or name, name])

    def _read(self, group: list[_Ready]) -> dict[str, tuple[int, int, _Lines]]:
        """Read the group's files into `_acc` (rows, with the file in `_hub_file`) and their
        malformed lines into `_rej`; account for every line of each file (`_account`); return
        (accepted, rejected, lines) per file."""
        con = self.con
        names = [_sql_text(r.name) for r in group]
        files = names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
        self._read_csv(files, group[0])
        con.execute("create or replace temp table _rej (_hub_file varchar, line bigint, "
                    "reason varchar, raw_line varchar)")
        self._collect_rejects()
        # lines the reader quarantined (JSON lines): line = row + 1
        quarantined = [[r.name, row + 1, reason] for r in group
                       for row, reason in r.readable.rejected]
        if quarantined:
            marks, params = _values(quarantined)
            con.execute(f"insert into _rej select *, null from (values {marks})", params)
        counts = self._counts()
        return {r.name: self._account(r, *counts.get(r.name, (0, 0))) for r in group}

    def _shrinks(self, r: _Ready, rows_read: int) -> bool:
        """A re-delivery with fewer than half the rows of the delivery it replaces (held unless
        shrinking is accepted)."""
        return (not self.accept_shrink and r.previous_rows is not None
                and 2 * rows_read < r.previous_rows)

    def _counts(self, name: str | None = None) -> dict[str, tuple[int, int]]:
        """(rows in `_acc`, lines in `_rej`) per file (or of file `name`)."""
        where = "" if name is None else "where _hub_file = $name"
        return {file: (int(a), int(j)) for file, a, j in self.con.execute(
            "select _hub_file, sum(a), sum(r) from (select _hub_file, count(*) as a, 0 as r "
            f"from _acc {where} group by _hub_file union all select _hub_file, 0, count(*) "
            f"from _rej {where} group by _hub_file) group by _hub_file",
            {} if name is None else {"name": name}).fetchall()}

    def _account(self, r: _Ready, accepted: int,
                 rejected: int) -> tuple[int, int, _Lines]:
        """Reconcile the reader's rows and rejected lines with the file's lines counted apart;
        return (accepted, rejected, lines), the counts after any second read. The fast path
        (every file): header + rows + rejected + empty lines = physical lines. Otherwise a
        quoted field runs past its line: find where (`locate_breaks`), read the file again
        with each stray quote's line emptied and rejected on its own, and count again; a file
        that still does not reconcile is rejected."""
        if r.lines is None:  # JSON lines: the reader made a row or a rejected line of each
            total = r.readable.lines or 0
            problem = (None if accepted + rejected == total else
                       f"the reader accounts for {accepted + rejected:,} of its {total:,} lines")
            return accepted, rejected, _Lines(total, problem=problem)
        lc = r.lines
        if lc.reconciles(1 + accepted + rejected):
            return accepted, rejected, _Lines(lc.lines - 1 - lc.trailing_blank)
        cfg = r.new.cfg
        multiline = cfg.multiline_fields or cfg.file_type == "xlsx"  # a workbook cell may
        breaks = locate_breaks(r.readable.path, r.readable.delimiter, lc.newline, multiline)
        file_lines = breaks.physical - 1 - len(breaks.blank)
        blank = set(breaks.blank)
        last = breaks.records
        while last in blank:
            last -= 1
        interior = tuple(n for n in breaks.blank if n < last)
        first = breaks.broken[0][0] - 1 if breaks.broken else None
        if breaks.broken and breaks.broken[0][0] == 1:
            return accepted, rejected, _Lines(
                file_lines, problem="its header line (line 1) opens a quote that it does not "
                                    "close")
        if breaks.broken:
            self._reread(r, breaks.broken)
            accepted, rejected = self._counts(r.name).get(r.name, (0, 0))
        if 1 + accepted + rejected + len(breaks.blank) != breaks.records:
            where = f"; the first line with an unterminated quote is row {first:,}" if (
                first) else ""
            return accepted, rejected, _Lines(
                file_lines, breaks.quoted_line_breaks, interior, len(breaks.broken), first,
                f"the reader accounts for {accepted + rejected:,} of its {file_lines:,} data "
                f"lines{where}")
        return accepted, rejected, _Lines(file_lines, breaks.quoted_line_breaks, interior,
                                          len(breaks.broken), first)

    def _reread(self, r: _Ready, broken: list[tuple[int, int, int]]) -> None:
        """Read file `r` again from a copy with its broken lines emptied (DuckDB skips an empty
        line and still counts it, so line numbers stay true); its rows and rejected lines
        replace those of the first read, and each broken line is a rejected line."""
        copy = Path(tempfile.mkdtemp(prefix="lines-", dir=self.workdir)) / "unbroken.csv"
        blank_lines(r.readable.path, copy, broken)
        self._read_csv(_sql_text(str(copy)), r, suffix="_again")
        con = self.con
        con.execute("delete from _acc where _hub_file = ?", [r.name])
        con.execute("delete from _rej where _hub_file = ?", [r.name])
        con.execute("insert into _acc select * replace (? as _hub_file) from _acc_again",
                    [r.name])
        self._collect_rejects("_again", as_file=r.name)
        reason = ("UNTERMINATED QUOTE: a quoted field opened on this line does not close on "
                  "it (format.multiline_fields is false); the line is rejected and the next "
                  "line read as a new row") if not r.new.cfg.multiline_fields else (
                  "UNTERMINATED QUOTE: a quoted field opened on this line is never closed; "
                  "the line is rejected and the next line read as a new row")
        rows = []
        with r.readable.path.open("rb") as fh:
            for record, start, end in broken:
                text = None
                if not self.personal:  # as for DuckDB's rejected lines: no personal data
                    fh.seek(start)
                    text = fh.read(end - start).rstrip(b"\r").decode(
                        "latin-1" if r.readable.encoding == "latin-1" else "utf-8", "replace")
                rows.append([r.name, record, reason, text])
        marks, params = _values(rows)
        con.execute(f"insert into _rej values {marks}", params)
        con.execute("drop table if exists _acc_again; drop table if exists _rej_errors_again; "
                    "drop table if exists _rej_scans_again")

    def _check_counts(self, r: _Ready, accepted: int, rejected: int, lines: _Lines) -> None:
        if lines.problem:
            raise FileRejected(f"not every line could be accounted for: {lines.problem}")
        if accepted + rejected == 0 and r.previous_rows:
            raise FileRejected(f"the file has a header but no data rows; it would replace "
                               f"a delivery of {r.previous_rows:,} rows")
        if accepted == 0 and rejected > 0:
            if r.new.cfg.file_type == "jsonl":
                raise FileRejected(f"none of its {rejected} lines is a valid JSON object")
            raise FileRejected(f"none of its {rejected} data lines could be read with "
                               f"delimiter '{r.readable.delimiter}'")

    def _insert(self, loaded: list[tuple[_Ready, int, int, _Lines]]) -> None:
        """Replace the deliveries these files replace, insert their rows with lineage and their
        malformed lines into raw.rejected_rows."""
        con = self.con
        row_column = loaded[0][0].readable.row_column
        # `_hub_lines`: how many line numbers to hand out, for a file with malformed lines
        marks, params = _values([
            [r.name, r.new.f.partner_code, r.new.f.rel_path, r.new.file_hash,
             r.new.f.delivery_key, r.previous_rows is not None,
             accepted + rejected + len(lines.interior_blank)
             if (rejected or lines.interior_blank) and not row_column else 0]
            for r, accepted, rejected, lines in loaded])
        con.execute(f"create or replace temp table _files as select * from (values {marks}) "
                    f"v(_hub_file, _hub_partner, _hub_rel, _hub_hash, _hub_key, _hub_replacing, "
                    f"_hub_lines)", params)
        if any(r.previous_rows is not None for r, *_ in loaded):
            con.execute(f"delete from {self.table} t using _files f where f._hub_replacing "
                        f"and t.partner_code = f._hub_partner and t._delivery_key = f._hub_key")
            con.execute("delete from raw.rejected_rows t using _files f where f._hub_replacing "
                        "and t.partner_code = f._hub_partner and t.source = ? "
                        "and t._delivery_key = f._hub_key", [self.source])
        numbered = any(rejected or lines.interior_blank
                       for _, _, rejected, lines in loaded) and not row_column
        if numbered:  # empty lines before the last row: no row has their numbers
            blanks = [[r.name, n] for r, _, _, lines in loaded for n in lines.interior_blank]
            con.execute("create or replace temp table _blank (_hub_file varchar, line bigint)")
            if blanks:
                marks, params = _values(blanks)
                con.execute(f"insert into _blank values {marks}", params)
        self._number_rows(row_column, numbered)
        columns = ", ".join(f'"{c}"' for c in (*self.fields, *self.derived))
        # the group's files share these (`_read_groups`)
        select_list, rows_from = self._insert_key(loaded[0][0].new.cfg)
        con.execute(
            f"insert into {self.table} (partner_code, {columns}, "
            f"_source_file, _file_hash, _row_number, _delivery_key, _load_id, _loaded_at) "
            f"select a._hub_partner, {select_list}, a._hub_rel, a._hub_hash, "
            f"a._hub_row, a._hub_key, ?, ? from {rows_from} a",
            [self.load_id, self.now])
        if any(rejected for _, _, rejected, _ in loaded):
            con.execute(
                "insert into raw.rejected_rows select f._hub_partner, ?, f._hub_rel, "
                "f._hub_hash, r.line - 1, f._hub_key, r.reason, r.raw_line, ?, ? "
                "from _rej r join _files f on f._hub_file = r._hub_file",
                [self.source, self.load_id, self.now])

    def _number_rows(self, row_column: str | None, numbered: bool) -> None:
        """`_rows`: the rows of `_acc` with their file's lineage (`_hub_*`) and `_hub_row`,
        their data row number in the file."""
        if row_column:  # the reader recorded each row's number in the file
            row, lines = f'cast(a."{row_column}" as bigint)', ""
        elif numbered:
            self._number_lines()
            row = "coalesce(l._hub_line, a._hub_ord + 2) - 1"
            lines = "left join _lines l on l._hub_file = a._hub_file and l._hub_ord = a._hub_ord"
        else:  # no malformed line: data row n is file line n + 1
            row, lines = "a._hub_ord + 1", ""
        # Rows keep file order in _acc (rowid; inside a transaction rowids start at a large
        # offset), so number each file's rows from its smallest rowid.
        ordered = ("(select row_number() over (partition by _hub_file order by rowid) - 1 "
                   "as _hub_ord, * from _acc)")
        self.con.execute(
            f"create or replace temp table _rows as select a.*, f._hub_partner, f._hub_rel, "
            f"f._hub_hash, f._hub_key, {row} as _hub_row from {ordered} a "
            f"join _files f on f._hub_file = a._hub_file {lines}")

    def _number_lines(self) -> None:
        """`_lines`: for each file with malformed lines, its line numbers that were not
        rejected, in order (`_hub_ord` from 0): data row n is file line n + 1 (line 1 is the
        header), and accepted rows keep file order, so they pair with these."""
        self.con.execute("""
            create or replace temp table _lines as
            select _hub_file, row_number() over (partition by _hub_file order by _hub_line) - 1
                   as _hub_ord, _hub_line
            from (select _hub_file, unnest(range(2, _hub_lines + 2)) as _hub_line
                  from _files where _hub_lines > 0) l
            where not exists (select 1 from _rej r
                              where r._hub_file = l._hub_file and r.line = l._hub_line)
              and not exists (select 1 from _blank b
                              where b._hub_file = l._hub_file and b.line = l._hub_line)
        """)

    @staticmethod
    def _text(cfg: SourceConfig, name: str) -> str:
        spec = cfg.columns.get(name)
        expr = f"cast({spec.sql()} as varchar)" if spec else "cast(null as varchar)"
        return f"nullif(trim({expr}), '')"

    def _select_list(self, cfg: SourceConfig) -> str:
        texts = {name: self._text(cfg, name) for name in self.fields}
        parts = [f'{self._free_text(text) if name in self.free_text else text} as "{name}"'
                 for name, text in texts.items()]
        # docs/crm.md: keys and flags computed from the personal fields, read in memory from
        # the temp table (the `_pii` struct of `_rows_from`) and never stored in clear
        parts.extend(f'a._pii."{col}"' for col in self.derived)
        return ", ".join(parts)

    @staticmethod
    def _free_text(expr: str) -> str:
        """docs/crm.md, "Free text": e-mails, UK phone numbers and postcodes replaced by
        markers in the insert itself, so they never reach a table."""
        from dagster_project.privacy import scrub_free_text_sql

        return scrub_free_text_sql(expr)

    def _insert_key(self, cfg: SourceConfig) -> tuple[str, str]:
        """What `_insert` takes from a file's configuration: files of one read group share it,
        so the group's rows go in with the first file's."""
        key = self._insert_keys.get(id(cfg))
        if key is None or key[0] is not cfg:
            key = (cfg, (self._select_list(cfg), self._rows_from(cfg)))
            self._insert_keys[id(cfg)] = key
        return key[1]

    def _rows_from(self, cfg: SourceConfig) -> str:
        rows = "_rows"
        if not self.personal:
            return rows
        from dagster_project.privacy import crm_pseudonyms_sql

        # the rows with `_pii`: each distinct personal value normalised and hashed once
        return crm_pseudonyms_sql(rows, [self._text(cfg, f) for f in self.personal])

    # --- results and bookkeeping ---------------------------------------------------------------

    def _record(self, r: _Ready, accepted: int, rejected: int, lines: _Lines,
                done: _Round) -> None:
        f = r.new.f
        status = "replaced" if r.previous_rows is not None else "loaded"
        message = f"{f.rel_path}: {status} {accepted:,} rows"
        if accepted + rejected == 0:
            what = SOURCE_MODELS[self.source].rows
            message += f" (header only: the partner reports no {what} for this period)"
        if rejected:
            message += f"; {rejected:,} malformed line(s) quarantined in raw.rejected_rows"
        if lines.broken:
            message += (f"; {lines.broken:,} of them with an unterminated quote (first: row "
                        f"{lines.first_broken:,}), the lines after each read as rows of "
                        f"their own")
        if lines.quoted_line_breaks:
            message += (f"; {lines.quoted_line_breaks:,} line break(s) inside quoted fields "
                        f"(format.multiline_fields)")
        readable = r.readable
        if readable.fallback:
            message += (f"; decoded as {readable.decoded_as}: the file is not valid "
                        f"{r.new.cfg.encoding} text (format.fallback_encoding)")
        done.load_files.append([f.partner_code, self.source, f.delivery_key, f.rel_path,
                                r.new.file_hash, r.file_bytes, accepted + rejected, accepted,
                                rejected, f.period_month, self.load_id, self.now,
                                lines.file_lines, lines.quoted_line_breaks, readable.decoded_as,
                                readable.fallback, f.mtime_ns if f.mtime_ns >= 0 else None])
        done.events.append((r.new.index, self._event_row(
            f, f.rel_path, f.partner_code, status, r.new.file_hash, accepted, rejected, message)))
        done.results[r.new.index] = FileResult(f.rel_path, f.partner_code, status, accepted,
                                               rejected, message, f.period_month)

    def _reject(self, new: _New, reason: str, kept: bool, done: _Round) -> None:
        f = new.f
        message = f"{f.rel_path}: rejected: {reason}"
        if kept:
            message += " (the previously loaded delivery is kept)"
        done.events.append((new.index, self._event_row(
            f, f.rel_path, f.partner_code, "rejected", new.file_hash, 0, 0, message)))
        done.results[new.index] = FileResult(f.rel_path, f.partner_code, "rejected",
                                             message=message, period_month=f.period_month)

    def _set_aside(self, new: _New, status: str, reason: str, done: _Round) -> None:
        """A file neither loaded nor rejected (`waiting`, `held`): nothing changes."""
        f = new.f
        message = f"{f.rel_path}: {reason}"
        done.events.append((new.index, self._event_row(
            f, f.rel_path, f.partner_code, status, new.file_hash, 0, 0, message)))
        done.results[new.index] = FileResult(f.rel_path, f.partner_code, status,
                                             message=message, period_month=f.period_month)

    def _event_row(self, f: LandingFile | None, rel: str, partner: str | None, status: str,
                   file_hash: str | None, rows: int, rejected: int, message: str) -> list:
        return [self.load_id, self.now, partner, self.source, rel, file_hash,
                f.delivery_key if f else None, f.period_month if f else None, status, rows,
                rejected, message]

    def _write_events(self, rows: list[list]) -> None:
        if rows:
            marks, params = _values(rows)
            self.con.execute(f"insert into raw.load_events values {marks}", params)

    def event(self, f: LandingFile | None, rel: str, partner: str | None, status: str,
              file_hash: str | None, rows: int, rejected: int, message: str) -> None:
        self._write_events([self._event_row(f, rel, partner, status, file_hash, rows, rejected,
                                            message)])


def _changed_since_discovery(f: LandingFile) -> bool:
    """Whether the file's size or modification time differ from those seen at discovery (or it
    is no longer a regular file)."""
    if f.size < 0:
        return False
    try:
        st = f.path.lstat()
    except FileNotFoundError:
        return True
    return (not stat.S_ISREG(st.st_mode) or st.st_size != f.size
            or st.st_mtime_ns != f.mtime_ns)


def _still_delivered(landing_dir: Path, rel: str) -> bool:
    """Whether a loaded file is still a delivery: a regular file directly in its partner's
    source folder, reached through no symbolic link (discovery.py)."""
    parts = rel.split("/")
    if len(parts) != 3:
        return False
    folders = (landing_dir / parts[0], landing_dir / parts[0] / parts[1])
    path = landing_dir / rel
    return (not any(p.is_symlink() for p in (*folders, path))) and path.is_file()


def _read_groups(ready: list[_Ready],
                 insert_key: Callable[[SourceConfig], tuple]) -> Iterable[list[_Ready]]:
    """The ready files by format (`read_key`) and by what their insert takes from their
    configuration (`insert_key`: partners of a batch may map columns differently), in batch
    order, in groups of at most MAX_READ_BYTES of landing data (a bigger file alone)."""
    by_key: dict[tuple, list[_Ready]] = {}
    for r in ready:
        by_key.setdefault((r.read_key, insert_key(r.new.cfg)), []).append(r)
    for members in by_key.values():
        yield from _bounded(members, lambda r: r.file_bytes, MAX_READ_BYTES)


def _batches(by_partner: Iterable[list[tuple[LandingFile, SourceConfig]]],
             ) -> Iterable[list[tuple[LandingFile, SourceConfig]]]:
    """Each partner's files, in order, gathered into batches of whole partners holding at
    most MAX_BATCH_BYTES of landing data (a bigger partner alone)."""
    for partners in _bounded(by_partner, lambda items: sum(max(f.size, 0) for f, _ in items),
                             MAX_BATCH_BYTES):
        yield [item for items in partners for item in items]


def _bounded(items: Iterable[_T], size: Callable[[_T], int], limit: int) -> Iterable[list[_T]]:
    """`items` in order, in runs whose sizes add up to at most `limit` (an item bigger than
    that alone)."""
    run: list[_T] = []
    total = 0
    for item in items:
        item_size = size(item)
        if run and total + item_size > limit:
            yield run
            run, total = [], 0
        run.append(item)
        total += item_size
    if run:
        yield run


def load_source(db_path: Path, landing_dir: Path, partners: dict[str, PartnerConfig],
                source: str = "telephony",
                scope: Iterable[tuple[str, dt.date]] | None = None,
                pseudonymisation_key: str | None = None,
                settle: float | None = None, quiet_periods: bool = True,
                accept_shrink: bool | None = None, rehash: bool | None = None) -> LoadReport:
    """Load every landing file of `source` (or only those of the (partner, month) `scope`).

    A source with personal data (crm) needs the pseudonymisation key; when not given it is
    `privacy.pseudonymisation_key(Settings.from_env())`, which raises
    `PseudonymisationKeyMissing` (before anything is read or written) in production without
    `HUB_PSEUDONYMISATION_KEY`.

    Quiet periods (settle.py): a file is loaded once stable for `settle` seconds (default
    `HUB_SETTLE_SECONDS`, else 60), or once its `.done` marker exists when the source's YAML
    asks for markers; until then it is `waiting`. `quiet_periods=False` loads files as they are
    (`hub check`). A re-delivery with fewer than half the
    rows of the delivery it replaces is `held` unless `accept_shrink` (default: whether
    `HUB_ACCEPT_SHRINK` is set, as `hub build --accept-shrink` does).

    A landing file with the path, size and modification time of the delivery it would replace
    is that delivery, unchanged: its stored hash is used and the file is not read. `rehash`
    (default: whether `HUB_REHASH_FILES` is set, as `hub build --full-refresh` does) hashes
    every file.
    """
    settle = settle_seconds() if settle is None else settle
    if accept_shrink is None:
        accept_shrink = bool(os.environ.get(ACCEPT_SHRINK_VAR))
    if rehash is None:
        rehash = bool(os.environ.get(REHASH_VAR))
    if SOURCE_FIELDS[source].get("personal") and not pseudonymisation_key:
        from dagster_project.privacy import pseudonymisation_key as hub_key
        from dagster_project.settings import Settings

        pseudonymisation_key = hub_key(Settings.from_env())
    scope_set = set(scope) if scope is not None else None
    db_path.parent.mkdir(parents=True, exist_ok=True)
    report = LoadReport(load_id=uuid.uuid4().hex, source=source)
    files, problems = discover_files(landing_dir, partners, source)
    con = duck.connect(db_path)
    try:
        ensure_raw_schema(con, (source,))
        with tempfile.TemporaryDirectory(prefix="hub-load-") as tmp:
            loader = _Loader(con, source, report.load_id, landing_dir, Path(tmp),
                             pseudonymisation_key, accept_shrink, rehash)
            report.files.extend(_problems(loader, problems, scope_set))
            by_partner: dict[str, list[tuple[LandingFile, SourceConfig]]] = {}
            for f in files:
                if not _in_scope(f, scope_set):
                    continue
                cfg = partners[f.partner_code].sources[source]
                waiting = (waiting_reason(f.path, source, cfg.done_marker, settle)
                           if quiet_periods else None)
                if waiting is not None:
                    report.files.append(_waiting(loader, f, waiting))
                    continue
                by_partner.setdefault(f.partner_code, []).append((f, cfg))
            loader.register_udfs_if_reading(f for items in by_partner.values() for f, _ in items)
            for items in _batches(by_partner.values()):
                report.files.extend(loader.load_batch(items))
            if scope_set is None:
                report.files.extend(loader.withdraw_missing(landing_dir, set(partners)))
        con.execute("checkpoint")
    finally:
        con.close()
    return report


def _problems(loader: _Loader, problems: list[LandingProblem],
              scope: set[tuple[str, dt.date]] | None) -> list[FileResult]:
    """Record discovery's problems (files rejected, subfolders ignored) of the scope."""
    results = []
    for problem in problems:
        if scope is not None and problem.partner_code not in {p for p, _ in scope}:
            continue
        loader.event(None, problem.rel_path, problem.partner_code, problem.status, None, 0, 0,
                     problem.message)
        results.append(FileResult(problem.rel_path, problem.partner_code, problem.status,
                                  message=problem.message))
    return results


def _waiting(loader: _Loader, f: LandingFile, reason: str) -> FileResult:
    """A file not yet complete (settle.py): recorded as `waiting`, nothing else changes."""
    message = f"{f.rel_path}: {reason}"
    loader.event(f, f.rel_path, f.partner_code, "waiting", None, 0, 0, message)
    return FileResult(f.rel_path, f.partner_code, "waiting", message=message,
                      period_month=f.period_month)
