"""Throughput of the CRM pseudonymisation: `python -m dagster_project.privacy_bench [rows]
[--row-by-row | --python] [--file-rows N]`.

Generates `rows` CRM-like personal records (name, phone, email, postcode, uprn of invented
people who contact several times, some spelt differently, some empty or invalid, about one
name in twenty non-ASCII) in a DuckDB temp table, then times computing the `CRM_DERIVED`
columns from them into another temp table (in one statement, or one per `--file-rows` rows as
the loader runs one per group of files sharing a format and configuration, which in the sample
is one partner's file: a small table is one DuckDB thread, with fewer repeats):

- default: `privacy.crm_pseudonyms_sql`, what the loader runs (each distinct value once);
- `--row-by-row`: the SQL macro `hub_crm_pseudonyms` on every row;
- `--python`: the Python reference `crm_pseudonyms` as a DuckDB Arrow UDF on every row (how
  the loader did it before).

Prints rows and values (5 per row) per second, and the CPU time used (on a shared machine the
wall time varies with the other load). A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np

from dagster_project.generate.customers import FORENAMES, SURNAMES
from dagster_project.privacy import CRM_DERIVED, crm_pseudonyms, crm_pseudonyms_sql, register_udfs

BENCH_KEY = "bench-key-0123456789abcdef"
PERSONAL = ("customer_name", "phone", "email", "postcode", "uprn")
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def bench_records(rows: int, seed: int = 7) -> dict[str, list[str | None]]:
    """`rows` personal records (columns of text, None = not given): a third as many people,
    each contacting about three times."""
    rng = np.random.default_rng(seed)
    people = max(1, rows // 3)
    first = np.array(FORENAMES, dtype=object)[rng.integers(len(FORENAMES), size=people)]
    last = np.array(SURNAMES, dtype=object)[rng.integers(len(SURNAMES), size=people)]
    digits = rng.integers(0, 10**9, size=people)
    phone = [f"07{d:09d}" if d % 4 else f"01{d % 1000:03d} {d // 1000:06d}" for d in digits]
    email = [f"{f.lower()}.{s.lower()}{d % 100}@example.org"
             for f, s, d in zip(first, last, digits, strict=True)]
    postcode = [f"AB{d % 29 + 1} {d // 29 % 10}{LETTERS[d // 290 % 20]}{LETTERS[d // 5800 % 20]}"
                for d in digits]
    uprn = [f"10{d:09d}" for d in digits]
    who = rng.integers(people, size=rows)
    spelling = rng.integers(0, 6, size=rows)
    names = [(f"{f} {s}", f"{s.upper()}, {f}", f"Mrs {f} {s}", f"  {f.lower()}  {s} ",
              f"{f} {s}", f"Dr. {f}-{s}")[k]
             for f, s, k in zip(first[who], last[who], spelling, strict=True)]
    out: dict[str, list[str | None]] = {"customer_name": names}
    for col, values in (("phone", phone), ("email", email), ("postcode", postcode),
                        ("uprn", uprn)):
        column: list[str | None] = [values[i] for i in who]
        gone = rng.random(rows) < 0.2
        bad = rng.random(rows) < 0.03
        for i in np.flatnonzero(gone):
            column[i] = None if i % 2 else " "
        for i in np.flatnonzero(bad & ~gone):
            column[i] = "n/a"
        out[col] = column
    return out


def _register_python_reference(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """`hub_crm_pseudonyms_py`: `crm_pseudonyms` per row as an Arrow UDF (the former loader)."""
    import pyarrow as pa
    from duckdb import struct_type
    from duckdb.sqltypes import BOOLEAN, VARCHAR

    derive = crm_pseudonyms(key)
    fields = [pa.field(c, pa.string() if c.endswith("_key") else pa.bool_())
              for c in CRM_DERIVED]

    def _crm(names, phones, emails, postcodes, uprns):
        columns = (names, phones, emails, postcodes, uprns)
        rows = [derive(*values) for values in zip(*(c.to_pylist() for c in columns),
                                                  strict=True)]
        cols = list(zip(*rows, strict=True)) if rows else [[] for _ in fields]
        return pa.StructArray.from_arrays(
            [pa.array(col, f.type) for col, f in zip(cols, fields, strict=True)], fields=fields)

    crm_type = struct_type({c: (VARCHAR if c.endswith("_key") else BOOLEAN)
                            for c in CRM_DERIVED})
    con.create_function("hub_crm_pseudonyms_py", _crm, [VARCHAR] * 5, crm_type, type="arrow",
                        null_handling="special", side_effects=False)


def measure(rows: int = 400_000, how: str = "sql", key: str = BENCH_KEY,
            file_rows: int | None = None) -> dict[str, float]:
    """Seconds (wall and CPU) to pseudonymise `rows` generated records (`how`: sql, row-by-row
    or python), and rows and values per second. With `file_rows`, one statement per that many
    rows (as the loader does per group of files sharing a format), else one for all."""
    import pyarrow as pa

    records = pa.table(bench_records(rows))
    con = duckdb.connect()
    try:
        register_udfs(con, key)
        con.register("_records", records)
        con.execute("create temp table _bench_all as select * from _records")
        con.unregister("_records")
        if how == "python":
            _register_python_reference(con, key)
        args = ", ".join(PERSONAL)
        selects = {
            "sql": f"select _pii from {crm_pseudonyms_sql('_bench_in', PERSONAL)}",
            "row-by-row": f"select hub_crm_pseudonyms({args}) as _pii from _bench_in",
            "python": f"select hub_crm_pseudonyms_py({args}) as _pii from _bench_in"}
        seconds = cpu = 0.0
        step = file_rows or rows
        for start in range(0, rows, step):
            con.execute(f"create or replace temp table _bench_in as select * from _bench_all "
                        f"where rowid >= {start} and rowid < {start + step}")
            t, c = time.perf_counter(), time.process_time()
            con.execute(f"create or replace temp table _bench_out as {selects[how]}")
            seconds, cpu = seconds + time.perf_counter() - t, cpu + time.process_time() - c
    finally:
        con.close()
    return {"rows": rows, "seconds": seconds, "cpu_seconds": cpu,
            "rows_per_second": rows / seconds, "values_per_second": rows * len(PERSONAL) / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.privacy_bench")
    parser.add_argument("rows", nargs="?", type=int, default=400_000)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--row-by-row", dest="how", action="store_const", const="row-by-row")
    how.add_argument("--python", dest="how", action="store_const", const="python")
    parser.add_argument("--file-rows", type=int, help="one statement per this many rows, as "
                        "the loader runs one per group of files sharing a format "
                        "(in the sample, one partner's CRM file: about 19,000 rows)")
    args = parser.parse_args(argv)
    r = measure(args.rows, args.how or "sql", file_rows=args.file_rows)
    print(f"{args.how or 'sql'}: {args.rows:,} rows ({args.rows * len(PERSONAL):,} personal "
          f"values) in {r['seconds']:.2f} s: {r['rows_per_second']:,.0f} rows/s, "
          f"{r['values_per_second']:,.0f} values/s ({r['cpu_seconds']:.2f} s of CPU, all threads)")


if __name__ == "__main__":
    main()
