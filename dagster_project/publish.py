"""Publish the working warehouse as the serving file by atomic replacement.

Readers (Superset, analysts) only ever open `serving_db` read-only. The new file is written
beside it under a temporary name, checked, then swapped in with `os.replace`, so a reader sees
either the old file or the new one, never a half-written file, and never a lock held by a writer.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

REQUIRED_TABLES = ("marts.kpi_scorecard", "marts.kpi_telephony_monthly", "marts.fct_calls")


class PublishError(RuntimeError):
    """The working warehouse is not fit to publish; the serving file was left untouched."""


@dataclass(frozen=True)
class PublishResult:
    serving_db: Path
    bytes: int
    seconds: float


def _checkpoint(work_db: Path) -> None:
    con = duckdb.connect(str(work_db))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = work_db.with_name(work_db.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise PublishError(f"{wal} is still present after a checkpoint: is a writer running?")


def _verify(path: Path) -> None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table in REQUIRED_TABLES:
            con.execute(f"select count(*) from {table}").fetchone()
    except duckdb.Error as exc:
        raise PublishError(f"refusing to publish {path}: {exc}") from exc
    finally:
        con.close()


def publish(work_db: Path, serving_db: Path) -> PublishResult:
    """Copy `work_db` over `serving_db` atomically; raise PublishError and change nothing if not."""
    start = time.perf_counter()
    if not work_db.exists():
        raise PublishError(f"no working warehouse at {work_db}: run `hub build` first")
    _checkpoint(work_db)
    serving_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_db.with_name(f".{serving_db.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(work_db, tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        _verify(tmp)
        stale_wal = tmp.with_name(tmp.name + ".wal")
        if stale_wal.exists():
            stale_wal.unlink()
        os.replace(tmp, serving_db)
    finally:
        if tmp.exists():
            tmp.unlink()
    return PublishResult(serving_db, serving_db.stat().st_size, time.perf_counter() - start)
