"""Compare the marts of two warehouse files row for row (incremental vs from-scratch builds,
two builds of the same files). Lineage columns that name a load or build are left out: they
differ between two loads of the same files by design."""

from __future__ import annotations

from pathlib import Path

import duckdb

SKIPPED_COLUMNS = {"load_id", "loaded_at", "last_loaded_at", "changed_build_id"}


def marts_rows(db: Path, schema: str = "marts") -> dict[str, list[tuple]]:
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
            out[table] = con.execute(
                f'select {select} from {schema}."{table}" order by all').fetchall()
        return out
    finally:
        con.close()


def differences(left: dict[str, list[tuple]], right: dict[str, list[tuple]],
                limit: int = 5) -> list[str]:
    """What differs, per table: missing tables, row counts, the first differing rows."""
    problems = []
    for table in sorted(set(left) | set(right)):
        if table not in left or table not in right:
            problems.append(f"{table}: only in {'right' if table not in left else 'left'}")
            continue
        a, b = left[table], right[table]
        if a == b:
            continue
        only_a = sorted(set(a) - set(b), key=repr)[:limit]
        only_b = sorted(set(b) - set(a), key=repr)[:limit]
        problems.append(f"{table}: {len(a)} vs {len(b)} rows; only left {only_a}; "
                        f"only right {only_b}")
    return problems
