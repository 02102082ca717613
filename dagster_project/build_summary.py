"""The table every `hub build` ends with: per partner and source, files, rows read, loaded,
rejected, excluded and quarantined (count, share of rows read, top reasons), from the marts a
build just made (`marts.kpi_deliveries`, `marts.kpi_data_quality`). A partner-source whose
quarantined share is over the threshold (HUB_MAX_QUARANTINE_PCT, default 2 %) gets an ERROR
line naming it; `hub build --strict` fails on it before anything is published (the Dagster
checks `*_quarantine_rate` block publication in strict mode). Then a NOTE line per
partner-source with files decoded by the source's fallback encoding (`raw.load_files`,
docs/architecture.md "Encodings"). No Dagster imports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

TOP_REASONS = 3


def max_quarantine_pct() -> float:
    return float(os.environ.get("HUB_MAX_QUARANTINE_PCT", "2.0"))


@dataclass(frozen=True)
class SourceLine:
    partner_code: str
    source: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_excluded: int
    rows_quarantined: int
    top_reasons: tuple[tuple[str, int], ...]

    @property
    def quarantine_pct(self) -> float:
        return 100.0 * self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def over_threshold(self) -> bool:
        return self.quarantine_pct > max_quarantine_pct()


def source_lines(con: duckdb.DuckDBPyConnection) -> list[SourceLine]:
    """One line per partner and source with rows delivered."""
    totals = con.execute("""
        select partner_code, source, sum(files), sum(rows_read), sum(rows_loaded),
               sum(rows_rejected), sum(rows_excluded), sum(rows_quarantined)
        from marts.kpi_deliveries group by 1, 2 order by 1, 2""").fetchall()
    reasons: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for partner, source, reason, rows in con.execute("""
            select partner_code, source, reason, sum(row_count) as row_count
            from marts.kpi_data_quality
            where reason not in ('malformed_line', 'free_text_scrubbed')
            group by 1, 2, 3 order by 1, 2, 4 desc, 3""").fetchall():
        reasons.setdefault((partner, source), []).append((reason, int(rows)))
    return [SourceLine(p, s, int(f), int(r), int(lo), int(rj), int(ex), int(q),
                       tuple(reasons.get((p, s), [])[:TOP_REASONS]))
            for p, s, f, r, lo, rj, ex, q in totals]


def read_lines(db: Path) -> list[SourceLine]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return source_lines(con)
    finally:
        con.close()


def format_lines(lines: list[SourceLine]) -> list[str]:
    """The table, then one ERROR line per partner-source over the threshold."""
    if not lines:
        return ["no rows delivered yet"]
    header = (f"{'partner':<16} {'source':<10} {'files':>6} {'read':>11} {'loaded':>11} "
              f"{'rejected':>9} {'excluded':>9} {'quarantined':>12} {'%':>6}  top reasons")
    out = [header]
    for x in lines:
        top = ", ".join(f"{reason} {n:,}" for reason, n in x.top_reasons) or "-"
        out.append(f"{x.partner_code:<16} {x.source:<10} {x.files:>6,} {x.rows_read:>11,} "
                   f"{x.rows_loaded:>11,} {x.rows_rejected:>9,} {x.rows_excluded:>9,} "
                   f"{x.rows_quarantined:>12,} {x.quarantine_pct:>5.1f}%  {top}")
    limit = max_quarantine_pct()
    for x in lines:
        if x.over_threshold:
            top = ", ".join(f"{reason} {n:,}" for reason, n in x.top_reasons)
            out.append(f"ERROR {x.partner_code} {x.source}: {x.quarantine_pct:.1f} % of rows "
                       f"quarantined ({x.rows_quarantined:,} of {x.rows_read:,}), over the "
                       f"{limit:g} % threshold (HUB_MAX_QUARANTINE_PCT): {top}; see "
                       f"quality.quarantine_{'calls' if x.source == 'telephony' else 'contacts'}"
                       f" or `hub check {x.partner_code}`")
    return out


MAX_FILES_NAMED = 3


def encoding_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One NOTE line per partner and source with files decoded by the fallback encoding
    (`format.fallback_encoding`): which encoding, how many of its files, the first files."""
    has_column = con.execute(
        "select count(*) from duckdb_columns() where schema_name = 'raw' "
        "and table_name = 'load_files' and column_name = 'encoding_fallback'").fetchone()[0]
    if not has_column:
        return []
    out = []
    for partner, source, encoding, n, total, files in con.execute("""
            select partner_code, source, encoding, count(*) filter (where encoding_fallback),
                   any_value(total), list(source_file order by source_file)
                       filter (where encoding_fallback)
            from (select *, count(*) over (partition by partner_code, source) as total
                  from raw.load_files)
            group by partner_code, source, encoding
            having count(*) filter (where encoding_fallback) > 0
            order by 1, 2, 3""").fetchall():
        named = ", ".join(files[:MAX_FILES_NAMED]) + (
            f" and {len(files) - MAX_FILES_NAMED:,} more" if len(files) > MAX_FILES_NAMED else "")
        out.append(f"NOTE {partner} {source}: {n:,} of {total:,} file(s) decoded as {encoding}, "
                   f"the fallback encoding (format.fallback_encoding): {named}")
    return out


def read_encoding_lines(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return encoding_lines(con)
    finally:
        con.close()
