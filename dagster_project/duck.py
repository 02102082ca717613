"""DuckDB connections with bounded memory: every connection the hub opens goes through here.

`HUB_MEMORY_LIMIT` (e.g. `3GB`, `800MB`; default a quarter of the machine's memory, at most
2.75 GiB: a scale-10 full build, DuckDB with the hub's own Python, then peaks at 3.60 GiB by the
kernel's count with the ALLOCATOR settings below, 3.94 GiB without them:
docs/benchmarks-journal.md), `HUB_THREADS` (default: every core), a spill directory under the
data folder (`<data>/tmp/duckdb`) and the allocator's settings (ALLOCATOR: freed memory returned
sooner) apply to the loader, dbt (through `dbt/profiles.yml`), publication, checks and status.
Plain Python: no Dagster imports.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

MAX_DEFAULT_BYTES = 2816 * 1024**2  # 2.75 GiB: docs/benchmarks-journal.md, "Scale 10"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$", re.IGNORECASE)
_UNITS = {"kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def machine_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def memory_limit() -> str:
    """DuckDB's `memory_limit` as text, from `HUB_MEMORY_LIMIT` or the default share."""
    value = os.environ.get("HUB_MEMORY_LIMIT", "").strip()
    if value:
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"HUB_MEMORY_LIMIT={value!r}: expected a size such as 3GB or 800MB")
        number, unit = float(match.group(1)), (match.group(2) or "b").lower()
        return f"{int(number * _UNITS.get(unit, 1)) // 1024**2}MiB"
    share = min(MAX_DEFAULT_BYTES, machine_memory_bytes() // 4)
    return f"{share // 1024**2}MiB"


def _thread_count(variable: str, default: int) -> int:
    """A thread count from the environment variable `variable` (a whole number of at least 1),
    or `default` when it is unset or empty."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{variable}={value!r}: expected a whole number of at least 1")
    return int(value)


def threads() -> int:
    """DuckDB's threads per connection (`HUB_THREADS`, default every core)."""
    return _thread_count("HUB_THREADS", os.cpu_count() or 1)


def dbt_threads() -> int:
    """dbt's threads: how many models or tests `dbt build` runs at once (`HUB_DBT_THREADS`,
    default 2). Each node's query uses DuckDB's own threads (`HUB_THREADS`); a second dbt thread
    overlaps one node's Python work (Jinja, dbt's bookkeeping) with another's query. Where other
    work already keeps every core busy (the test suite: two workers on two cores), 1 costs
    about a tenth less CPU for the same wall time (docs/benchmarks-journal.md)."""
    return _thread_count("HUB_DBT_THREADS", 2)


def spill_dir(data_dir: Path | None = None) -> Path:
    if data_dir is None:
        from dagster_project.settings import Settings

        data_dir = Settings.from_env().data_dir
    return Path(data_dir) / "tmp" / "duckdb"


# DuckDB's allocator (process-wide): memory its queries free goes back to the system sooner than
# by default (flushed after a task that peaked past 32 MiB, not 128 MiB; after a bulk free past
# 64 MiB, not 512 MiB; and purged by jemalloc's background threads). Customer identity at scale
# 10 peaked 0.40 GiB lower (3.15 against 3.55 GiB) in the same time: docs/benchmarks-journal.md, "6
# December 2026, 20:53–21:00 UTC". Set on every connection, and in dbt/profiles.yml.
ALLOCATOR = {"allocator_flush_threshold": "32MiB",
             "allocator_bulk_deallocation_flush_threshold": "64MiB",
             "allocator_background_threads": "true"}


def config(data_dir: Path | None = None) -> dict[str, str]:
    spill = spill_dir(data_dir)
    spill.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": memory_limit(), "threads": str(threads()),
            "temp_directory": str(spill), **ALLOCATOR}


def dbt_env_vars(data_dir: Path | None = None) -> dict[str, str]:
    """The same limits for dbt-duckdb, read by `dbt/profiles.yml`."""
    settings = config(data_dir)
    return {"HUB_DUCKDB_MEMORY_LIMIT": settings["memory_limit"],
            "HUB_DUCKDB_THREADS": settings["threads"],
            "HUB_DUCKDB_TEMP_DIR": settings["temp_directory"],
            "HUB_DBT_THREADS": str(dbt_threads())}


# The catalog name of the marts file in a working connection (as in dbt/profiles.yml).
MARTS_CATALOG = "marts_db"


def marts_db_of(work_db: Path | str) -> Path:
    """The file the dbt marts are built into, beside the working warehouse
    (data/work/warehouse.marts.duckdb for data/work/warehouse.duckdb)."""
    work_db = Path(work_db)
    return work_db.with_name(f"{work_db.stem}.marts{work_db.suffix}")


def connect_work(work_db: Path | str, read_only: bool = False,
                 data_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the working warehouse with its marts file attached, where `marts.<table>`
    names the marts as in the served file (the marts file is on the search path). A read-only
    connection opens the marts file only if it exists (before a first build it does not)."""
    con = connect(work_db, read_only=read_only, data_dir=data_dir)
    marts = marts_db_of(work_db)
    if read_only and not marts.exists():
        return con
    mode = " (read_only)" if read_only else ""
    try:
        con.execute(f"attach '{marts}' as {MARTS_CATALOG}{mode}")
        if not read_only:
            con.execute(f"create schema if not exists {MARTS_CATALOG}.marts")
        if con.execute("select count(*) from duckdb_schemas() where database_name = ? "
                       "and schema_name = 'marts'", [MARTS_CATALOG]).fetchone()[0]:
            work_catalog = con.execute("select current_database()").fetchone()[0]
            con.execute(f"set search_path = '{work_catalog}.main,{MARTS_CATALOG}.marts'")
    except BaseException:
        con.close()
        raise
    return con


def connect(path: Path | str | None = None, read_only: bool = False,
            data_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory when `path` is None) with the hub's limits applied."""
    database = ":memory:" if path is None else str(path)
    return duckdb.connect(database, read_only=read_only, config=config(data_dir))
