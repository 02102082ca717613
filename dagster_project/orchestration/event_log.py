"""The Dagster instance's event log: Dagster's own SQLite event log (one file per run plus the
cross-run index, under DAGSTER_HOME/history/runs, exactly where the default puts them), with one
SQLAlchemy engine per file kept for the life of the process.

Dagster's SqliteEventLogStorage creates, and disposes of, a new engine for every connection, and
a build stores about 700 events (each a connection to the run's file, asset events a second one
to the index): every statement is compiled again and every engine set up again, about 1.5-2
CPU-seconds of a build whatever it changes (docs/architecture.md, "What a build costs"). Here
the engines stay (still without a pool: each connection is opened and closed as before, under
the storage's own lock), so SQLAlchemy's compiled-statement cache is reused. A long-lived
process (the Dagster UI, its daemon) keeps the engines of the last few files it used only.

Dagster also asks the index about its own schema again and again: whether a table exists,
whether the asset key table has a column, whether a data migration has completed, each a query
or an inspection of the table for every asset event and every read of asset records (a build
reads the records of each model's parents when it records the model). Here each answer is
asked until it is yes, then kept: tables and columns are never dropped, and a completed
migration never undone, under a running process.

Configured by the dagster.yaml `hub` writes (dagster_project/build.py, DAGSTER_YAML), with
the folder Dagster's default would use (`base_dir`, DAGSTER_HOME/history/runs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from sqlalchemy import event
from sqlalchemy.pool import StaticPool


class HubSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose engines (one per shard file) are created once."""

    KEPT_ENGINES = 8  # the index and the runs most recently read or written

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Any] = OrderedDict()
        self._tables: set[str] = set()  # tables of the index seen to exist
        self._asset_key_columns: set[str] = set()  # columns of its asset key table seen
        self._secondary_indexes: set[str] = set()  # its data migrations seen completed
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # Dagster's names its own class
        return cls(inst_data=inst_data, **config_value)

    def engine_for_shard(self, shard: str):
        """The engine of a shard's file, created at its first use (the caller holds _db_lock)."""
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard), poolclass=StaticPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                              "check_same_thread": False})  # used under _db_lock only
            event.listen(engine, "connect", _normal_sync)
            self._engines[shard] = engine
            while len(self._engines) > self.KEPT_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
        else:
            self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        # Dagster's own _connect (dagster 1.13), but for the engine kept per shard
        with self._db_lock:
            engine = self.engine_for_shard(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Dagster's check (a new engine and connection each time, for every asset event),
        asked once per table that exists: a table is never dropped under a running process."""
        return _yes_kept(self._tables, super().has_table, table_name)

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        """Dagster's check (the asset key table's columns read again with SQLAlchemy's
        inspector, for every asset event stored and every read of asset records), asked once
        per column that exists: a column is never dropped under a running process."""
        return _yes_kept(self._asset_key_columns,
                         partial(super()._has_asset_key_col_on_connection, conn), column_name)

    def has_asset_key_col(self, column_name: str) -> bool:
        # a connection only when the column was not seen yet
        return (column_name in self._asset_key_columns
                or super().has_asset_key_col(column_name))

    def has_secondary_index(self, name: str) -> bool:
        """Dagster's check (a query of the index for every read of asset records), asked once
        per data migration that has completed: a completed migration stays completed (a wipe
        of the event log keeps the table that records them)."""
        return _yes_kept(self._secondary_indexes, super().has_secondary_index, name)

    def dispose(self) -> None:
        with self._db_lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()
        super().dispose()


def _yes_kept(seen: set[str], ask: Callable[[str], bool], key: str) -> bool:
    """`ask(key)`, asked until it answers yes; a yes is kept in `seen` and not asked again."""
    if key not in seen:
        if not ask(key):
            return False
        seen.add(key)
    return True


def _normal_sync(dbapi_connection, _record) -> None:
    """WAL without an fsync at every commit (SQLite's `synchronous=NORMAL`): a power cut may
    lose the last events recorded, never the file's integrity, and an application crash loses
    nothing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("pragma synchronous=normal")
    cursor.close()
