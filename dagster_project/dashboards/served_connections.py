"""Superset's DuckDB connections to the served warehouse: one DuckDB database per gunicorn
worker, kept open, and a connection of its own (a DuckDB cursor) for every query.

Superset opens a new DuckDB database at every chart query and closes it afterwards: about
12 ms whatever the file, and a new database starts with nothing in its buffer pool, so each
query reads and decompresses its row groups again. Here Superset's engine gets a `creator`
(superset/superset_config.py sets DB_CONNECTION_MUTATOR to `mutator`) that hands out cursors
of a database opened once.

A publication or a rollback puts a new file in place by a rename (dagster_project/publish.py).
Every query first compares the path's file identity (device, inode, size, modification time)
with the open database's; when they differ, the old database is closed and the new file
opened. DuckDB keeps one database per path in a process: opened while a query of the old
database still runs, the "new" one would be the old file again (duckdb/duckdb#15912; Superset's
own per-query connections have the same flaw when queries overlap a publication). So a query
that finds a new file waits for the old file's queries to end, at most SWITCH_WAIT_SECONDS (2 s);
after that it runs on the old file, as Superset's own connections would, and the next query
tries again.

What a user may do is unchanged: the database is read-only with external access off, and its
configuration is locked (`lock_configuration`), so SQL Lab cannot change the memory limit,
threads or external access under other users' queries; temporary tables and `USE` belong to
the query's own connection. Memory and threads follow HUB_MEMORY_LIMIT and HUB_THREADS
(dagster_project/duck.py). Only read-only DuckDB URLs are served this way; any other database
keeps Superset's own connections.

Superset also makes a new SQLAlchemy engine for every query. duckdb_engine's dialect asks DuckDB
for its reserved words each time (about 6 ms a query in the server, under load):
`remember_reserved_words` asks once per process. And SQLAlchemy's first connection of each
engine asks for the default schema (`select current_schema()`, about 4 % of the server's CPU in
the Superset tests): `remember_default_schemas` asks once per read-only URL and process (a
served file's default schema is the same whichever file a publication put in place). Plain
Python: no Dagster imports.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import duckdb
from duckdb_engine import ConnectionWrapper, Dialect, DuckDBIdentifierPreparer
from sqlalchemy.dialects.postgresql.base import PGIdentifierPreparer

from dagster_project import duck

# How long a query waits for the old file's queries after a publication (charts answer within
# a second or two; a long SQL Lab query on the old file must not hold every dashboard longer).
SWITCH_WAIT_SECONDS = 2.0


def _identity(path: str) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@dataclass
class _Database:
    """One served file's DuckDB database and the number of its connections in use."""

    identity: tuple[int, int, int, int]
    root: Any
    in_use: int = 0


@dataclass
class ServedDatabases:
    """The open databases of one process, by path."""

    switch_wait_seconds: float = SWITCH_WAIT_SECONDS
    changed: threading.Condition = field(default_factory=threading.Condition)
    by_path: dict[str, _Database] = field(default_factory=dict)

    def connection(self, path: str, config: dict[str, Any]) -> _Connection:
        """A connection of its own to the file now at `path` (opened anew if it changed)."""
        deadline = time.monotonic() + self.switch_wait_seconds
        with self.changed:
            while True:
                held = self.by_path.get(path)
                identity = _identity(path)
                if held is not None and held.identity == identity:
                    break
                if held is None or held.in_use == 0:
                    if held is not None:
                        del self.by_path[path]
                        held.root.close()
                    held = self.by_path[path] = _Database(identity, _open(path, config))
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break  # the old file's queries still run: this one too, on the old file
                self.changed.wait(remaining)
            cursor = held.root.cursor()
            held.in_use += 1
        return _Connection(cursor, functools.partial(self._release, held))

    def _release(self, database: _Database) -> None:
        with self.changed:
            database.in_use -= 1
            if database.in_use == 0:
                self.changed.notify_all()


def _open(path: str, config: dict[str, Any]) -> Any:
    """The file's database, read-only, with the hub's memory limit and threads (read when a
    database is opened, not at every query), its configuration then locked."""
    config = dict(config, memory_limit=duck.memory_limit(), threads=str(duck.threads()))
    root = duckdb.connect(path, read_only=True, config=config)
    try:
        root.execute("set lock_configuration = true")
    except BaseException:
        root.close()
        raise
    return root


class _Connection(ConnectionWrapper):
    """duckdb_engine's connection over one DuckDB cursor of a shared database: closing it
    closes that cursor only. One never closed is released when it is garbage-collected, so
    a leaked connection cannot hold the old file's database open for good."""

    def __init__(self, cursor: Any, release: Any):
        super().__init__(cursor)
        self._release = weakref.finalize(self, release)

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()
        finally:
            self._release()


DATABASES = ServedDatabases()

RESERVED_WORDS_SQL = ("select keyword_name from duckdb_keywords() "
                      "where keyword_category = 'reserved'")


@functools.cache
def reserved_words() -> frozenset[str]:
    """DuckDB's reserved words (those of the installed DuckDB: asked once per process)."""
    with duckdb.connect() as con:
        return frozenset(word for (word,) in con.execute(RESERVED_WORDS_SQL).fetchall())


def _prepare(self: DuckDBIdentifierPreparer, dialect: Any, **kwargs: Any) -> None:
    """duckdb_engine's DuckDBIdentifierPreparer.__init__ (0.17), the words asked once."""
    PGIdentifierPreparer.__init__(self, dialect, **kwargs)
    self.reserved_words.update(reserved_words())


def remember_reserved_words() -> None:
    """Every DuckDB engine of this process quotes identifiers with the words asked once."""
    DuckDBIdentifierPreparer.__init__ = _prepare


_DEFAULT_SCHEMAS: dict[str, str | None] = {}
_ASK_DEFAULT_SCHEMA = Dialect._get_default_schema_name


def _default_schema(self: Dialect, connection: Any) -> str | None:
    """duckdb_engine's Dialect._get_default_schema_name, asked once per read-only URL."""
    url = connection.engine.url
    if not _read_only(url):
        return _ASK_DEFAULT_SCHEMA(self, connection)
    key = str(url)
    if key not in _DEFAULT_SCHEMAS:
        _DEFAULT_SCHEMAS[key] = _ASK_DEFAULT_SCHEMA(self, connection)
    return _DEFAULT_SCHEMAS[key]


def remember_default_schemas() -> None:
    """Every DuckDB engine of this process on a read-only file takes its default schema from
    the first engine on the same URL."""
    Dialect._get_default_schema_name = _default_schema


def _read_only(uri: Any) -> bool:
    return str(dict(uri.query).get("access_mode", "")).upper() == "READ_ONLY"


def mutator(uri: Any, params: dict[str, Any], username: Any, security_manager: Any,
            source: Any) -> tuple[Any, dict[str, Any]]:
    """Superset's DB_CONNECTION_MUTATOR: a read-only DuckDB file's engine gets its connections
    from DATABASES; every other URL is returned unchanged."""
    query = dict(uri.query)
    path = uri.database
    if uri.drivername != "duckdb" or not path or path.startswith(":") or not _read_only(uri):
        return uri, params
    config = {key: value for key, value in query.items() if key != "access_mode"}
    config.update(params.get("connect_args", {}).get("config", {}))
    creator = functools.partial(DATABASES.connection, os.path.abspath(path), config)
    return uri, dict(params, creator=creator)
