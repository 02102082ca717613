"""Publish the working warehouse as two read-only files, each by atomic replacement.

- `serving_db` (data/serving/warehouse.duckdb) holds the `marts` schema only: what Superset and
  the board read. Raw rows, quarantined rows and staging never reach it, so no SQL a dashboard
  user can send (DuckDB-only statements included) can read them: the file does not hold them.
- `operations_db` (data/serving/operations.duckdb) is what the analyst's `hub status` and
  investigations read: the marts, the quarantined and excluded rows with their reasons
  (`quality`, views materialised), the loads' bookkeeping and partner configuration (`raw`
  without the delivered row tables), the reference seeds and the build plan (`build`).
  The delivered rows themselves (`raw.telephony_calls`, `raw.crm_contacts`), `staging` and
  `intermediate` stay in the working file: copying them was most of a build's publication
  (2.9 GB at scale 1, every build) for rows nobody reads between builds.

dbt builds the marts into their own file beside the working warehouse (duck.marts_db_of, see
dbt/profiles.yml): the served file is a byte copy of it once checkpointed, a fraction of a second
whatever the size of the marts. (Copying the marts table by table into a new file made DuckDB
compress every row again: 6 to 15 s at scale 1, every build, whatever changed.) The operations
file starts as another byte copy and receives the other schemas, which are small.

Each new file is written beside its target under a temporary name, checked, then swapped in
with `os.replace`, so a reader sees the old file or the new one, never a half-written file,
and never a lock held by a writer. Temporary files a killed publication left are removed by
the next one. Each published pair is also kept (hard links) as a version for `hub rollback`
(dagster_project/published.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project import duck, published
from dagster_project.ingest.raw_tables import ROW_TABLES

SERVED_SCHEMA = "marts"
# What the operations file holds besides the served marts (without ROW_TABLES).
OPERATIONS_EXTRA_SCHEMAS = ("quality", "raw", "reference", "build")
REQUIRED_TABLES = ("marts.kpi_scorecard", "marts.kpi_telephony_monthly", "marts.fct_calls")


class PublishError(RuntimeError):
    """The working warehouse is not fit to publish; the serving files were left untouched."""


@dataclass(frozen=True)
class PublishResult:
    serving_db: Path
    bytes: int
    seconds: float
    operations_db: Path | None = None
    version: str = ""  # its folder in <serving folder>/published/ (dagster_project/published.py)


def _checkpoint(db: Path) -> None:
    con = duck.connect(db)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = db.with_name(db.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise PublishError(f"{wal} is still present after a checkpoint: is a writer running?")


def _verify(path: Path, only_schema: str | None = None) -> None:
    con = duck.connect(path, read_only=True)
    try:
        for table in REQUIRED_TABLES:
            con.execute(f"select count(*) from {table}").fetchone()
        if only_schema:
            extra = con.execute(
                "select distinct schema_name from duckdb_schemas() "
                "where not internal and schema_name not in (?, 'main')", [only_schema]).fetchall()
            if extra:
                raise PublishError(f"refusing to publish {path}: it holds schemas "
                                   f"{sorted(r[0] for r in extra)} besides {only_schema}")
    except duckdb.Error as exc:
        raise PublishError(f"refusing to publish {path}: {exc}") from exc
    finally:
        con.close()


def _tmp(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _copy_schemas(source: Path, target: Path, schemas: tuple[str, ...],
                  leave_out: tuple[str, ...] = ()) -> None:
    """Write the tables of `schemas` in `source` (views materialised), but those named in
    `leave_out` ("schema.table"), into the file `target` (created if absent)."""
    con = duck.connect(target)
    try:
        con.execute(f"attach '{source}' as source (read_only)")
        tables = [r for r in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'source' and list_contains(?, table_schema) order by 1, 2",
            [list(schemas)]).fetchall() if f"{r[0]}.{r[1]}" not in leave_out]
        for schema in sorted({schema for schema, _ in tables}):
            con.execute(f"create schema {schema}")
        for schema, table in tables:
            con.execute(f'create table {schema}."{table}" as '
                        f'select * from source.{schema}."{table}"')
        con.execute("detach source")
        con.execute("checkpoint")
    finally:
        con.close()


def _remove_stale_tmp(target: Path) -> None:
    """The temporary files of a publication that was killed (`kill -9`, power loss) before
    its swap: under the writer lock no other publication is running, so any is stale."""
    for stale in target.parent.glob(f".{target.name}.*.tmp*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _sync(tmp: Path) -> None:
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    stale_wal = tmp.with_name(tmp.name + ".wal")
    if stale_wal.exists():
        stale_wal.unlink()


def _swap(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)
    # the rename itself is durable once the folder is synced
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(work_db: Path, serving_db: Path, operations_db: Path) -> PublishResult:
    """Publish both files atomically; raise PublishError and change nothing if not fit."""
    start = time.perf_counter()
    if not work_db.exists():
        raise PublishError(f"no working warehouse at {work_db}: run `hub build` first")
    marts_db = duck.marts_db_of(work_db)
    if not marts_db.exists():
        raise PublishError(f"no marts file at {marts_db}: run `hub build --full-refresh`")
    _checkpoint(work_db)
    _checkpoint(marts_db)
    for target in (serving_db, operations_db):
        target.parent.mkdir(parents=True, exist_ok=True)
    for target in (serving_db, operations_db):
        _remove_stale_tmp(target)
    ops_tmp, serving_tmp = _tmp(operations_db), _tmp(serving_db)
    try:
        shutil.copyfile(marts_db, serving_tmp)
        shutil.copyfile(marts_db, ops_tmp)
        _copy_schemas(work_db, ops_tmp, OPERATIONS_EXTRA_SCHEMAS, ROW_TABLES)
        _verify(ops_tmp)
        _verify(serving_tmp, only_schema=SERVED_SCHEMA)
        _sync(ops_tmp)
        _sync(serving_tmp)
        partial = published.start_version(serving_db, operations_db, serving_tmp, ops_tmp)
        _swap(ops_tmp, operations_db)
        _swap(serving_tmp, serving_db)
        version = published.finish_version(serving_db, partial)
    finally:
        for tmp in (ops_tmp, serving_tmp):
            if tmp.exists():
                tmp.unlink()
    return PublishResult(serving_db, serving_db.stat().st_size, time.perf_counter() - start,
                         operations_db, version.name)
