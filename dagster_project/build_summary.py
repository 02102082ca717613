"""The table every `hub build` ends with: per partner and source, files, rows read, loaded,
rejected, excluded and quarantined (count, share of rows read, top reasons), from the marts a
build just made (`marts.kpi_deliveries`, `marts.kpi_data_quality`). ERROR lines follow for a
partner-source whose quarantined share is over the threshold (HUB_MAX_QUARANTINE_PCT, default
2 %) and for every vanishing month (`marts.kpi_deliveries.is_vanishing`: valid rows per file
below half of the previous month's, or files none of whose rows has a known month);
`hub build --strict` fails on either before anything is published (the Dagster checks
`*_quarantine_rate` and `deliveries_vanishing_months` block publication in strict mode). Then a
NOTE line per partner-source with files decoded by the source's fallback encoding
(`raw.load_files`, docs/architecture.md "Encodings"). docs/architecture.md, "Delivery rules".
No Dagster imports."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import duckdb

from dagster_project.source_models import SOURCE_MODELS

TOP_REASONS = 3


def max_quarantine_pct() -> float:
    return float(os.environ.get("HUB_MAX_QUARANTINE_PCT", "2.0"))


@dataclass(frozen=True)
class VanishingMonth:
    """A partner-source-month whose valid rows fell below half of the previous month's (per
    file), or (month None) the files of a partner-source none of whose rows has a month."""

    partner_code: str
    source: str
    month: dt.date | None
    files: int
    rows_read: int
    rows_valid: int
    rows_valid_per_file: float
    previous_month: dt.date | None
    previous_rows_valid_per_file: float | None
    files_without_month: int
    top_reasons: tuple[tuple[str, int], ...]

    def message(self) -> str:
        """The ERROR line: partner, source, month and counts; never a row's values."""
        view = QUALITY_VIEW.get(self.source, "quality")
        top = ", ".join(f"{reason} {n:,}" for reason, n in self.top_reasons) or "-"
        where = f"see {view} or `hub check {self.partner_code}`"
        if self.month is None:
            return (f"ERROR {self.partner_code} {self.source}: {self.files_without_month:,} "
                    f"file(s) with no row of a known month ({self.rows_read:,} rows read, "
                    f"none valid), a month that vanishes: top reasons {top}; {where}")
        previous = f"{self.previous_month:%Y-%m}" if self.previous_month else "-"
        return (f"ERROR {self.partner_code} {self.source} {self.month:%Y-%m}: a vanishing "
                f"month: {self.rows_valid:,} valid of {self.rows_read:,} rows read "
                f"({self.rows_valid_per_file:,.0f} a file), under half of {previous}'s "
                f"{self.previous_rows_valid_per_file or 0:,.0f} a file: top reasons {top}; "
                f"{where}")


QUALITY_VIEW = {source: models.quarantine for source, models in SOURCE_MODELS.items()}


def vanishing_months(con: duckdb.DuckDBPyConnection) -> list[VanishingMonth]:
    """The vanishing months of marts.kpi_deliveries, with the month's top reasons (quarantine
    reasons and malformed lines) from marts.kpi_data_quality."""
    rows = con.execute("""
        select partner_code, source, month, files, rows_read, rows_valid, rows_valid_per_file,
               previous_month, previous_rows_valid_per_file, files_without_month
        from marts.kpi_deliveries where is_vanishing
        order by partner_code, source, month nulls last""").fetchall()
    out = []
    for row in rows:
        reasons = con.execute("""
            select reason, row_count from marts.kpi_data_quality
            where partner_code = ? and source = ? and period_month is not distinct from ?
            order by row_count desc, reason limit ?""", [*row[:3], TOP_REASONS]).fetchall()
        out.append(VanishingMonth(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5]),
                                  float(row[6] or 0), row[7],
                                  None if row[8] is None else float(row[8]), int(row[9]),
                                  tuple((r, int(n)) for r, n in reasons)))
    return out


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
    vanishing: tuple[VanishingMonth, ...] = ()

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
    vanishing: dict[tuple[str, str], list[VanishingMonth]] = {}
    for month in vanishing_months(con):
        vanishing.setdefault((month.partner_code, month.source), []).append(month)
    return [SourceLine(p, s, int(f), int(r), int(lo), int(rj), int(ex), int(q),
                       tuple(reasons.get((p, s), [])[:TOP_REASONS]),
                       tuple(vanishing.get((p, s), [])))
            for p, s, f, r, lo, rj, ex, q in totals]


def format_lines(lines: list[SourceLine]) -> list[str]:
    """The table, then one ERROR line per partner-source over the threshold and one per
    vanishing month."""
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
                       f"{QUALITY_VIEW.get(x.source, 'quality')} or `hub check {x.partner_code}`")
    out.extend(month.message() for x in lines for month in x.vanishing)
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
