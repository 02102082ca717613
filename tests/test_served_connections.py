"""Superset's connections to the served file (dagster_project/dashboards/served_connections.py):
one DuckDB database kept open and a cursor per query, the new file served once a publication
renames it in place, and nothing a user may do widened. Real DuckDB files, real SQLAlchemy
engines built as Superset builds them (NullPool, the mutator's `creator`)."""

from __future__ import annotations

import gc
import threading
import time

import duckdb
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from dagster_project.dashboards.bundle import serving_uri
from dagster_project.dashboards.served_connections import ServedDatabases, mutator


def _warehouse(path, value: int) -> None:
    con = duckdb.connect(str(path))
    con.execute(f"create schema marts; create table marts.t as select {value} as v")
    con.close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The served file (value 1), a next version beside it (value 2), and a fresh set of open
    databases in place of the process's own."""
    serving, next_version = tmp_path / "warehouse.duckdb", tmp_path / "next.duckdb"
    _warehouse(serving, 1)
    _warehouse(next_version, 2)
    databases = ServedDatabases(switch_wait_seconds=5.0)
    monkeypatch.setattr("dagster_project.dashboards.served_connections.DATABASES", databases)
    return serving, next_version, databases


def _engine(serving):
    """An engine as Superset makes one for a query (superset/models/core.py)."""
    params = {"poolclass": NullPool, "connect_args": {"config": {"custom_user_agent": "t"}}}
    url, params = mutator(make_url(serving_uri(serving)), params, None, None, None)
    assert "creator" in params
    return create_engine(url, **params)


def _value(serving) -> int:
    with _engine(serving).connect() as con:
        return con.execute(text("select v from marts.t")).scalar()


def test_queries_share_one_open_database(served):
    serving, _, databases = served
    assert _value(serving) == 1
    [database] = databases.by_path.values()
    root = database.root
    assert _value(serving) == 1 and _value(serving) == 1
    assert databases.by_path[str(serving)].root is root
    assert database.in_use == 0  # every query's own connection was closed


def test_a_published_file_is_served_at_the_next_query(served):
    serving, next_version, databases = served
    assert _value(serving) == 1
    old = databases.by_path[str(serving)].root
    next_version.replace(serving)  # what publication does: a rename over the served path
    assert _value(serving) == 2
    with pytest.raises(duckdb.ConnectionException):
        old.execute("select 1")  # the old file's database was closed


def test_a_query_of_the_old_file_still_running_is_waited_for(served):
    serving, next_version, _ = served
    running = _engine(serving).raw_connection()
    cursor = running.cursor()
    cursor.execute("select v from marts.t")
    next_version.replace(serving)
    started = time.monotonic()
    finisher = threading.Timer(0.5, running.close)
    finisher.start()
    assert _value(serving) == 2  # not the old file, which DuckDB would hand out again
    assert time.monotonic() - started >= 0.4
    finisher.join()


def test_past_the_wait_a_query_runs_on_the_old_file_and_the_next_one_switches(served):
    serving, next_version, databases = served
    databases.switch_wait_seconds = 0.2
    running = _engine(serving).raw_connection()
    next_version.replace(serving)
    assert _value(serving) == 1  # as Superset's own connections would answer
    running.close()
    assert _value(serving) == 2


def test_users_cannot_widen_what_the_shared_database_allows(served, tmp_path):
    serving, _, _ = served
    (tmp_path / "other.csv").write_text("a\n1\n")
    engine = _engine(serving)
    for statement in ("set memory_limit = '64GB'", "set enable_external_access = true",
                      "set threads = 1", f"attach '{tmp_path / 'x.duckdb'}' as x",
                      f"select * from read_csv('{tmp_path / 'other.csv'}')",
                      "create table marts.u as select 1"):
        with engine.connect() as con, pytest.raises(DBAPIError):
            con.execute(text(statement))
    own = engine.raw_connection()  # a temporary table is the query's own connection's
    try:
        cursor = own.cursor()
        cursor.execute("create temp table mine as select 1 as a")
        cursor.execute("select a from mine")
        assert cursor.fetchall() == [(1,)]
    finally:
        own.close()
    with engine.connect() as con, pytest.raises(DBAPIError, match="mine"):
        con.execute(text("select a from mine"))
    assert _value(serving) == 1


