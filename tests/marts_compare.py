"""Compare the marts of two warehouse files row for row (incremental vs from-scratch builds,
two builds of the same files). Lineage columns that name a load or build are left out: they
differ between two loads of the same files by design."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

SKIPPED_COLUMNS = {"load_id", "loaded_at", "last_loaded_at", "changed_build_id"}


def marts_rows(db: Path, schema: str = "marts") -> dict[str, pa.Table]:
    """Every table of `schema`, its rows in order (`order by all`), as Arrow tables: compared
    whole in Arrow, read as Python rows only to show a difference."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "order by 1", [schema]).fetchall()]
        out = {}
        for table in tables:
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ? order by ordinal_position", [schema, table]).fetchall()
                if r[0] not in SKIPPED_COLUMNS]
            select = ", ".join(f'"{c}"' for c in cols)
            out[table] = con.sql(
                f'select {select} from {schema}."{table}" order by all').to_arrow_table()
        return out
    finally:
        con.close()


def _rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def differences(left: dict[str, pa.Table], right: dict[str, pa.Table],
                limit: int = 5) -> list[str]:
    """What differs, per table: missing tables, column types, row counts, the first differing
    rows."""
    problems = []
    for table in sorted(set(left) | set(right)):
        if table not in left or table not in right:
            problems.append(f"{table}: only in {'right' if table not in left else 'left'}")
            continue
        a, b = left[table], right[table]
        if a.schema != b.schema:
            problems.append(f"{table}: columns {a.schema} vs {b.schema}")
            continue
        if a.equals(b):
            continue
        rows_a, rows_b = _rows(a), _rows(b)
        only_a = sorted(set(rows_a) - set(rows_b), key=repr)[:limit]
        only_b = sorted(set(rows_b) - set(rows_a), key=repr)[:limit]
        problems.append(f"{table}: {len(rows_a)} vs {len(rows_b)} rows; only left {only_a}; "
                        f"only right {only_b}")
    return problems
