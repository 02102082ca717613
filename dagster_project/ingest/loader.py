"""Load landing files of one source into the `raw` schema through DuckDB's CSV reader.

Rules (see docs/architecture.md):
- every data line of a file lands in the raw table, or in `raw.rejected_rows` with a reason;
- the same file loaded twice changes nothing (`unchanged`);
- a new file for a delivery key replaces the old one's rows in one transaction (`replaced`);
- a file that cannot be loaded at all is `rejected` with a message naming the file and the
  problem, and whatever was loaded before for that delivery stays as it was.

CRM files carry personal data (docs/crm.md): the personal fields are replaced by keyed hashes
and flags in the insert statement itself (SQL from `dagster_project.privacy.crm_pseudonyms_sql`),
and the text of a quarantined CRM line is not kept.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project import duck
from dagster_project.ingest.discovery import LandingFile, discover_files
from dagster_project.ingest.raw_tables import (
    derived_columns,
    ensure_raw_schema,
    raw_table,
    source_fields,
)
from dagster_project.ingest.readers import FileRejected, read_header, readable_file, sha256_of
from dagster_project.partners import SOURCE_FIELDS, PartnerConfig, SourceConfig

COMMON_DELIMITERS = (",", ";", "|", "\t")


@dataclass
class FileResult:
    rel_path: str
    partner_code: str | None
    status: str  # loaded | replaced | unchanged | rejected | withdrawn
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

    def summary(self) -> str:
        return (f"{self.source}: {self.count('loaded')} loaded, {self.count('replaced')} replaced, "
                f"{self.count('unchanged')} unchanged, {self.count('rejected')} rejected, "
                f"{self.count('withdrawn')} withdrawn files; "
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


def _check_header(header: list[str], cfg: SourceConfig, personal: bool = False) -> None:
    missing = [h for h in cfg.source_headers if h not in header]
    if missing:
        # A file without its header row has data in the first line: never echo it for a source
        # with personal data (the message is stored in raw.load_events).
        found = ([h for h in header if h in cfg.source_headers] if personal else header)
        note = (f"found {len(header)} column(s), of which configured: {found} (other names not "
                f"shown: the first line may be personal data)" if personal else f"found {found}")
        raise FileRejected(f"header lacks configured column(s) {missing}; {note}"
                           f"{_delimiter_hint(header, cfg)}")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Loader:
    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, load_id: str,
                 landing_dir: Path, workdir: Path, key: str | None = None) -> None:
        self.con = con
        self.source = source
        self.load_id = load_id
        self.landing_dir = landing_dir
        self.workdir = workdir
        self.table = raw_table(source)
        self.fields = source_fields(source)
        self.derived = tuple(c for c, _ in derived_columns(source))
        self.personal = SOURCE_FIELDS[source].get("personal", ())
        if self.personal:
            from dagster_project.privacy import register_udfs

            if not key:
                raise ValueError(f"loading {source} needs the pseudonymisation key")
            register_udfs(con, key)
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.in_batch = False

    def load_batch(self, items: list[tuple[LandingFile, SourceConfig]]) -> list[FileResult]:
        """Load several files in one transaction (one commit, not one per file). If DuckDB
        fails on any of them, undo the batch and load them one transaction per file, so one
        bad file never costs the others."""
        self.con.execute("begin transaction")
        self.in_batch = True
        try:
            results = [self.load(f, cfg) for f, cfg in items]
            self.con.execute("commit")
            return results
        except duckdb.Error:
            self.con.execute("rollback")
        finally:
            self.in_batch = False
        return [self.load(f, cfg) for f, cfg in items]

    def withdraw_missing(self, landing_dir: Path, partner_codes: set[str]) -> list[FileResult]:
        """Deliveries whose file is no longer in the landing folder are withdrawn: their rows
        leave the warehouse, as if the file had never been delivered (the landing folder is the
        record of what was delivered, so a build equals a build from scratch of the folder)."""
        gone = [row for row in self.con.execute(
            "select partner_code, delivery_key, source_file, file_hash, rows_loaded, "
            "period_month from raw.load_files where source = ? order by source_file",
            [self.source]).fetchall()
            if row[0] in partner_codes and not (landing_dir / row[2]).exists()]
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

    def event(self, f: LandingFile | None, rel: str, partner: str | None, status: str,
              file_hash: str | None, rows: int, rejected: int, message: str) -> None:
        self.con.execute(
            "insert into raw.load_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.load_id, self.now, partner, self.source, rel, file_hash,
             f.delivery_key if f else None, f.period_month if f else None, status, rows,
             rejected, message])

    def load(self, f: LandingFile, cfg: SourceConfig) -> FileResult:
        file_hash = sha256_of(f.path)
        current = self.con.execute(
            "select file_hash, rows_read from raw.load_files where partner_code = ? and source = ? "
            "and delivery_key = ?", [f.partner_code, self.source, f.delivery_key]).fetchone()
        if current and current[0] == file_hash:
            return FileResult(f.rel_path, f.partner_code, "unchanged",
                              message=f"{f.rel_path}: already loaded, unchanged",
                              period_month=f.period_month)
        twin = self.con.execute(
            "select source_file from raw.load_files where file_hash = ? and not "
            "(partner_code = ? and source = ? and delivery_key = ?)",
            [file_hash, f.partner_code, self.source, f.delivery_key]).fetchone()
        try:
            if twin:
                raise FileRejected(f"duplicate delivery: identical content to {twin[0]}, "
                                   f"which is already loaded")
            result = self._load_new(f, cfg, file_hash,
                                    previous_rows=current[1] if current else None)
        except (FileRejected, duckdb.Error) as exc:
            if self.in_batch and isinstance(exc, duckdb.Error):
                raise  # the batch transaction is aborted: load_batch retries file by file
            reason = (str(exc) if isinstance(exc, FileRejected)
                      else "DuckDB could not read it: " + str(exc).strip().splitlines()[0])
            message = f"{f.rel_path}: rejected: {reason}"
            if current:
                message += " (the previously loaded delivery is kept)"
            self.event(f, f.rel_path, f.partner_code, "rejected", file_hash, 0, 0, message)
            return FileResult(f.rel_path, f.partner_code, "rejected", message=message,
                              period_month=f.period_month)
        return result

    @staticmethod
    def _text(cfg: SourceConfig, name: str) -> str:
        spec = cfg.columns.get(name)
        expr = f"cast({spec.sql()} as varchar)" if spec else "cast(null as varchar)"
        return f"nullif(trim({expr}), '')"

    def _select_list(self, cfg: SourceConfig) -> str:
        parts = [f'{self._text(cfg, name)} as "{name}"' for name in self.fields]
        # docs/crm.md: keys and flags computed from the personal fields, read in memory from
        # the temp table (the `_pii` struct of `_rows_from`) and never stored in clear
        parts.extend(f'a._pii."{col}"' for col in self.derived)
        return ", ".join(parts)

    def _rows_from(self, cfg: SourceConfig) -> str:
        rows = "(select rowid as _acc_rowid, * from _acc)"
        if not self.personal:
            return rows
        from dagster_project.privacy import crm_pseudonyms_sql

        # the rows with `_pii`: each distinct personal value normalised and hashed once
        return crm_pseudonyms_sql(rows, [self._text(cfg, f) for f in self.personal])

    def _load_new(self, f: LandingFile, cfg: SourceConfig, file_hash: str,
                  previous_rows: int | None) -> FileResult:
        """Load a new delivery; `previous_rows` is the rows_read of the delivery it replaces
        (None when there is none)."""
        replacing = previous_rows is not None
        con = self.con
        readable = readable_file(f.path, cfg, self.workdir)
        path, encoding, delimiter = readable.path, readable.encoding, readable.delimiter
        header = read_header(path, encoding, delimiter)
        _check_header(header, cfg, personal=bool(self.personal))
        columns = "{" + ", ".join(f"{_sql_text(h)}: 'VARCHAR'" for h in header) + "}"
        con.execute("drop table if exists _acc; drop table if exists _rej_errors; "
                    "drop table if exists _rej_scans")
        con.execute(
            f"create temp table _acc as select * from read_csv({_sql_text(str(path))}, "
            f"header = true, auto_detect = false, columns = {columns}, "
            f"delim = {_sql_text(delimiter)}, quote = '\"', escape = '\"', "
            f"encoding = {_sql_text(encoding)}, store_rejects = true, "
            f"rejects_table = '_rej_errors', rejects_scan = '_rej_scans')")
        # Rows keep file order in _acc; inside a transaction their rowids start at a large
        # offset, so number them from the smallest rowid.
        accepted, first_rowid = con.execute("select count(*), min(rowid) from _acc").fetchone()
        # the text of a quarantined line is kept, unless the source carries personal data
        raw_line = "cast(null as varchar)" if self.personal else "any_value(csv_line)"
        con.execute(f"""
            create or replace temp table _rej as
            select line, string_agg(distinct error_type || ': ' || error_message, '; ') as reason,
                   {raw_line} as raw_line
            from _rej_errors group by line
        """)
        if readable.rejected:  # lines the reader quarantined (JSON lines): line = row + 1
            con.executemany("insert into _rej values (?, ?, null)",
                            [(row + 1, reason) for row, reason in readable.rejected])
        rejected = con.execute("select count(*) from _rej").fetchone()[0]
        if accepted + rejected == 0 and previous_rows:
            raise FileRejected(f"the file has a header but no data rows; it would replace "
                               f"a delivery of {previous_rows:,} rows")
        if accepted == 0 and rejected > 0:
            if cfg.file_type == "jsonl":
                raise FileRejected(f"none of its {rejected} lines is a valid JSON object")
            raise FileRejected(f"none of its {rejected} data lines could be read with "
                               f"delimiter '{delimiter}'")
        # Data row n is file line n + 1 (line 1 is the header). Accepted rows keep file order in
        # _acc (rowid), so pair them with the line numbers that were not rejected.
        con.execute(f"""
            create or replace temp table _lines as
            select row_number() over (order by line) - 1 as ord, line
            from (select range as line from range(2, {accepted + rejected + 2})) l
            where line not in (select line from _rej)
        """)
        if not self.in_batch:
            con.execute("begin transaction")
        try:
            if replacing:
                con.execute(f"delete from {self.table} where partner_code = ? "
                            f"and _delivery_key = ?", [f.partner_code, f.delivery_key])
                con.execute("delete from raw.rejected_rows where partner_code = ? and source = ? "
                            "and _delivery_key = ?", [f.partner_code, self.source, f.delivery_key])
            lineage = [f.rel_path, file_hash, f.delivery_key, self.load_id, self.now]
            if readable.row_column:  # the reader recorded each row's number in the file
                row_number = f"cast(a.\"{readable.row_column}\" as bigint)"
                rows_from = f"{self._rows_from(cfg)} a"
            else:
                row_number = "l.line - 1"
                rows_from = (f"{self._rows_from(cfg)} a join _lines l "
                             f"on a._acc_rowid - {int(first_rowid or 0)} = l.ord")
            columns = ", ".join(f'"{c}"' for c in (*self.fields, *self.derived))
            con.execute(
                f"insert into {self.table} (partner_code, {columns}, "
                f"_source_file, _file_hash, _row_number, _delivery_key, _load_id, _loaded_at) "
                f"select ?, {self._select_list(cfg)}, "
                f"?, ?, {row_number}, ?, ?, ? from {rows_from}",
                [f.partner_code, f.rel_path, file_hash, f.delivery_key, self.load_id, self.now])
            con.execute(
                "insert into raw.rejected_rows select ?, ?, ?, ?, line - 1, ?, reason, raw_line, "
                "?, ? from _rej", [f.partner_code, self.source, *lineage])
            con.execute(
                "insert or replace into raw.load_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [f.partner_code, self.source, f.delivery_key, f.rel_path, file_hash,
                 f.path.stat().st_size, accepted + rejected, accepted, rejected, f.period_month,
                 self.load_id, self.now])
            status = "replaced" if replacing else "loaded"
            message = f"{f.rel_path}: {status} {accepted:,} rows"
            if accepted + rejected == 0:
                what = "contacts" if self.personal else "calls"
                message += f" (header only: the partner reports no {what} for this period)"
            if rejected:
                message += f"; {rejected:,} malformed line(s) quarantined in raw.rejected_rows"
            self.event(f, f.rel_path, f.partner_code, status, file_hash, accepted, rejected,
                       message)
            if not self.in_batch:
                con.execute("commit")
        except Exception:
            if not self.in_batch:
                con.execute("rollback")
            raise
        return FileResult(f.rel_path, f.partner_code, status, accepted, rejected, message,
                          f.period_month)


def load_source(db_path: Path, landing_dir: Path, partners: dict[str, PartnerConfig],
                source: str = "telephony",
                scope: Iterable[tuple[str, dt.date]] | None = None,
                pseudonymisation_key: str | None = None) -> LoadReport:
    """Load every landing file of `source` (or only those of the (partner, month) `scope`).

    A source with personal data (crm) needs the pseudonymisation key; when not given it is
    `privacy.pseudonymisation_key(Settings.from_env())`, which raises
    `PseudonymisationKeyMissing` (before anything is read or written) in production without
    `HUB_PSEUDONYMISATION_KEY`.
    """
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
                             pseudonymisation_key)
            for problem in problems:
                if scope_set is not None and problem.partner_code is None:
                    continue
                if scope_set is not None and problem.partner_code not in {p for p, _ in scope_set}:
                    continue
                loader.event(None, problem.rel_path, problem.partner_code, "rejected", None, 0,
                             0, problem.message)
                report.files.append(FileResult(problem.rel_path, problem.partner_code,
                                               "rejected", message=problem.message))
            by_partner: dict[str, list[tuple[LandingFile, SourceConfig]]] = {}
            for f in files:
                if _in_scope(f, scope_set):
                    by_partner.setdefault(f.partner_code, []).append(
                        (f, partners[f.partner_code].sources[source]))
            for items in by_partner.values():
                report.files.extend(loader.load_batch(items))
            if scope_set is None:
                report.files.extend(loader.withdraw_missing(landing_dir, set(partners)))
        con.execute("checkpoint")
    finally:
        con.close()
    return report