def test_other_databases_keep_superset_s_own_connections(tmp_path):
    params = {"poolclass": NullPool}
    for uri in (f"duckdb:///{tmp_path / 'w.duckdb'}", "duckdb:///:memory:",
                "postgresql://u@h/d", f"sqlite:///{tmp_path / 'x.db'}"):
        url = make_url(uri)
        assert mutator(url, params, None, None, None) == (url, params)


def test_a_connection_never_closed_is_released_when_collected(served):
    serving, next_version, databases = served
    leaked = databases.connection(str(serving), {})
    database = databases.by_path[str(serving)]
    assert database.in_use == 1
    del leaked
    gc.collect()
    assert database.in_use == 0
    next_version.replace(serving)
    databases.switch_wait_seconds = 0.0  # nothing left to wait for: the new file at once
    assert _value(serving) == 2


def test_engines_quote_duckdb_reserved_words_asked_once(tmp_path, monkeypatch):
    """Superset's engine of every query quotes DuckDB's own reserved words (not PostgreSQL's:
    `qualify`, `pivot`), with the words asked of DuckDB once per process, not per engine."""
    from duckdb_engine import DuckDBIdentifierPreparer

    from dagster_project.dashboards import served_connections

    monkeypatch.setattr(DuckDBIdentifierPreparer, "__init__", DuckDBIdentifierPreparer.__init__)
    served_connections.remember_reserved_words()
    served_connections.reserved_words.cache_clear()
    path = tmp_path / "words.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute('create table t as select 1 as "qualify", 2 as "pivot"')
    with duckdb.connect() as con:
        asked = {word for (word,) in con.execute(served_connections.RESERVED_WORDS_SQL).fetchall()}
    for _ in range(3):
        engine = create_engine(f"duckdb:///{path}", poolclass=NullPool)
        preparer = engine.dialect.identifier_preparer
        assert preparer.quote("qualify") == '"qualify"' and preparer.quote("pivot") == '"pivot"'
        assert asked <= preparer.reserved_words
        with engine.connect() as con:
            sql = f"select {preparer.quote('qualify')} + {preparer.quote('pivot')} from t"
            assert con.execute(text(sql)).scalar() == 3
        engine.dispose()
    assert served_connections.reserved_words.cache_info().misses == 1


def test_engines_on_a_served_file_ask_its_default_schema_once(tmp_path, monkeypatch):
    """SQLAlchemy's first connection of every engine asks for the default schema; on a
    read-only file it is asked once per URL and process, on any other DuckDB URL every time."""
    from duckdb_engine import Dialect

    from dagster_project.dashboards import served_connections

    asked: list[str] = []
    original = served_connections._ASK_DEFAULT_SCHEMA

    def counting(self, connection):
        asked.append(str(connection.engine.url))
        return original(self, connection)

    monkeypatch.setattr(served_connections, "_ASK_DEFAULT_SCHEMA", counting)
    monkeypatch.setattr(served_connections, "_DEFAULT_SCHEMAS", {})
    monkeypatch.setattr(Dialect, "_get_default_schema_name", Dialect._get_default_schema_name)
    served_connections.remember_default_schemas()
    path = tmp_path / "schema.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as x")
    read_only = f"duckdb:///{path}?access_mode=READ_ONLY"
    for url in (read_only, read_only, read_only, f"duckdb:///{path}", f"duckdb:///{path}"):
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as con:
            assert con.execute(text("select x from t")).scalar() == 1
        assert engine.dialect.default_schema_name == "main"
        engine.dispose()
    assert asked == [read_only, f"duckdb:///{path}", f"duckdb:///{path}"]
