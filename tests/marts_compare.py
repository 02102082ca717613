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


def _only_in(con: duckdb.DuckDBPyConnection, limit: int) -> tuple[list[tuple], list[tuple]]:
    """The first `limit` distinct rows of `a` not in `b`, and of `b` not in `a` (DuckDB over the
    two Arrow tables registered as a and b: whole tables of a few hundred thousand rows are not
    turned into Python rows to find the few that differ)."""
    return tuple(con.execute(f"select * from (from {x} except from {y}) order by all limit {limit}")
                 .fetchall() for x, y in (("a", "b"), ("b", "a")))


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
        with duckdb.connect() as con:
            con.register("a", a)
            con.register("b", b)
            only_a, only_b = _only_in(con, limit)
        problems.append(f"{table}: {a.num_rows} vs {b.num_rows} rows; only left {only_a}; "
                        f"only right {only_b}")
    return problems
